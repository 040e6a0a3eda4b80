"""`bang-benchmark-deploy`: latency of BANG's NAR decoding for deployment, eager vs compiled vs exported
(`bang_spmd.benchmarks.deployment`).

    HF_HUB_OFFLINE=1 bang-benchmark-deploy --shape bang-base --batch_sizes 1 32 --output_dir DIR [--device cuda]
"""

import argparse
import sys
from typing import Any

import torch

from bang_spmd.benchmarks import deployment
from bang_spmd.benchmarks.deployment import DEFAULT_METHODS, METHODS, SHAPES
from bang_spmd.cli.benchmark_flags import positive_int


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bang-benchmark-deploy",
        description=__doc__ + "\n" + deployment.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--shape", choices=list(SHAPES), default="bang-base", help="model shape (default: bang-base)")
    parser.add_argument("--batch_sizes", nargs="+", type=positive_int, default=[1, 32], help="default: 1 32")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=None, help="default: per device, see above")
    parser.add_argument("--source_length", type=positive_int, default=64, help="source tokens per row (default: 64)")
    parser.add_argument("--canvas_length", type=positive_int, default=30, help="NAR canvas positions (default: 30)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="default: cpu")
    parser.add_argument("--threads", type=positive_int, default=None, help="CPU threads (torch and onnxruntime)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds (default: 2)")
    parser.add_argument("--repeats", type=positive_int, default=5, help="timed rounds (default: 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs (default: 0)")
    parser.add_argument("--output_dir", required=True, help="where results.json and results.md go")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.methods is None:
        args.methods = list(DEFAULT_METHODS[args.device])
    if len(set(args.methods)) != len(args.methods) or len(set(args.batch_sizes)) != len(args.batch_sizes):
        parser.error("--methods and --batch_sizes must not repeat a value")
    if "cudagraphs" in args.methods and args.device != "cuda":
        parser.error("--methods cudagraphs needs --device cuda")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    limit = SHAPES[args.shape]().max_position_embeddings
    for name in ("source_length", "canvas_length"):
        if getattr(args, name) > limit:
            parser.error(f"--{name} must be at most {limit} (max_position_embeddings of {args.shape})")
    if args.source_length < 2:
        parser.error("--source_length must be at least 2 (text and [SEP])")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else list(argv)
    return deployment.run_benchmark(parse_args(argv), argv)


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-benchmark-deploy")
