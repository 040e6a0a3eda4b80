"""`bang-quickstart`: train a small BANG AR teacher and an SPMD NAR student, compare them, save a Hub-ready model.

    HF_HUB_OFFLINE=1 bang-quickstart                 # the embedded debsum sample; about 10 minutes on 2 CPU cores
    HF_HUB_OFFLINE=1 bang-quickstart --output_dir outputs/qs --teacher_steps 1500 --student_steps 800

The defaults are those of `bang_spmd.experiments.quickstart.QuickstartOptions`; the stages are described below.
"""

import argparse
import sys
from pathlib import Path

from bang_spmd.experiments import quickstart


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bang-quickstart",
        description=__doc__ + "\n" + quickstart.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,  # an option not given keeps the QuickstartOptions default
    )
    group = parser.add_argument_group("output")
    group.add_argument("--output_dir", type=Path, help="folder of every stage (outputs/quickstart)")
    group.add_argument("--overwrite", action="store_true", help="delete --output_dir and start again")
    group = parser.add_argument_group("data")
    group.add_argument("--data_dir", type=Path, help="folder with train/validation/test .jsonl (default: the sample)")
    group.add_argument("--source_columns", help="comma-separated source columns")
    group.add_argument("--target_column", help="target column")
    group.add_argument("--max_train_samples", type=int, help="first N training rows (default: all)")
    group.add_argument("--eval_samples", type=int, help="test rows scored and timed")
    group.add_argument("--max_source_length", type=int, help="source tokens (longer ones are cut)")
    group.add_argument("--max_target_length", type=int, help="target tokens with [SEP]; NAR canvas")
    group = parser.add_argument_group("model (teacher and students share it)")
    group.add_argument("--vocab_size", type=int, help="WordPiece vocabulary fitted to the train split")
    group.add_argument("--hidden_size", type=int)
    group.add_argument("--layers", type=int, help="encoder layers = decoder layers")
    group.add_argument("--attention_heads", type=int)
    group.add_argument("--ffn_dim", type=int)
    group = parser.add_argument_group("training")
    group.add_argument("--teacher_steps", type=int, help="AR teacher optimisation steps")
    group.add_argument("--student_steps", type=int, help="steps of each NAR student")
    group.add_argument("--batch_size", type=int, help="training batch size")
    group.add_argument("--learning_rate", type=float)
    group.add_argument("--num_beams", type=int, help="teacher beam size for the distilled targets")
    group.add_argument("--seed", type=int)
    group = parser.add_argument_group("publishing")
    group.add_argument("--hub_model_id", help="repo id written into the card (and pushed to)")
    group.add_argument("--push_to_hub", action="store_true", help="upload the SPMD student to --hub_model_id")
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    return quickstart.run_quickstart(quickstart.QuickstartOptions(**vars(args)))


if __name__ == "__main__":
    main(sys.argv[1:])
