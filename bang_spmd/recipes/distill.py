"""Decode a training set with a teacher and save it with the distilled targets SPMD trains on: `distill(...)`.

The teacher (by default BANG fine-tuned in AR mode, e.g. by `finetune` with `mode="ar"`) decodes every source with
beam search; its K best outputs are added to each row as `distilled_texts`, `distilled_labels` (the student's ids,
`y1 .. yn [SEP]`) and `distilled_scores` (see `bang_spmd.trainers.distillation`). The result is written as JSON
Lines, one row per input row in the input order, with every input column kept. Decoded batches are cached under
`cache_dir` (one folder per teacher, data and settings), so running again after an interruption only decodes what is
missing, and running it after completion decodes nothing. The output file is not overwritten unless `overwrite`.
Under `accelerate launch` the processes share the batches. A run holds an advisory lock on its output file and on
the cache folder it decodes into (`bang_spmd.trainers.run_files`): a second run on either refuses at once, naming
the first; the temporary files of interrupted writes are removed. Each row carries `distilled_sha256`, the hash of
its source and its distilled labels, so that training refuses targets moved away from their source.
"""

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import transformers
from accelerate import Accelerator

from bang_spmd.data.jsonl import check_jsonl_file, require_data_file, write_json_lines
from bang_spmd.data.tasks import select_where
from bang_spmd.pretrained import resolve_model_name
from bang_spmd.trainers.distillation import DISTILLED_COLUMNS, DistillationConfig, distill_dataset
from bang_spmd.trainers.model_setup import TOKENIZER_FILES, load_pretrained_model, load_pretrained_tokenizer
from bang_spmd.trainers.run_files import exclusive_lock, remove_stale_temporary_files
from bang_spmd.trainers.seq2seq_data import source_texts


logger = transformers.utils.logging.get_logger(__name__)


@dataclass
class DistillArguments:
    teacher: str = field(
        metadata={
            "help": "Teacher folder (saved with save_pretrained, with its tokenizer) or Hub id; loaded with "
            "AutoModelForSeq2SeqLM.from_pretrained (its own code runs only with --trust_remote_code)."
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
    task: str | None = field(
        default=None, metadata={"help": "A task of bang_spmd.data.tasks: the default columns, lengths and rows."}
    )
    where: str | None = field(
        default=None, metadata={"help": "Decode only the rows whose COLUMN equals VALUE (COLUMN=VALUE[,...])."}
    )
    max_samples: int | None = field(default=None, metadata={"help": "Keep the first N rows (quick runs)."})
    overwrite: bool = field(default=False, metadata={"help": "Replace an existing --output_file."})
    trust_remote_code: bool = field(
        default=False,
        metadata={
            "help": "Allow running the Python files of a teacher or tokenizer folder whose config names its own "
            "code (auto_map). Off by default; BANG folders load without it."
        },
    )
    disable_progress: bool = field(default=False, metadata={"help": "No progress bar."})

    def check(self) -> None:
        """Raises a ValueError for an existing output (without `overwrite`), a missing file or a bad sample count."""
        if Path(self.output_file).exists() and not self.overwrite:
            raise ValueError(f"{self.output_file} already exists; pass --overwrite to replace it.")
        if self.data_file is not None:
            require_data_file(self.data_file)
        if self.max_samples is not None and (isinstance(self.max_samples, bool) or self.max_samples < 1):
            raise ValueError(
                f"--max_samples must be a positive integer (leave it out for every row), got {self.max_samples}."
            )


def load_rows(
    args: DistillArguments,
    accelerator: Accelerator,
    text_columns: list[str] | None = None,
    may_be_empty: list[str] | None = None,
) -> datasets.Dataset:
    """The rows to distil; a `--data_file` is read first (`check_jsonl_file`: a bad line or a `text_columns` value
    that is not a non-empty string (a string, for `may_be_empty`) is a ValueError naming the file, line and
    column)."""
    if (args.data_file is None) == (args.dataset_name is None):
        raise ValueError("Give exactly one of --data_file (JSON Lines) and --dataset_name.")
    if args.data_file is not None:
        check_jsonl_file(args.data_file, text_columns or [], "data file (--data_file)", None, may_be_empty or [])
    with accelerator.main_process_first():
        if args.data_file is not None:
            dataset = datasets.load_dataset("json", data_files=args.data_file, split="train")
        else:
            dataset = datasets.load_dataset(args.dataset_name, args.dataset_config_name, split=args.split)
    dataset = select_where(dataset, args.where, args.data_file or args.dataset_name)
    if args.max_samples is not None:
        dataset = dataset.select(range(min(args.max_samples, len(dataset))))
    return dataset


def load_teacher(args: DistillArguments):
    """Loads the teacher and its tokenizer, with errors that say which folder or file is missing or wrong; no code
    of the folder runs unless `args.trust_remote_code`."""
    teacher_path = resolve_model_name(args.teacher)
    teacher = load_pretrained_model(teacher_path, "--teacher", args.trust_remote_code)
    if args.teacher_tokenizer is not None:
        tokenizer = load_pretrained_tokenizer(args.teacher_tokenizer, "--teacher_tokenizer", args.trust_remote_code)
    elif Path(teacher_path).is_dir() and not any((Path(teacher_path) / name).is_file() for name in TOKENIZER_FILES):
        raise ValueError(f"--teacher {args.teacher} has no tokenizer files; pass --teacher_tokenizer.")
    else:
        tokenizer = load_pretrained_tokenizer(teacher_path, "--teacher", args.trust_remote_code)
    return teacher, tokenizer


def check_teacher_lengths(dataset: datasets.Dataset, teacher, tokenizer, config: DistillationConfig) -> None:
    """A ValueError, before anything is decoded, for a source that the teacher's position table
    (`max_position_embeddings`) cannot hold even after truncation to `--max_source_length` (it names the row), and
    for a `--max_new_tokens` beyond the table; otherwise such a source fails only when its batch is decoded."""
    positions = getattr(teacher.config, "max_position_embeddings", None)
    if not isinstance(positions, int):
        return
    if config.max_new_tokens > positions:
        raise ValueError(
            f"--max_new_tokens {config.max_new_tokens} exceeds the teacher's max_position_embeddings ({positions})."
        )
    if config.max_source_length <= positions:
        return  # every source is truncated to fit
    start = 0
    for batch in dataset.select_columns(config.source_columns).iter(batch_size=1000):
        text, text_pair = source_texts(batch, config.source_columns)
        lengths = [len(ids) for ids in tokenizer(text, text_pair, verbose=False)["input_ids"]]
        for offset, length in enumerate(lengths):
            if length > positions:
                raise ValueError(
                    f"The source of row {start + offset + 1} has {length} tokens, more than the teacher's "
                    f"max_position_embeddings ({positions}), and --max_source_length {config.max_source_length} "
                    f"does not truncate it enough; pass --max_source_length {positions} (or less)."
                )
        start += len(lengths)


def distill(args: DistillArguments, config: DistillationConfig) -> dict:
    """Distils the rows of `args` with `config`, writes `args.output_file`; returns a summary (rows, K, empty
    targets, mean best score, seconds, output file)."""
    args.check()
    output_file = Path(args.output_file)
    accelerator = Accelerator()
    with contextlib.ExitStack() as claim:
        if accelerator.is_main_process:  # one run writes an output file at a time; a second one refuses
            claim.enter_context(exclusive_lock(output_file, "The output file (--output_file)"))
            remove_stale_temporary_files(output_file.parent)
        accelerator.wait_for_everyone()
        args.check()  # again, under the lock: a run that finished meanwhile is not overwritten
        return _distill(args, config, accelerator, output_file)


def _distill(args: DistillArguments, config: DistillationConfig, accelerator: Accelerator, output_file: Path) -> dict:
    dataset = load_rows(args, accelerator, [*config.source_columns, config.target_column], config.source_columns[1:])
    missing = [c for c in [*config.source_columns, config.target_column] if c not in dataset.column_names]
    if missing:
        raise ValueError(f"Column(s) {missing} are not in the data (columns: {dataset.column_names}).")
    teacher, teacher_tokenizer = load_teacher(args)
    student_tokenizer = (
        load_pretrained_tokenizer(args.student_tokenizer, "--student_tokenizer", args.trust_remote_code)
        if args.student_tokenizer
        else None
    )
    check_teacher_lengths(dataset, teacher, teacher_tokenizer, config)
    teacher.to(accelerator.device)

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
        write_json_lines(_rows(distilled), output_file)
        print(f"Wrote {len(distilled)} rows with {list(DISTILLED_COLUMNS)} to {output_file}")
        print("summary " + json.dumps(summary))
    accelerator.wait_for_everyone()
    return summary


def _rows(dataset: datasets.Dataset):
    for batch in dataset.iter(batch_size=1000):
        for row in zip(*batch.values(), strict=True):
            yield dict(zip(batch, row, strict=True))


__all__ = ["DistillArguments", "check_teacher_lengths", "distill", "load_rows", "load_teacher"]
