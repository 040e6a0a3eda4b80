"""`bang-train`: train a BANG NAR student with Self-Paced Mixed Distillation (SPMD).

    # 1. distilled targets from an AR teacher (bang-distill), then
    HF_HUB_OFFLINE=1 bang-train \
        --train_file outputs/wndef-distilled/train.jsonl --validation_file ../shared/data/wndef/validation.jsonl \
        --source_columns word,example --target_column definition \
        --model_name_or_path outputs/bang-pretrained --output_dir outputs/wndef-spmd \
        --mixing_strategy select --self_paced_scheme hard --max_steps 1000 --predict_with_generate
    accelerate launch --multi_gpu --num_processes 2 --use_cpu -m bang_spmd.cli.train ...   # 2 CPU processes (gloo)

The flags are the fields of `SPMDModelArguments`, `DataArguments` and `SPMDTrainingArguments` (every SPMD option;
`--help` lists them with their meaning); what the run does is described in `bang_spmd.recipes.train_spmd`. Resume
with `--resume_from_checkpoint PATH|auto`.
"""

import sys

from transformers import HfArgumentParser

from bang_spmd.cli.task_defaults import TRAINING_FLAGS, with_task_defaults
from bang_spmd.recipes import DataArguments, SPMDModelArguments, train_spmd
from bang_spmd.trainers import SPMDTrainingArguments


def main(argv: list[str] | None = None) -> dict:
    parser = HfArgumentParser((SPMDModelArguments, DataArguments, SPMDTrainingArguments), prog="bang-train")
    return train_spmd(*parser.parse_args_into_dataclasses(args=with_task_defaults(argv, TRAINING_FLAGS)))


if __name__ == "__main__":
    main(sys.argv[1:])
