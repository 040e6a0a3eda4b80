"""`bang-evidence`: the SPMD comparison on real data, every method, several seeds, one table.

    # three replicates (seeds) of every method on debtrans, each from the shipped pretrained BANG-mini
    HF_HUB_OFFLINE=1 bang-evidence run --task debtrans --seeds 1 2 3 --output_dir outputs/evidence
    # the same models from random weights (what pretraining buys), debsum from a copy of the data elsewhere
    HF_HUB_OFFLINE=1 bang-evidence run --task debsum --from_scratch --students nar-gold --output_dir outputs/evidence
    HF_HUB_OFFLINE=1 bang-evidence run --task debsum --data_dir other/debsum --output_dir outputs/evidence-other
    # mean and standard deviation over the seeds found, the gap closed, bootstrap p-values, the gates, a chart
    bang-evidence tabulate --runs_dir outputs/evidence --output_dir examples/results/evidence

`run`'s defaults are those of `bang_spmd.experiments.evidence.EvidenceRun`; what it runs is described below.
"""

import argparse
from pathlib import Path

from bang_spmd.data.tasks import TASKS
from bang_spmd.experiments import evidence
from bang_spmd.experiments.settings import STUDENT_OPTIONS, STUDENT_STARTS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bang-evidence",
        description=__doc__ + "\n" + evidence.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    # An option of `run` that is not given keeps the EvidenceRun default.
    run = commands.add_parser(
        "run", help="train and evaluate every method for the given seeds", argument_default=argparse.SUPPRESS
    )
    run.add_argument("--task", required=True, choices=[*TASKS, "custom"])
    run.add_argument("--data_dir", type=Path, help="folder with train/validation/test .jsonl (default: shared/data)")
    run.add_argument("--output_dir", type=Path, help="default: outputs/evidence")
    run.add_argument("--seeds", type=int, nargs="+", help="replicates (default: 1 2 3)")
    run.add_argument("--students", nargs="+", choices=list(STUDENT_OPTIONS), help="NAR students (default: "
                     + " ".join(evidence.DEFAULT_STUDENTS) + ")")  # fmt: skip
    run.add_argument("--init_model", help="the saved BANG every model starts from (default: bang-mini)")
    run.add_argument("--from_scratch", action="store_true", help="random weights of --init_model's shape instead")
    run.add_argument("--student_start", choices=STUDENT_STARTS,
                     help="the students start from init_model (default) or from the trained teacher")  # fmt: skip
    run.add_argument("--teacher_steps", type=int)
    run.add_argument("--student_steps", type=int)
    run.add_argument("--batch_size", type=int)
    run.add_argument("--learning_rate", type=float)
    run.add_argument("--source_columns", help="`--task custom`: comma-separated source columns")
    run.add_argument("--target_column", help="`--task custom`: target column")
    run.add_argument("--max_source_length", type=int, help="default: the task's")
    run.add_argument("--max_target_length", type=int, help="default: the task's; also the NAR canvas")
    run.add_argument("--train_samples", type=int, help="the first N training rows of the task (default: all)")
    run.add_argument("--eval_samples", type=int, help="test rows scored (default: all of the task)")
    run.add_argument("--latency_samples", type=int, help="test rows timed at batch size 1 (default: 100)")
    tabulate = commands.add_parser("tabulate", help="aggregate the replicates into JSON, markdown and a chart")
    tabulate.add_argument("--runs_dir", type=Path, required=True, help="--output_dir of `run`")
    tabulate.add_argument("--output_dir", type=Path, required=True, help="where results.{json,md,png} go")
    tabulate.add_argument("--min_seeds", type=int, default=1, help="refuse cells with fewer seeds")
    tabulate.add_argument("--bootstrap_samples", type=int, default=evidence.BOOTSTRAP_SAMPLES)
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = vars(build_parser().parse_args(argv))
    if args.pop("command") == "tabulate":
        return evidence.tabulate(**args)
    return evidence.run_evidence(evidence.EvidenceRun(**args))


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-evidence")
