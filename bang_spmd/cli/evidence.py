"""`bang-evidence`: the SPMD comparison on real data, every method, several seeds, one table.

    # one replicate (seed) of every method on wndef: tokenizer, teacher, distillation, NAR students, evaluation
    HF_HUB_OFFLINE=1 bang-evidence run --dataset wndef --data_dir ../shared/data/wndef --seeds 1 \\
        --output_dir outputs/evidence
    # mean and standard deviation over the seeds found, the share of the AR-NAR gap closed, a chart
    bang-evidence tabulate --runs_dir outputs/evidence --output_dir examples/results/evidence

`run`'s defaults are those of `bang_spmd.experiments.evidence.EvidenceRun`; what it runs is described below.
"""

import argparse
import sys
from pathlib import Path

from bang_spmd.experiments import evidence
from bang_spmd.experiments.settings import STUDENT_OPTIONS


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
    run.add_argument("--dataset", required=True, choices=[*evidence.DATASETS, "custom"])
    run.add_argument("--data_dir", type=Path, required=True, help="folder with train/validation/test .jsonl")
    run.add_argument("--output_dir", type=Path, help="default: outputs/evidence")
    run.add_argument("--seeds", type=int, nargs="+", help="student seeds (default: 1 2 3)")
    run.add_argument("--teacher_seed", type=int, help="seed of the one teacher all students share")
    run.add_argument("--students", nargs="+", choices=list(STUDENT_OPTIONS), help="default: all")
    run.add_argument("--source_columns", help="`--dataset custom`: comma-separated source columns")
    run.add_argument("--target_column", help="`--dataset custom`: target column")
    run.add_argument("--max_source_length", type=int, help="default: the data set's (see DATASETS)")
    run.add_argument("--max_target_length", type=int, help="default: the data set's; also the NAR canvas")
    run.add_argument("--teacher_steps", type=int)
    run.add_argument("--student_steps", type=int)
    run.add_argument("--distill_samples", type=int, help="training rows distilled and used by the students "
                     "(default: all)")  # fmt: skip
    run.add_argument("--eval_samples", type=int, help="test rows scored (default: all)")
    run.add_argument("--latency_samples", type=int, help="test rows timed at batch size 1")
    run.add_argument(
        "--init_model",
        help="a saved BANG folder (e.g. `bang-convert` of the released checkpoint, or `bang-pretrain` output) the "
        "teacher starts from; its shape and tokenizer replace --vocab_size and the shape flags",
    )
    run.add_argument("--vocab_size", type=int)
    run.add_argument("--hidden_size", type=int)
    run.add_argument("--layers", type=int)
    run.add_argument("--attention_heads", type=int)
    run.add_argument("--ffn_dim", type=int)
    run.add_argument("--batch_size", type=int)
    run.add_argument("--learning_rate", type=float)
    tabulate = commands.add_parser("tabulate", help="aggregate the runs into JSON, markdown and a chart")
    tabulate.add_argument("--runs_dir", type=Path, required=True, help="--output_dir of `run`")
    tabulate.add_argument("--output_dir", type=Path, required=True, help="where results.{json,md,png} go")
    tabulate.add_argument("--min_seeds", type=int, default=1, help="refuse cells with fewer seeds")
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = vars(build_parser().parse_args(argv))
    if args.pop("command") == "tabulate":
        return evidence.tabulate(**args)
    return evidence.run_evidence(evidence.EvidenceRun(**args))


if __name__ == "__main__":
    main(sys.argv[1:])
