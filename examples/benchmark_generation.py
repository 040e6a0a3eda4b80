"""Latency and throughput of BANG's decoding modes against Hugging Face ProphetNet.

    HF_HUB_OFFLINE=1 python examples/benchmark_generation.py \\
        [--shapes bang-base small] [--batch_sizes 1 32] [--methods nar ar_beam4 ...] [--device cuda|cpu] \\
        [--dtype float32] [--threads N] [--warmup 2] [--repeats 5] [--output_dir outputs/benchmark_generation]

What is measured, for every (shape, batch size, method): the wall time of one call that turns a batch of source
sequences into `--new_tokens` output tokens per sample (median, min and max over `--repeats` timed calls after
`--warmup` untimed ones, inside `torch.inference_mode()`, with `torch.cuda.synchronize()` before each clock read on
CUDA), the time per sample (median / batch size), and the throughput in samples/s and output tokens/s (counting
`--new_tokens` per sample, the canvas positions for NAR).

Methods (all models have random weights, which is fine for timing):
    nar                BANG `generate(decoding_mode="nar")`: one encoder pass and one decoder pass over a
                       `--new_tokens`-slot canvas, then the official post-processing (cut at [SEP], collapse
                       repeats), which is timed too and may return fewer columns than the canvas has.
    semi_nar_k2 / _k4  BANG `generate(decoding_mode="semi_nar", semi_nar_block_size=k)`: k tokens per decoder step.
    ar_greedy          BANG `generate(decoding_mode="ar", num_beams=1)`.
    ar_beam4           BANG `generate(decoding_mode="ar", num_beams=4)`.
    prophetnet_greedy  transformers `ProphetNetForConditionalGeneration.generate(num_beams=1)` with the same
                       dimensions and `ngram=1`: BANG's AR flow is ProphetNet with one predicting stream, so this is
                       the like-for-like AR peer.
    one_pass_floor     one BANG forward `model(input_ids, attention_mask, mode="nar", canvas_length=N)`: the
                       encoder plus one NAR decoder pass at the same shapes, i.e. the least work NAR can do.
AR, semi-NAR and ProphetNet get `min_new_tokens = max_new_tokens = --new_tokens`, so every method produces the
same number of tokens (random weights would otherwise stop at a random [SEP]).

Ratios (from the same run, per shape and batch size; each is a ratio of median wall times):
    AR beam 4 / NAR           the NAR speed-up over AR beam 4; target >= 10x at batch 1 on bang-base.
    AR greedy / NAR           the NAR speed-up over greedy AR (information only).
    NAR / one-pass floor      NAR's overhead over the forward pass it runs; target <= 1.15.
    AR greedy / ProphetNet    ours against the transformers peer; target <= 1.0 (ours no slower).
    semi-NAR k / NAR          cost of semi-NAR relative to NAR (information only).

Outputs in `--output_dir`: `results.json` (machine information, settings, the command line, every timed call,
the summaries, ratios and targets) and `latency_per_sample.png` (per-sample latency per method on a log scale,
one panel per shape and batch size; needs matplotlib, skipped with a message when it is missing or with
`--no_chart`).
"""

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers
from tqdm.auto import tqdm
from transformers import ProphetNetConfig, ProphetNetForConditionalGeneration

from modeling_bang import BangConfig, BangForConditionalGeneration


SMALL_SHAPE = {
    "hidden_size": 256,
    "encoder_layers": 3,
    "decoder_layers": 3,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 1024,
    "decoder_ffn_dim": 1024,
}

# name -> builder of the BANG config; the ProphetNet peer copies its dimensions (`prophetnet_config`).
SHAPES: dict[str, Callable[[], BangConfig]] = {
    "bang-base": lambda: BangConfig.from_preset("bang-base"),
    "small": lambda: BangConfig.from_preset("bang-base", **SMALL_SHAPE),
    "tiny": lambda: BangConfig.from_preset("tiny"),
}

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Method:
    description: str
    model: str  # "bang" or "prophetnet"
    run: Callable[[torch.nn.Module, dict[str, torch.Tensor], int], Any]
    # Expected second dimension of the output for N new tokens: "forced" = exactly N + 1 (decoder start token and N
    # tokens), "nar" = at most N + 1 (the NAR post-processing cuts at [SEP] and collapses repeats; the canvas always
    # has N positions), "logits" = exactly N canvas positions.
    output: str = "forced"


def _bang_generate(**options) -> Callable:
    def run(model, inputs, new_tokens):
        return model.generate(**inputs, max_new_tokens=new_tokens, **options)

    return run


def _forced_length(**options) -> Callable:
    """`generate` forced to exactly `new_tokens` tokens (min = max), so that untrained weights never stop early."""

    def run(model, inputs, new_tokens):
        return model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, **options)

    return run


def _one_pass_floor(model, inputs, new_tokens):
    return model(**inputs, mode="nar", canvas_length=new_tokens).logits


METHODS: dict[str, Method] = {
    "nar": Method(
        "BANG NAR: encoder + one decoder pass over the canvas", "bang", _bang_generate(decoding_mode="nar"), "nar"
    ),
    "semi_nar_k2": Method(
        "BANG semi-NAR, 2 tokens per step", "bang", _forced_length(decoding_mode="semi_nar", semi_nar_block_size=2)
    ),
    "semi_nar_k4": Method(
        "BANG semi-NAR, 4 tokens per step", "bang", _forced_length(decoding_mode="semi_nar", semi_nar_block_size=4)
    ),
    "ar_greedy": Method("BANG AR, greedy", "bang", _forced_length(decoding_mode="ar", num_beams=1, do_sample=False)),
    "ar_beam4": Method(
        "BANG AR, beam search with 4 beams", "bang", _forced_length(decoding_mode="ar", num_beams=4, do_sample=False)
    ),
    "prophetnet_greedy": Method(
        "transformers ProphetNet (ngram=1, same dimensions), greedy",
        "prophetnet",
        _forced_length(num_beams=1, do_sample=False),
    ),
    "one_pass_floor": Method(
        "one BANG forward: encoder + one NAR decoder pass (floor)", "bang", _one_pass_floor, "logits"
    ),
}


@dataclass(frozen=True)
class Ratio:
    key: str  # field name in results.json
    column: str  # table heading
    label: str  # sentence in the targets list
    numerator: str
    denominator: str
    target: float | None = None
    op: str | None = None  # ">=" or "<="
    applies: Callable[[str, int], bool] = lambda shape, batch: True  # (shape, batch) cells the target is for


RATIOS = [
    Ratio(
        "ar_beam4_over_nar",
        "beam4/NAR",
        "NAR speed-up over AR beam 4 (AR beam 4 / NAR)",
        "ar_beam4",
        "nar",
        target=10.0,
        op=">=",
        applies=lambda shape, batch: shape == "bang-base" and batch == 1,
    ),
    Ratio("ar_greedy_over_nar", "greedy/NAR", "NAR speed-up over AR greedy", "ar_greedy", "nar"),
    Ratio("nar_over_one_pass_floor", "NAR/floor", "NAR / one-pass floor", "nar", "one_pass_floor", 1.15, "<="),
    Ratio(
        "ar_greedy_over_prophetnet_greedy",
        "greedy/ProphetNet",
        "our AR greedy / ProphetNet greedy",
        "ar_greedy",
        "prophetnet_greedy",
        target=1.0,
        op="<=",
    ),
    Ratio("semi_nar_k2_over_nar", "semi k2/NAR", "semi-NAR k=2 / NAR", "semi_nar_k2", "nar"),
    Ratio("semi_nar_k4_over_nar", "semi k4/NAR", "semi-NAR k=4 / NAR", "semi_nar_k4", "nar"),
]


# ---------------------------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmark_generation.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
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
        "--batch_sizes", nargs="+", type=_positive_int, default=[1, 32], help="batch sizes (default: 1 32)"
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        default=list(METHODS),
        help="methods to time (default: all). Ratios whose methods are not selected are reported as null",
    )
    parser.add_argument(
        "--source_length",
        type=_positive_int,
        default=64,
        help="source tokens per sample (random ordinary ids ending with [SEP]); with batch > 1 the other rows are "
        "up to a quarter shorter, right-padded with an attention mask (default: 64)",
    )
    parser.add_argument(
        "--new_tokens", type=_positive_int, default=30, help="output tokens per sample; the NAR canvas (default: 30)"
    )
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="device (default: cuda when available, else cpu)",
    )
    parser.add_argument("--dtype", choices=list(DTYPES), default="float32", help="model dtype (default: float32)")
    parser.add_argument(
        "--threads", type=_positive_int, default=None, help="torch.set_num_threads(N) (default: torch's own)"
    )
    parser.add_argument(
        "--warmup", type=_non_negative_int, default=2, help="untimed calls before timing, per cell (default: 2)"
    )
    parser.add_argument("--repeats", type=_positive_int, default=5, help="timed calls per cell (default: 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights and inputs (default: 0)")
    parser.add_argument(
        "--output_dir",
        type=Path,
        default=Path("outputs/benchmark_generation"),
        help="where results.json and the chart go (default: outputs/benchmark_generation)",
    )
    parser.add_argument("--no_chart", action="store_true", help="do not draw latency_per_sample.png")
    parser.add_argument("--no_progress", action="store_true", help="hide the tqdm progress bar")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda was requested but CUDA is not available")
    args.shapes = list(dict.fromkeys(args.shapes))
    args.batch_sizes = list(dict.fromkeys(args.batch_sizes))
    args.methods = list(dict.fromkeys(args.methods))
    for name in args.shapes:
        limit = SHAPES[name]().max_position_embeddings
        if args.source_length > limit or args.new_tokens > limit:
            parser.error(
                f"shape {name!r} holds at most {limit} source and target positions; got --source_length "
                f"{args.source_length} and --new_tokens {args.new_tokens}"
            )
    if args.source_length < 2:
        parser.error("--source_length must be at least 2 (one token and [SEP])")
    return args


# ---------------------------------------------------------------------------------------------------------------
# Models and inputs
# ---------------------------------------------------------------------------------------------------------------


def prophetnet_config(config: BangConfig) -> ProphetNetConfig:
    """The ProphetNet peer of a BANG shape: same dimensions, one predicting stream (`ngram=1`).

    ProphetNet's position tables hold `max_position_embeddings` rows where BANG's hold `+ 1` (encoder) and `+ 2`
    (decoder), so the peer gets two more (as in the ProphetNet -> BANG conversion).
    """
    return ProphetNetConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        encoder_ffn_dim=config.encoder_ffn_dim,
        decoder_ffn_dim=config.decoder_ffn_dim,
        num_encoder_layers=config.encoder_layers,
        num_decoder_layers=config.decoder_layers,
        num_encoder_attention_heads=config.encoder_attention_heads,
        num_decoder_attention_heads=config.decoder_attention_heads,
        max_position_embeddings=config.max_position_embeddings + 2,
        ngram=1,
        num_buckets=config.num_buckets,
        relative_max_distance=config.relative_max_distance,
        activation_function=config.activation_function,
        pad_token_id=config.pad_token_id,
        eos_token_id=config.eos_token_id,
        decoder_start_token_id=config.decoder_start_token_id,
        bos_token_id=None,
    )


def build_models(shape: str, need: set[str], device: torch.device, dtype: torch.dtype, seed: int) -> dict[str, Any]:
    config = SHAPES[shape]()
    models: dict[str, Any] = {"config": config}
    if "bang" in need:
        torch.manual_seed(seed)
        models["bang"] = BangForConditionalGeneration(config).to(device=device, dtype=dtype).eval()
    if "prophetnet" in need:
        torch.manual_seed(seed)
        peer = ProphetNetForConditionalGeneration(prophetnet_config(config))
        models["prophetnet"] = peer.to(device=device, dtype=dtype).eval()
    return models


def first_ordinary_id(config: BangConfig) -> int:
    """Lowest id of an ordinary token: 999 in a BERT-uncased-sized vocabulary (0-998 are [PAD], [unused*], [UNK],
    [CLS], [SEP], [MASK]); otherwise the id after the special ids (the tiny vocabulary's 0-3 are PAD CLS SEP MASK).
    """
    if config.vocab_size >= 2000:
        return 999
    return max(config.pad_token_id, config.eos_token_id, config.decoder_start_token_id, 3) + 1


def make_inputs(
    config: BangConfig, batch_size: int, source_length: int, seed: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """Random ordinary ids ending with [SEP]; row 0 has `source_length` tokens, the others up to a quarter fewer
    (right-padded with `pad_token_id`, attention mask 0 there) so that the padding paths run."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(
        first_ordinary_id(config), config.vocab_size, (batch_size, source_length), generator=generator
    )
    lengths = torch.full((batch_size,), source_length)
    if batch_size > 1:
        shortest = max(2, source_length - source_length // 4)
        lengths[1:] = torch.randint(shortest, source_length + 1, (batch_size - 1,), generator=generator)
    attention_mask = (torch.arange(source_length)[None, :] < lengths[:, None]).long()
    input_ids[torch.arange(batch_size), lengths - 1] = config.eos_token_id
    input_ids = input_ids.masked_fill(attention_mask.eq(0), config.pad_token_id)
    return {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device)}


# ---------------------------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------------------------


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_method(
    run: Callable[[], Any], warmup: int, repeats: int, device: torch.device
) -> tuple[list[float], torch.Tensor]:
    """Wall seconds of `repeats` calls after `warmup` untimed ones; also the last output."""
    output = None
    for _ in range(warmup):
        output = run()
    _synchronize(device)
    seconds = []
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        output = run()
        _synchronize(device)
        seconds.append(time.perf_counter() - start)
    return seconds, output


def summarize(
    shape: str, batch_size: int, method: str, seconds: list[float], output: Any, new_tokens: int
) -> dict[str, Any]:
    sequences = output.sequences if hasattr(output, "sequences") else output
    output_shape = list(sequences.shape)
    output_length = output_shape[1] if len(output_shape) > 1 else -1
    expected = METHODS[method].output
    if expected == "forced":
        length_ok = output_length == new_tokens + 1
    elif expected == "nar":
        length_ok = 1 <= output_length <= new_tokens + 1
    else:
        length_ok = output_length == new_tokens
    length_ok = length_ok and output_shape[0] == batch_size
    median = statistics.median(seconds)
    return {
        "shape": shape,
        "batch_size": batch_size,
        "method": method,
        "description": METHODS[method].description,
        "seconds": seconds,
        "median_ms": 1000 * median,
        "min_ms": 1000 * min(seconds),
        "max_ms": 1000 * max(seconds),
        "per_sample_ms": 1000 * median / batch_size,
        "samples_per_s": batch_size / median,
        "tokens_per_s": batch_size * new_tokens / median,
        "output_shape": output_shape,
        "length_ok": length_ok,
    }


def compute_ratios(measurements: list[dict[str, Any]], shapes: list[str], batch_sizes: list[int]) -> list[dict]:
    medians = {(m["shape"], m["batch_size"], m["method"]): m["median_ms"] for m in measurements}
    rows = []
    for shape in shapes:
        for batch_size in batch_sizes:
            row: dict[str, Any] = {"shape": shape, "batch_size": batch_size, "targets": {}}
            for ratio in RATIOS:
                top = medians.get((shape, batch_size, ratio.numerator))
                bottom = medians.get((shape, batch_size, ratio.denominator))
                value = top / bottom if top is not None and bottom else None
                row[ratio.key] = value
                if ratio.target is not None and ratio.applies(shape, batch_size):
                    if value is None:
                        status = "NOT RUN"
                    else:
                        met = value >= ratio.target if ratio.op == ">=" else value <= ratio.target
                        status = "MET" if met else "MISSED"
                    row["targets"][ratio.key] = {
                        "value": value,
                        "target": f"{ratio.op} {ratio.target}",
                        "status": status,
                    }
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------


def machine_info(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    cpu_name = platform.processor()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu_name = next(
                (line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu_name
            )
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name,
        "cpu": cpu_name,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "dtype": args.dtype,
    }


def _format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(cell).rjust(width) for cell, width in zip(line, widths, strict=True)) for line in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def format_report(results: dict[str, Any]) -> str:
    settings = results["settings"]
    machine = results["machine"]
    out = [
        f"BANG decoding benchmark on {machine['device']} ({machine['device_name']}), {settings['dtype']}, "
        f"{machine['torch_threads']} threads, torch {machine['torch']}, transformers {machine['transformers']}",
        f"source length {settings['source_length']}, {settings['new_tokens']} output tokens per sample, "
        f"{settings['warmup']} warm-up + {settings['repeats']} timed calls per cell (median, min, max); "
        "random weights.",
        "prophetnet_greedy = transformers ProphetNetForConditionalGeneration with ngram=1 and BANG's dimensions: "
        "BANG's AR flow is ProphetNet with one predicting stream.",
        "",
    ]
    header = [
        "shape",
        "batch",
        "method",
        "median ms",
        "min ms",
        "max ms",
        "ms/sample",
        "samples/s",
        "tokens/s",
        "output",
    ]
    rows = []
    for m in results["measurements"]:
        rows.append(
            [
                m["shape"],
                str(m["batch_size"]),
                m["method"],
                f"{m['median_ms']:.2f}",
                f"{m['min_ms']:.2f}",
                f"{m['max_ms']:.2f}",
                f"{m['per_sample_ms']:.3f}",
                f"{m['samples_per_s']:.1f}",
                f"{m['tokens_per_s']:.0f}",
                "x".join(map(str, m["output_shape"])) + ("" if m["length_ok"] else " WRONG LENGTH"),
            ]
        )
    out += [_format_table(header, rows), ""]

    header = ["shape", "batch"] + [ratio.column for ratio in RATIOS]
    rows = []
    for row in results["ratios"]:
        cells = [row["shape"], str(row["batch_size"])]
        for ratio in RATIOS:
            value = row[ratio.key]
            cell = "-" if value is None else f"{value:.2f}x"
            if ratio.key in row["targets"] and value is not None:
                cell += f" {row['targets'][ratio.key]['status']}"
            cells.append(cell)
        rows.append(cells)
    out += ["Ratios of median wall time per call (same run):", _format_table(header, rows), ""]

    out.append("Targets:")
    for ratio in RATIOS:
        if ratio.target is None:
            continue
        checked = [row for row in results["ratios"] if ratio.key in row["targets"]]
        for row in checked:
            target = row["targets"][ratio.key]
            value = "not run" if target["value"] is None else f"{target['value']:.2f}x"
            out.append(
                f"  [{target['status']:>7}] {ratio.label}: {value} (target {target['target']}) "
                f"on {row['shape']}, batch {row['batch_size']}"
            )
        if not checked:
            out.append(f"  [    n/a] {ratio.label}: target {ratio.op} {ratio.target} applies to no measured cell")
    wrong = [m for m in results["measurements"] if not m["length_ok"]]
    expected = {
        "forced": "exactly {n} + 1 (start token) columns",
        "nar": "at most {n} + 1 columns",
        "logits": "exactly {n} canvas positions",
    }
    for m in wrong:
        what = expected[METHODS[m["method"]].output].format(n=settings["new_tokens"])
        out.append(
            f"WARNING: {m['method']} on {m['shape']}, batch {m['batch_size']} returned shape {m['output_shape']}; "
            f"expected {m['batch_size']} rows of {what}"
        )
    return "\n".join(out)


def draw_chart(results: dict[str, Any], path: Path) -> Path | None:
    """Per-sample median latency per method (log scale), min-max whiskers, one panel per shape x batch size."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        print("matplotlib is not installed: skipping the chart (pip install matplotlib to draw it).")
        return None
    cells = [(row["shape"], row["batch_size"]) for row in results["ratios"]]
    shapes = list(dict.fromkeys(shape for shape, _ in cells))
    batch_sizes = list(dict.fromkeys(batch for _, batch in cells))
    figure, axes = plt.subplots(
        len(shapes), len(batch_sizes), figsize=(max(8, 5 * len(batch_sizes)), 1 + 3.8 * len(shapes)), squeeze=False
    )
    colors = {name: plt.get_cmap("tab10")(i) for i, name in enumerate(METHODS)}
    for i, shape in enumerate(shapes):
        for j, batch_size in enumerate(batch_sizes):
            axis = axes[i][j]
            cell = [m for m in results["measurements"] if m["shape"] == shape and m["batch_size"] == batch_size]
            names = [m["method"] for m in cell]
            medians = [m["per_sample_ms"] for m in cell]
            lows = [m["per_sample_ms"] - m["min_ms"] / batch_size for m in cell]
            highs = [m["max_ms"] / batch_size - m["per_sample_ms"] for m in cell]
            bars = axis.bar(names, medians, yerr=[lows, highs], capsize=3, color=[colors[n] for n in names])
            axis.bar_label(bars, labels=[f"{v:.3g}" for v in medians], fontsize=7, padding=2)
            axis.set_yscale("log")
            axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            # Minor ticks: label 2x and 5x of each decade only, so that they do not overlap.
            axis.yaxis.set_minor_formatter(
                FuncFormatter(lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "25" else "")
            )
            axis.tick_params(axis="y", which="minor", labelsize=7)
            axis.set_title(f"{shape}, batch {batch_size}")
            axis.set_ylabel("ms per sample (median)")
            axis.tick_params(axis="x", labelrotation=45)
            for label in axis.get_xticklabels():
                label.set_horizontalalignment("right")
            axis.grid(axis="y", which="both", alpha=0.3)
    settings, machine = results["settings"], results["machine"]
    figure.suptitle(
        f"BANG decoding latency: {settings['new_tokens']} tokens, source {settings['source_length']}\n"
        f"{machine['device_name']}, {settings['dtype']}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


# ---------------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Runs the benchmark; `argv` defaults to the command line. Returns the content of results.json."""
    command_args = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(command_args)
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if device.type == "cpu" and dtype == torch.float16:
        print("note: float16 on CPU is often slower than float32; use it on CUDA.")

    methods = args.methods
    need = {METHODS[name].model for name in methods}
    grid = [(shape, batch, method) for shape in args.shapes for batch in args.batch_sizes for method in methods]
    measurements: list[dict[str, Any]] = []
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # generation-config chatter of random models, once per call
    try:
        with torch.inference_mode(), tqdm(total=len(grid), disable=args.no_progress, unit="cell") as progress:
            for shape in args.shapes:
                progress.set_description(f"building {shape}")
                models = build_models(shape, need, device, dtype, args.seed)
                for batch_size in args.batch_sizes:
                    inputs = make_inputs(models["config"], batch_size, args.source_length, args.seed, device)
                    for name in methods:
                        progress.set_description(f"{shape} b{batch_size} {name}")
                        method = METHODS[name]
                        model = models[method.model]
                        seconds, output = time_method(
                            lambda method=method, model=model, inputs=inputs: method.run(
                                model, inputs, args.new_tokens
                            ),
                            args.warmup,
                            args.repeats,
                            device,
                        )
                        measurements.append(summarize(shape, batch_size, name, seconds, output, args.new_tokens))
                        progress.update()
                del models
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    finally:
        transformers.logging.set_verbosity(verbosity)

    settings = {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()}
    results = {
        "machine": machine_info(args, device),
        "settings": settings,
        "command": shlex.join([sys.executable, sys.argv[0] if argv is None else __file__, *command_args]),
        "argv": command_args,
        "notes": [
            "Random weights; AR, semi-NAR and ProphetNet are forced to exactly new_tokens tokens "
            "(min_new_tokens = max_new_tokens); NAR fills a new_tokens-slot canvas.",
            "prophetnet_greedy: transformers ProphetNetForConditionalGeneration with ngram=1 (one predicting stream, "
            "BANG's AR flow) and BANG's dimensions.",
            "Ratios are ratios of the median wall time per call of two methods at the same shape and batch size.",
        ],
        "measurements": measurements,
        "ratios": compute_ratios(measurements, args.shapes, args.batch_sizes),
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    chart = None
    if not args.no_chart:
        chart = draw_chart(results, args.output_dir / "latency_per_sample.png")
    results["chart"] = None if chart is None else str(chart)
    results_path = args.output_dir / "results.json"
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    print(format_report(results))
    print(f"\nwrote {results_path}" + (f" and {chart}" if chart is not None else ""))
    return results


if __name__ == "__main__":
    main()
