"""The command-line flags the two benchmark commands share (`bang-benchmark`, `bang-benchmark-training`)."""

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from modeling_bang import BangConfig


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def add_methods_argument(parser: argparse.ArgumentParser, methods: Sequence[str]) -> None:
    """`--methods`: any of `methods`, all by default."""
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=list(methods),
        default=list(methods),
        help="methods to time (default: all). Ratios whose methods are not selected are reported as null",
    )


def add_device_arguments(parser: argparse.ArgumentParser, dtypes: Sequence[str] | None = None) -> None:
    """`--device` (cuda when available, else cpu), `--dtype` (one of `dtypes`, float32 by default; only where
    `dtypes` is given) and `--threads`."""
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="device (default: cuda when available, else cpu)",
    )
    if dtypes is not None:
        parser.add_argument("--dtype", choices=list(dtypes), default="float32", help="model dtype (default: float32)")
    parser.add_argument(
        "--threads", type=positive_int, default=None, help="torch.set_num_threads(N) (default: torch's own)"
    )


def add_run_arguments(
    parser: argparse.ArgumentParser, unit: str, per: str, seeded: str, output_dir: str, output_help: str
) -> None:
    """`--warmup` and `--repeats` (untimed and timed `unit`s per `per`), `--seed` (of the random weights and
    `seeded`) and `--output_dir` (default `output_dir`; help `output_help` and the default)."""
    parser.add_argument(
        "--warmup",
        type=non_negative_int,
        default=2,
        help=f"untimed {unit} before timing, per {per} (default: 2)",
    )
    parser.add_argument("--repeats", type=positive_int, default=5, help=f"timed {unit} per {per} (default: 5)")
    parser.add_argument("--seed", type=int, default=0, help=f"seed of the random weights and {seeded} (default: 0)")
    parser.add_argument(
        "--output_dir", type=Path, default=Path(output_dir), help=f"{output_help} (default: {output_dir})"
    )


def parse_arguments(
    parser: argparse.ArgumentParser, argv: list[str] | None, unique: Sequence[str]
) -> argparse.Namespace:
    """`parser.parse_args(argv)`, refusing `--device cuda` (exit 2) where CUDA is not available; the list flags
    named in `unique` lose repeated values (the first of each is kept, in order)."""
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda was requested but CUDA is not available")
    for name in unique:
        setattr(args, name, list(dict.fromkeys(getattr(args, name))))
    return args


def check_position_limits(
    parser: argparse.ArgumentParser,
    shapes: Mapping[str, Callable[[], BangConfig]],
    args: argparse.Namespace,
    target_flag: str,
) -> None:
    """Refuses (exit 2) a `--source_length` below 2 (one token and [SEP]), and a `--source_length` or target length
    (the flag `target_flag`, e.g. `--new_tokens`) beyond the position table of any selected shape in `args.shapes`."""
    if args.source_length < 2:
        parser.error("--source_length must be at least 2 (one token and [SEP])")
    target_length = getattr(args, target_flag.removeprefix("--"))
    for name in args.shapes:
        limit = shapes[name]().max_position_embeddings
        if args.source_length > limit or target_length > limit:
            parser.error(
                f"shape {name!r} holds at most {limit} source and target positions; got --source_length "
                f"{args.source_length} and {target_flag} {target_length}"
            )


def command_args(argv: Sequence[str] | None) -> list[str]:
    """The script's arguments: `argv`, or the command line's where it is None."""
    return sys.argv[1:] if argv is None else list(argv)


def run_command(argv: Sequence[str] | None, parse_args: Callable, options_type: type, run: Callable) -> Any:
    """A benchmark command: parses `argv` (default: the command line), runs `run(options_type(**flags), argv)`."""
    arguments = command_args(argv)
    return run(options_type(**vars(parse_args(arguments))), arguments)
