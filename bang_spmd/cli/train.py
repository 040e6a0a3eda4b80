r"""`bang-train`: train a BANG NAR student with Self-Paced Mixed Distillation (SPMD).

    # 1. an AR teacher (bang-finetune --mode ar) and its distilled targets (bang-distill), then
    HF_HUB_OFFLINE=1 bang-train --task debtrans \
        --train_file outputs/debtrans-distilled/train.jsonl \
        --validation_file ../shared/data/debtrans-enfr/validation.jsonl --output_dir outputs/debtrans-spmd \
        --mixing_strategy select --self_paced_scheme hard --max_steps 1000 --predict_with_generate
    accelerate launch --multi_gpu --num_processes 2 --use_cpu -m bang_spmd.cli.train ...   # 2 CPU processes (gloo)

The student starts from the shipped pretrained BANG-mini unless --model_name_or_path (or --config_preset for a new
model) says otherwise. The flags are the fields of `SPMDModelArguments`, `DataArguments` and `SPMDTrainingArguments`;
what the run does is described in `bang_spmd.recipes.train_spmd`. Resume with `--resume_from_checkpoint PATH|auto`.
"""

import argparse
import dataclasses
import textwrap

from transformers import HfArgumentParser, Seq2SeqTrainingArguments

from bang_spmd.cli.task_defaults import TRAINING_FLAGS, with_task_defaults
from bang_spmd.recipes import DataArguments, SPMDModelArguments, train_spmd
from bang_spmd.trainers import SPMDTrainingArguments


def spmd_options_summary() -> str:
    """The SPMD flags with their help, for the top of `--help` (the Trainer's own flags follow, hundreds of them)."""
    inherited = {f.name for f in dataclasses.fields(Seq2SeqTrainingArguments)}
    lines = ["SPMD options (also listed, with every Trainer flag, below):"]
    for spec in dataclasses.fields(SPMDTrainingArguments):
        if spec.name not in inherited:
            text = f"--{spec.name} (default {spec.default!r}): {spec.metadata.get('help', '')}"
            lines.append(textwrap.fill(text, 116, initial_indent="  ", subsequent_indent="      "))
    return "\n".join(lines)


def build_parser() -> HfArgumentParser:
    return HfArgumentParser(
        (SPMDModelArguments, DataArguments, SPMDTrainingArguments),
        prog="bang-train",
        usage="bang-train [--task TASK] --train_file FILE [--validation_file FILE] --output_dir DIR "
        "[--model_name_or_path MODEL] [SPMD options] [Trainer options]",
        description=__doc__ + "\n" + spmd_options_summary(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: list[str] | None = None) -> dict:
    return train_spmd(*build_parser().parse_args_into_dataclasses(args=with_task_defaults(argv, TRAINING_FLAGS)))


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-train")
