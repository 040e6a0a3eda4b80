"""`bang-quickstart`: fine-tune the shipped BANG into an AR teacher and NAR students, compare them, save a Hub model.

    HF_HUB_OFFLINE=1 bang-quickstart                 # English -> French synopses from the shipped BANG-mini
    HF_HUB_OFFLINE=1 bang-quickstart --task debsum --output_dir outputs/qs-debsum   # package descriptions -> synopses

The defaults are those of `bang_spmd.experiments.quickstart.QuickstartOptions`; the stages are described below.
"""

import argparse
from pathlib import Path

from bang_spmd.data.tasks import TASKS
from bang_spmd.experiments import quickstart
from bang_spmd.experiments.settings import STUDENT_OPTIONS, STUDENT_STARTS


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
    group.add_argument("--task", choices=sorted(TASKS), help="debtrans (default) or debsum have embedded samples")
    group.add_argument("--data_dir", type=Path, help="folder with train/validation/test .jsonl (default: the sample)")
    group.add_argument("--max_train_samples", type=int, help="first N training rows (default: all)")
    group.add_argument("--distill_samples", type=int, help="training rows distilled; the students train on them")
    group.add_argument("--distill_num_beams", type=int, help="the teacher's beam size when it distils (1: greedy)")
    group.add_argument("--eval_samples", type=int, help="test rows scored")
    group.add_argument("--latency_samples", type=int, help="the first test rows timed one at a time")
    group = parser.add_argument_group("models (the teacher starts from a pretrained BANG, the students from it)")
    group.add_argument("--init_model", help="a saved BANG folder or a shipped name (default: bang-mini)")
    group.add_argument("--student_start", choices=STUDENT_STARTS,
                       help="the students start from the trained teacher (default) or from --init_model")  # fmt: skip
    group.add_argument("--student_variant", choices=sorted(STUDENT_OPTIONS), help="the SPMD student's options")
    group = parser.add_argument_group("training")
    group.add_argument("--teacher_steps", type=int, help="AR teacher optimisation steps")
    group.add_argument("--student_steps", type=int, help="steps of each NAR student")
    group.add_argument("--batch_size", type=int, help="training batch size")
    group.add_argument("--learning_rate", type=float)
    group.add_argument("--seed", type=int)
    group = parser.add_argument_group("publishing")
    group.add_argument("--hub_model_id", help="repo id written into the card (and pushed to)")
    group.add_argument("--push_to_hub", action="store_true", help="upload the SPMD student to --hub_model_id")
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    return quickstart.run_quickstart(quickstart.QuickstartOptions(**vars(args)))


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-quickstart")
