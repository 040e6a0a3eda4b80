"""Latency and throughput of BANG's decoding modes against Hugging Face ProphetNet.

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

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import ProphetNetForConditionalGeneration

from modeling_bang import BangConfig, BangForConditionalGeneration

from . import common
from .common import DTYPES, Ratio, prophetnet_config


# name -> builder of the BANG config; the ProphetNet peer copies its dimensions (`prophetnet_config`).
SHAPES: dict[str, Callable[[], BangConfig]] = {
    "bang-base": lambda: BangConfig.from_preset("bang-base"),
    "small": lambda: BangConfig.from_preset("bang-base", **common.SMALL_SHAPE),
    "tiny": lambda: BangConfig.from_preset("tiny"),
}


@dataclass
class GenerationBenchmark:
    """What to time (the flags of `bang-benchmark`, see the module docstring)."""

    shapes: list[str]
    batch_sizes: list[int]
    methods: list[str]
    source_length: int
    new_tokens: int
    device: str
    dtype: str
    threads: int | None
    warmup: int
    repeats: int
    seed: int
    output_dir: Path
    no_chart: bool = False
    no_progress: bool = False


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
# Models and inputs
# ---------------------------------------------------------------------------------------------------------------


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


def make_inputs(
    config: BangConfig, batch_size: int, source_length: int, seed: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """Random ordinary ids ending with [SEP]; row 0 has `source_length` tokens, the others up to a quarter fewer
    (right-padded with `pad_token_id`, attention mask 0 there) so that the padding paths run."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(
        common.first_ordinary_id(config), config.vocab_size, (batch_size, source_length), generator=generator
    )
    lengths = common.random_lengths(batch_size, source_length, generator)
    attention_mask = (torch.arange(source_length)[None, :] < lengths[:, None]).long()
    input_ids[torch.arange(batch_size), lengths - 1] = config.eos_token_id
    input_ids = input_ids.masked_fill(attention_mask.eq(0), config.pad_token_id)
    return {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device)}


# ---------------------------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------------------------


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
        **common.timing_fields(seconds),
        "per_sample_ms": 1000 * median / batch_size,
        "samples_per_s": batch_size / median,
        "tokens_per_s": batch_size * new_tokens / median,
        "output_shape": output_shape,
        "length_ok": length_ok,
    }


def compute_ratios(measurements: list[dict[str, Any]], shapes: list[str], batch_sizes: list[int]) -> list[dict]:
    medians = common.medians_by_cell(measurements, ("shape", "batch_size"))
    rows = []
    for shape in shapes:
        for batch_size in batch_sizes:
            row: dict[str, Any] = {"shape": shape, "batch_size": batch_size, "targets": {}}
            common.add_ratios(row, medians.get((shape, batch_size), {}), RATIOS, (shape, batch_size))
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------


def format_report(results: dict[str, Any]) -> str:
    settings = results["settings"]
    machine = results["machine"]
    out = [
        common.report_title("BANG decoding benchmark", machine),
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
    out += [common.format_table(header, rows), ""]

    header = ["shape", "batch"] + [ratio.column for ratio in RATIOS]
    rows = []
    for row in results["ratios"]:
        rows.append([row["shape"], str(row["batch_size"]), *common.ratio_cells(row, RATIOS)])
    out += ["Ratios of median wall time per call (same run):", common.format_table(header, rows), ""]

    out.append("Targets:")
    for ratio in RATIOS:
        if ratio.target is None:
            continue
        checked = [row for row in results["ratios"] if ratio.key in row["targets"]]
        for row in checked:
            where = f"{row['shape']}, batch {row['batch_size']}"
            out.append(common.target_line(ratio.label, row["targets"][ratio.key], where))
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
# Run
# ---------------------------------------------------------------------------------------------------------------


def run_benchmark(args: GenerationBenchmark, arguments: list[str]) -> dict[str, Any]:
    """Runs the benchmark of `args`; `arguments` (the command line that asked for it) is recorded with the
    results. Returns the content of results.json."""
    device, dtype = common.setup_device(args), DTYPES[args.dtype]
    if device.type == "cpu" and dtype == torch.float16:
        print("note: float16 on CPU is often slower than float32; use it on CUDA.")

    methods = args.methods
    need = {METHODS[name].model for name in methods}
    grid = [(shape, batch, method) for shape in args.shapes for batch in args.batch_sizes for method in methods]
    measurements: list[dict[str, Any]] = []
    with (
        common.transformers_errors_only(),
        torch.inference_mode(),
        tqdm(total=len(grid), disable=args.no_progress, unit="cell") as progress,
    ):
        for shape in args.shapes:
            progress.set_description(f"building {shape}")
            models = build_models(shape, need, device, dtype, args.seed)
            for batch_size in args.batch_sizes:
                inputs = make_inputs(models["config"], batch_size, args.source_length, args.seed, device)
                for name in methods:
                    progress.set_description(f"{shape} b{batch_size} {name}")
                    method = METHODS[name]
                    model = models[method.model]
                    seconds, output = common.time_calls(
                        lambda method=method, model=model, inputs=inputs: method.run(model, inputs, args.new_tokens),
                        args.warmup,
                        args.repeats,
                        device,
                    )
                    measurements.append(summarize(shape, batch_size, name, seconds, output, args.new_tokens))
                    progress.update()
            del models
            common.free_cuda_cache(device)

    results = {
        "machine": common.machine_info(device, args.dtype),
        **common.run_record(args, arguments, "bang_spmd.cli.benchmark"),
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
    results_path = common.write_results(results, args.output_dir)
    print(format_report(results))
    print(f"\nwrote {results_path}" + (f" and {chart}" if chart is not None else ""))
    return results
