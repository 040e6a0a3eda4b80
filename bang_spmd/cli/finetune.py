r"""`bang-finetune`: fine-tune BANG on (source, target) pairs in AR, NAR or n-stream (semi-NAR) mode.

    HF_HUB_OFFLINE=1 bang-finetune --mode nar \
        --train_file ../shared/data/wndef/train.jsonl --validation_file ../shared/data/wndef/validation.jsonl \
        --source_columns word,example --target_column definition \
        --model_name_or_path outputs/bang-pretrained --output_dir outputs/wndef-nar --max_steps 1000

The flags are the fields of `FinetuneModelArguments`, `DataArguments` and `TrainingArguments`; the modes, the data
and the outputs are described in `bang_spmd.recipes.finetune`.
"""

from transformers import HfArgumentParser

from bang_spmd.cli.task_defaults import TRAINING_FLAGS, with_task_defaults
from bang_spmd.recipes import DataArguments, FinetuneModelArguments, finetune
from bang_spmd.trainers.recipe import BangTrainingArguments


def main(argv: list[str] | None = None) -> dict:
    parser = HfArgumentParser((FinetuneModelArguments, DataArguments, BangTrainingArguments), prog="bang-finetune")
    return finetune(*parser.parse_args_into_dataclasses(args=with_task_defaults(argv, TRAINING_FLAGS)))


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-finetune")
