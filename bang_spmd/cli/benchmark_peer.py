"""`bang-benchmark-peer`: BANG's training steps per second against fairseq's Transformer on the same pairs
(`bang_spmd.benchmarks.peer`).

    HF_HUB_OFFLINE=1 bang-benchmark-peer --data_file bang_spmd/quickstart_data/debtrans_sample/train.jsonl.gz \\
        --tokenizer bang-mini --fairseq_python .venv-fairseq/bin/python --output_dir outputs/benchmark_peer
"""

import argparse
import sys
from pathlib import Path

from bang_spmd.benchmarks import peer
from bang_spmd.benchmarks.peer import LOG_INTERVAL
from bang_spmd.pretrained import resolve_model_name


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bang-benchmark-peer",
        description=__doc__ + "\n" + peer.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data_file", type=Path, required=True, help="JSON Lines training pairs (.jsonl[.gz])")
    parser.add_argument("--source_column", default="en")
    parser.add_argument("--target_column", default="fr")
    parser.add_argument("--where", default=None, help="keep rows with COLUMN=VALUE only (e.g. kind=synopsis)")
    parser.add_argument("--tokenizer", required=True, help="tokenizer folder (or a model folder with one)")
    parser.add_argument("--fairseq_python", type=Path, required=True, help="python of a venv with fairseq 0.12")
    parser.add_argument("--updates", type=int, default=400, help="optimizer steps per method and round")
    parser.add_argument("--warmup", type=int, default=20, help="untimed BANG steps before timing")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch_size", type=int, default=64, help="sentences per batch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hidden_size", type=int, default=128)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--ffn_dim", type=int, default=512)
    parser.add_argument("--ngram", type=int, default=4, help="predicting streams of the n-stream step")
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output_dir", type=Path, default=Path("outputs/benchmark_peer"))
    args = parser.parse_args(argv)
    for name in ("updates", "rounds", "batch_size", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.updates <= 2 * LOG_INTERVAL:
        parser.error(f"--updates must exceed {2 * LOG_INTERVAL} (fairseq's rate is read after its first interval)")
    if not args.fairseq_python.is_file():
        parser.error(f"--fairseq_python {args.fairseq_python} does not exist")
    return args


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    args.tokenizer = resolve_model_name(args.tokenizer)
    return peer.run_peer_benchmark(args, argv)


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-benchmark-peer")
