"""Decode a training set with a teacher and save it with the distilled targets SPMD trains on.

The teacher (by default BANG fine-tuned in AR mode, e.g. by `bang_spmd/finetune_bang.py --mode ar`) decodes every
source with beam search; its K best outputs are added to each row as `distilled_texts`, `distilled_labels` (the
student's ids, `y1 .. yn [SEP]`) and `distilled_scores` (see `trainers/distillation.py`). The result is written as
JSON Lines, one row per input row in the input order, with every input column kept.

    HF_HUB_OFFLINE=1 bang-distill --teacher outputs/wndef-ar \
        --data_file ../shared/data/wndef/train.jsonl --source_columns word,example --target_column definition \
        --num_distilled 1 --num_beams 4 --length_penalty 1.2 --max_new_tokens 64 \
        --output_file outputs/wndef-distilled/train.jsonl

    # several processes share the batches (on a machine without GPUs, prefix ACCELERATE_USE_CPU=1: accelerate
    # starts CPU processes (gloo) only then); an interrupted run resumes where it stopped:
    HF_HUB_OFFLINE=1 accelerate launch --multi_gpu --num_processes 2 -m bang_spmd.distill_data \
        --teacher outputs/debsum-ar --data_file ../shared/data/debsum/train.jsonl \
        --source_columns document --target_column summary --output_file outputs/debsum-distilled/train.jsonl

    # a teacher with another vocabulary: re-tokenize its texts with the student's tokenizer
    HF_HUB_OFFLINE=1 bang-distill --teacher outputs/other-teacher --student_tokenizer outputs/bang \
        --retokenize --data_file ../shared/data/wndef/train.jsonl --source_columns word,example \
        --target_column definition --output_file outputs/wndef-distilled/train.jsonl --max_samples 100

Decoded batches are cached under `--cache_dir` (one folder per teacher, data and settings), so running the same
command again after an interruption only decodes what is missing, and running it after completion decodes nothing.
The output file is not overwritten unless `--overwrite` is given.
"""

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import transformers
from accelerate import Accelerator
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, HfArgumentParser

from bang_spmd.trainers.distillation import DISTILLED_COLUMNS, DistillationConfig, distill_dataset


logger = transformers.utils.logging.get_logger("distill_data")

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")


@dataclass
class DistillScriptArguments:
    teacher: str = field(
        metadata={
            "help": "Teacher folder (saved with save_pretrained, with its tokenizer) or Hub id; loaded with "
            "AutoModelForSeq2SeqLM.from_pretrained(..., trust_remote_code=True)."
        }
    )
    output_file: str = field(metadata={"help": "JSON Lines file written with the input rows and distilled columns."})
    data_file: str | None = field(default=None, metadata={"help": "JSON Lines input file."})
    dataset_name: str | None = field(default=None, metadata={"help": "A `datasets` data set instead of a file."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Configuration of --dataset_name."})
    split: str = field(default="train", metadata={"help": "Split of --dataset_name."})
    teacher_tokenizer: str | None = field(default=None, metadata={"help": "Default: the teacher folder's tokenizer."})
    student_tokenizer: str | None = field(
        default=None, metadata={"help": "The student's tokenizer, if its vocabulary may differ from the teacher's."}
    )
    cache_dir: str = field(
        default="outputs/distillation_cache", metadata={"help": "Where decoded batches are cached (resumable)."}
    )
    max_samples: int | None = field(default=None, metadata={"help": "Keep the first N rows (quick runs)."})
    overwrite: bool = field(default=False, metadata={"help": "Replace an existing --output_file."})
    disable_progress: bool = field(default=False, metadata={"help": "No progress bar."})


def load_rows(args: DistillScriptArguments, accelerator: Accelerator) -> datasets.Dataset:
    if (args.data_file is None) == (args.dataset_name is None):
        raise ValueError("Give exactly one of --data_file (JSON Lines) and --dataset_name.")
    with accelerator.main_process_first():
        if args.data_file is not None:
            dataset = datasets.load_dataset("json", data_files=args.data_file, split="train")
        else:
            dataset = datasets.load_dataset(args.dataset_name, args.dataset_config_name, split=args.split)
    if args.max_samples is not None:
        dataset = dataset.select(range(min(args.max_samples, len(dataset))))
    return dataset


def load_teacher(args: DistillScriptArguments):
    """Loads the teacher and its tokenizer, with errors that say which folder or file is missing."""
    folder = Path(args.teacher)
    try:
        teacher = AutoModelForSeq2SeqLM.from_pretrained(args.teacher, trust_remote_code=True)
    except (OSError, ValueError) as error:  # a missing path may also fail the Hub id validation
        if folder.is_dir():
            raise ValueError(f"The teacher folder {folder} holds no loadable model: {error}") from error
        raise ValueError(
            f"The teacher folder {folder} does not exist (and {args.teacher!r} could not be loaded as a Hub id: "
            f"{error})."
        ) from error
    tokenizer_path = args.teacher_tokenizer or args.teacher
    if Path(tokenizer_path).is_dir() and not any((Path(tokenizer_path) / name).is_file() for name in TOKENIZER_FILES):
        raise ValueError(f"{tokenizer_path} has no tokenizer files; pass --teacher_tokenizer.")
    return teacher, AutoTokenizer.from_pretrained(tokenizer_path, trust_remote_code=True)


def write_jsonl(dataset: datasets.Dataset, path: Path) -> None:
    """Writes every row in order through a temporary file, so an interrupted write leaves no partial output."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        for batch in dataset.iter(batch_size=1000):
            for row in zip(*batch.values(), strict=True):
                f.write(json.dumps(dict(zip(batch, row, strict=True)), ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> dict:
    parser = HfArgumentParser((DistillScriptArguments, DistillationConfig))
    args, config = parser.parse_args_into_dataclasses(args=argv)
    # `--source_columns word,example` (as in finetune_bang.py) and `--source_columns word example` both work.
    columns = [c.strip() for item in config.source_columns for c in item.split(",") if c.strip()]
    config = dataclasses.replace(config, source_columns=columns)
    output_file = Path(args.output_file)
    if output_file.exists() and not args.overwrite:
        raise ValueError(f"{output_file} already exists; pass --overwrite to replace it.")
    if args.data_file is not None and not Path(args.data_file).is_file():
        raise ValueError(f"Data file {args.data_file} does not exist.")
    if args.max_samples is not None and args.max_samples < 1:
        raise ValueError(f"--max_samples must be a positive integer, got {args.max_samples}.")

    accelerator = Accelerator()
    dataset = load_rows(args, accelerator)
    missing = [c for c in [*config.source_columns, config.target_column] if c not in dataset.column_names]
    if missing:
        raise ValueError(f"Column(s) {missing} are not in the data (columns: {dataset.column_names}).")
    teacher, teacher_tokenizer = load_teacher(args)
    teacher.to(accelerator.device)
    student_tokenizer = (
        AutoTokenizer.from_pretrained(args.student_tokenizer, trust_remote_code=True)
        if args.student_tokenizer
        else None
    )

    started = time.perf_counter()
    distilled = distill_dataset(
        dataset,
        teacher,
        teacher_tokenizer,
        config,
        args.cache_dir,
        student_tokenizer=student_tokenizer,
        accelerator=accelerator,
        show_progress=not args.disable_progress,
    )
    summary = {
        "rows": len(distilled),
        "num_distilled": config.num_distilled,
        "empty_targets": sum(not t.strip() for texts in distilled["distilled_texts"] for t in texts),
        "mean_best_score": sum(s[0] for s in distilled["distilled_scores"]) / len(distilled),
        "seconds": round(time.perf_counter() - started, 2),
        "output_file": str(output_file),
    }
    if accelerator.is_main_process:
        write_jsonl(distilled, output_file)
        print(f"Wrote {len(distilled)} rows with {list(DISTILLED_COLUMNS)} to {output_file}")
        print("summary " + json.dumps(summary))
    accelerator.wait_for_everyone()
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
