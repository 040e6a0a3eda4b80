r"""`bang-pretrain`: pretrain BANG with its cross-stream visible n-stream objective (Qi et al., ICML 2021, section 3).

    HF_HUB_OFFLINE=1 bang-pretrain --train_files outputs/pretraining_text.txt \
        --config_preset tiny --hidden_size 128 --output_dir outputs/bang-pretrained --max_steps 1000
    accelerate launch -m bang_spmd.cli.pretrain ...   # same arguments, several processes or a GPU

The flags are the fields of `BangModelArguments`, `PretrainingDataArguments` and `TrainingArguments`; the data, the
masking, the model and resuming (`--resume_from_checkpoint PATH|auto`) are described in `bang_spmd.recipes.pretrain`.
The saved model gets a model card (README.md) with the data, the shape, the schedule, the time of every sitting and
the validation loss of every stream, and the command line that produced it.
"""

import shlex
import sys

from transformers import HfArgumentParser

from bang_spmd.recipes import BangModelArguments, PretrainingDataArguments, pretrain
from bang_spmd.trainers.recipe import BangTrainingArguments


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = HfArgumentParser(
        (BangModelArguments, PretrainingDataArguments, BangTrainingArguments), prog="bang-pretrain"
    )
    return pretrain(*parser.parse_args_into_dataclasses(args=argv), command="bang-pretrain " + shlex.join(argv))


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-pretrain")
