"""`bang-benchmark-training`: training throughput of BANG's NAR step, the SPMD step and Hugging Face ProphetNet's
step (`bang_spmd.benchmarks.training`).

    HF_HUB_OFFLINE=1 bang-benchmark-training \\
        [--shapes small bang-base tiny] [--methods plain_nar spmd spmd_random_mix prophetnet] [--device cuda|cpu] \\
        [--batch_size 32] [--source_length 64] [--target_length 16] [--threads N] [--warmup 2] [--repeats 5] \\
        [--output_dir outputs/benchmark_training]
"""

import argparse
from typing import Any

from bang_spmd.benchmarks import training as benchmark
from bang_spmd.benchmarks.training import METHODS, SHAPES, TrainingBenchmark

from . import benchmark_flags as flags


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bang-benchmark-training",
        description=__doc__ + "\n" + benchmark.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--shapes",
        nargs="+",
        choices=list(SHAPES),
        default=["small"],
        help="model shapes: small (256 hidden, 3+3 layers, 4 heads, FFN 1024, vocab 8000), bang-base (768 hidden, "
        "6+6 layers, 12 heads, FFN 3072, vocab 30522; slow on a CPU), tiny (the test-suite preset). Default: small",
    )
    flags.add_methods_argument(parser, METHODS)
    parser.add_argument("--batch_size", type=flags.positive_int, default=32, help="examples per step (default: 32)")
    parser.add_argument(
        "--source_length",
        type=flags.positive_int,
        default=64,
        help="source tokens per example (random ordinary ids ending with [SEP]); row 0 has this many, the others "
        "up to a quarter fewer, right-padded (default: 64)",
    )
    parser.add_argument(
        "--target_length",
        type=flags.positive_int,
        default=16,
        help="target tokens per example including [SEP], gold and distilled alike; row 0 has this many, the others "
        "up to a quarter fewer, padded with -100 (default: 16)",
    )
    flags.add_device_arguments(parser)
    flags.add_run_arguments(
        parser,
        unit="steps",
        per="method",
        seeded="batch",
        output_dir="outputs/benchmark_training",
        output_help="where results.json goes",
    )
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = flags.parse_arguments(parser, argv, unique=("shapes", "methods"))
    if args.target_length < 2:
        parser.error("--target_length must be at least 2 (one token and [SEP]; SPMD refuses empty targets)")
    flags.check_position_limits(parser, SHAPES, args, "--target_length")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Runs the benchmark; `argv` defaults to the command line. Returns the content of results.json."""
    return flags.run_command(argv, parse_args, TrainingBenchmark, benchmark.run_benchmark)


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-benchmark-training")
