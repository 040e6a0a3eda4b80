"""`bang-benchmark`: latency and throughput of BANG's decoding modes against Hugging Face ProphetNet
(`bang_spmd.benchmarks.generation`).

    HF_HUB_OFFLINE=1 bang-benchmark \\
        [--shapes bang-base small] [--batch_sizes 1 32] [--methods nar ar_beam4 ...] [--device cuda|cpu] \\
        [--dtype float32] [--threads N] [--warmup 2] [--repeats 5] [--output_dir outputs/benchmark_generation]

    # the lossless and assisted speed-ups, on a trained n-stream model and real sources:
    HF_HUB_OFFLINE=1 bang-benchmark --model MODEL_DIR --source_file sources.txt --free_length \\
        --methods ar_greedy semi_nar_verify_k2 semi_nar_verify_k4 ar_assisted [--assistant_model DIR]
"""

import argparse
from pathlib import Path
from typing import Any

from bang_spmd.benchmarks import generation as benchmark
from bang_spmd.benchmarks.common import DTYPES
from bang_spmd.benchmarks.generation import METHODS, MODEL_SHAPE, SHAPES, GenerationBenchmark
from modeling_bang import BangConfig

from . import benchmark_flags as flags


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bang-benchmark",
        description=__doc__ + "\n" + benchmark.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--shapes",
        nargs="+",
        choices=list(SHAPES),
        default=["bang-base", "small"],
        help="model shapes: bang-base (768 hidden, 6+6 layers, 12 heads, FFN 3072, vocab 30522), small (256 hidden, "
        "3+3 layers, 4 heads, FFN 1024, vocab 30522), tiny (the test-suite preset). Default: bang-base small",
    )
    parser.add_argument(
        "--batch_sizes", nargs="+", type=flags.positive_int, default=[1, 32], help="batch sizes (default: 1 32)"
    )
    flags.add_methods_argument(parser, METHODS)
    parser.add_argument(
        "--source_length",
        type=flags.positive_int,
        default=64,
        help="source tokens per sample (random ordinary ids ending with [SEP]); with batch > 1 the other rows are "
        "up to a quarter shorter, right-padded with an attention mask (default: 64)",
    )
    parser.add_argument(
        "--new_tokens",
        type=flags.positive_int,
        default=30,
        help="output tokens per sample; the NAR canvas (default: 30)",
    )
    flags.add_device_arguments(parser, dtypes=list(DTYPES))
    flags.add_run_arguments(
        parser,
        unit="calls",
        per="cell",
        seeded="inputs",
        output_dir="outputs/benchmark_generation",
        output_help="where results.json and the chart go",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="a saved BANG folder (save_pretrained) to time instead of the random-weight --shapes (reported as "
        f"shape {MODEL_SHAPE!r}); the semi_nar_verify rows need its config.ngram >= their k",
    )
    parser.add_argument(
        "--assistant_model",
        type=Path,
        default=None,
        help="the saved smaller BANG that assists ar_assisted (same tokenizer); default: random weights with the "
        "model's dimensions and a third of its layers",
    )
    parser.add_argument(
        "--source_file",
        type=Path,
        default=None,
        help="with --model: a text file of sources, one per line, tokenized with the model's tokenizer (truncated "
        "to --source_length, cycled to fill a batch); default: random ids",
    )
    parser.add_argument(
        "--free_length",
        action="store_true",
        help="let AR, semi-NAR and ProphetNet stop at [SEP] (at most --new_tokens) instead of forcing exactly "
        "--new_tokens tokens; for a trained --model",
    )
    parser.add_argument("--no_chart", action="store_true", help="do not draw latency_per_sample.png")
    parser.add_argument("--no_progress", action="store_true", help="hide the tqdm progress bar")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = flags.parse_arguments(parser, argv, unique=("shapes", "batch_sizes", "methods"))
    if args.source_file is not None and args.model is None:
        parser.error("--source_file needs --model (its tokenizer reads the text)")
    if args.model is None:
        flags.check_position_limits(parser, SHAPES, args, "--new_tokens")
        return args
    if not (args.model / "config.json").is_file():
        parser.error(f"--model {args.model} is not a saved model folder (no config.json)")
    config = BangConfig.from_pretrained(args.model)
    args.shapes = [MODEL_SHAPE]
    flags.check_position_limits(parser, {MODEL_SHAPE: lambda: config}, args, "--new_tokens")
    too_many = [name for name in args.methods if METHODS[name].streams > config.ngram]
    if too_many:
        parser.error(f"{too_many} need more predicting streams than --model {args.model} has (ngram={config.ngram})")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Runs the benchmark; `argv` defaults to the command line. Returns the content of results.json."""
    return flags.run_command(argv, parse_args, GenerationBenchmark, benchmark.run_benchmark)


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-benchmark")
