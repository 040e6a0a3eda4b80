r"""`bang-distill`: decode a training set with a teacher and save it with the distilled targets SPMD trains on.

The teacher (by default BANG fine-tuned in AR mode, e.g. by `bang-finetune --mode ar`) decodes every source with beam
search; its K best outputs are added to each row as `distilled_texts`, `distilled_labels` (the student's ids, `y1 .. yn
[SEP]`) and `distilled_scores` (see `bang_spmd.trainers.distillation`). The result is written as JSON Lines, one row
per input row in the input order, with every input column kept.

    HF_HUB_OFFLINE=1 bang-distill --teacher outputs/wndef-ar \
        --data_file ../shared/data/wndef/train.jsonl --source_columns word,example --target_column definition \
        --num_distilled 1 --num_beams 4 --length_penalty 1.2 --max_new_tokens 64 \
        --output_file outputs/wndef-distilled/train.jsonl

    # several processes share the batches (on a machine without GPUs, prefix ACCELERATE_USE_CPU=1: accelerate
    # starts CPU processes (gloo) only then); an interrupted run resumes where it stopped:
    HF_HUB_OFFLINE=1 accelerate launch --multi_gpu --num_processes 2 -m bang_spmd.cli.distill \
        --teacher outputs/debsum-ar --data_file ../shared/data/debsum/train.jsonl \
        --source_columns document --target_column summary --output_file outputs/debsum-distilled/train.jsonl

    # a teacher with another vocabulary: re-tokenize its texts with the student's tokenizer
    HF_HUB_OFFLINE=1 bang-distill --teacher outputs/other-teacher --student_tokenizer outputs/bang \
        --retokenize --data_file ../shared/data/wndef/train.jsonl --source_columns word,example \
        --target_column definition --output_file outputs/wndef-distilled/train.jsonl --max_samples 100

Decoded batches are cached under `--cache_dir` (one folder per teacher, data and settings), so running the same
command again after an interruption only decodes what is missing, and running it after completion decodes nothing.
The output file is not overwritten unless `--overwrite` is given. The flags are the fields of `DistillArguments` and
`bang_spmd.trainers.DistillationConfig`; the job is `bang_spmd.recipes.distill`.
"""

import dataclasses

from transformers import HfArgumentParser

from bang_spmd.cli.task_defaults import DECODING_FLAGS, with_task_defaults
from bang_spmd.recipes import DistillArguments, distill
from bang_spmd.trainers import DistillationConfig


def main(argv: list[str] | None = None) -> dict:
    parser = HfArgumentParser((DistillArguments, DistillationConfig), prog="bang-distill")
    args, config = parser.parse_args_into_dataclasses(args=with_task_defaults(argv, DECODING_FLAGS))
    # `--source_columns word,example` (as in bang-finetune) and `--source_columns word example` both work.
    columns = [c.strip() for item in config.source_columns for c in item.split(",") if c.strip()]
    if not columns:
        raise ValueError(f"--source_columns {' '.join(config.source_columns)!r} names no column.")
    return distill(args, dataclasses.replace(config, source_columns=columns))


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-distill")
