"""Latency and throughput of BANG's decoding modes against Hugging Face ProphetNet.

What is measured, for every (shape, batch size, method): the wall time of one call that turns a batch of source
sequences into `--new_tokens` output tokens per sample (median, min and max over `--repeats` timed calls after
`--warmup` untimed ones, inside `torch.inference_mode()`, with `torch.cuda.synchronize()` before each clock read on
CUDA), the time per sample (median / batch size), and the throughput in samples/s and output tokens/s (counting
`--new_tokens` per sample, the canvas positions for NAR).

Methods (the models of `--shapes` have random weights, which is fine for timing all but the lossless and assisted
rows, whose speed depends on how many proposals are accepted; `--model` times a trained model instead):
    nar                BANG `generate(decoding_mode="nar")`: one encoder pass and one decoder pass over a
                       `--new_tokens`-slot canvas, then the official post-processing (cut at [SEP], collapse
                       repeats), which is timed too and may return fewer columns than the canvas has.
    semi_nar_k2 / _k4  BANG `generate(decoding_mode="semi_nar", semi_nar_block_size=k)`: k tokens per decoder step.
    semi_nar_verify_k2 / _k4
                       BANG `generate(decoding_mode="semi_nar", semi_nar_acceptance="verify", semi_nar_block_size=k)`:
                       lossless (greedy AR's output), 1 to k tokens per decoder pass; the report gives the mean
                       tokens accepted per pass (`tokens_per_pass`, the mean over the batch's rows).
                       Semi-NAR rows need k <= config.ngram (`generate` refuses more): random-weight shapes are built
                       with ngram = the largest k that runs (the number of streams does not change the weights), a
                       `--model` must have been trained with them.
    ar_greedy          BANG `generate(decoding_mode="ar", num_beams=1)`.
    ar_beam4           BANG `generate(decoding_mode="ar", num_beams=4)`.
    ar_assisted        BANG greedy AR with transformers' assisted decoding, a smaller BANG as `assistant_model`
                       (`--assistant_model`, or by default a random one with the same dimensions and a third of the
                       layers, at least one); transformers assists one row at a time, so a batch is decoded row by
                       row.
    prophetnet_greedy  transformers `ProphetNetForConditionalGeneration.generate(num_beams=1)` with the same
                       dimensions and `ngram=1`: BANG's AR flow is ProphetNet with one predicting stream, so this is
                       the like-for-like AR peer.
    one_pass_floor     one BANG forward `model(input_ids, attention_mask, mode="nar", canvas_length=N)`: the
                       encoder plus one NAR decoder pass at the same shapes, i.e. the least work NAR can do.
AR, semi-NAR and ProphetNet get `min_new_tokens = max_new_tokens = --new_tokens`, so every method produces the
same number of tokens (random weights would otherwise stop at a random [SEP]); `--free_length` lets them stop at
[SEP] (for a trained `--model` on real `--source_file` text, where the lossless and assisted speed-ups are
measured: what random weights accept says nothing about a trained model; a random model often repeats one
token, which its streams then propose correctly).

Ratios (from the same run, per shape and batch size; each is a ratio of median wall times):
    AR beam 4 / NAR           the NAR speed-up over AR beam 4; target >= 10x at batch 1 on bang-base.
    AR greedy / NAR           the NAR speed-up over greedy AR (information only).
    NAR / one-pass floor      NAR's overhead over the forward pass it runs; target <= 1.15.
    AR greedy / ProphetNet    ours against the transformers peer; target <= 1.0 (ours no slower).
    semi-NAR k / NAR          cost of semi-NAR relative to NAR (information only).
    AR greedy / verify k      the lossless speed-up over greedy AR, same output (information only).
    AR greedy / assisted      the assisted-decoding speed-up over greedy AR, same output (information only).

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
from transformers import AutoTokenizer, ProphetNetForConditionalGeneration

from modeling_bang import BangConfig, BangForConditionalGeneration

from . import common
from .common import DTYPES, Ratio, prophetnet_config


# name -> builder of the BANG config; the ProphetNet peer copies its dimensions (`prophetnet_config`).
SHAPES: dict[str, Callable[[], BangConfig]] = {
    "bang-base": lambda: BangConfig.from_preset("bang-base"),
    "small": lambda: BangConfig.from_preset("bang-base", **common.SMALL_SHAPE),
    "tiny": lambda: BangConfig.from_preset("tiny"),
}
# The shape name of a trained model timed with `--model` (its own config, in place of `--shapes`).
MODEL_SHAPE = "model"


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
    model: Path | None = None
    assistant_model: Path | None = None
    source_file: Path | None = None
    free_length: bool = False


@dataclass(frozen=True)
class Method:
    description: str
    model: str  # "bang", "prophetnet" or "assisted" (BANG and its assistant)
    run: Callable[[Any, dict[str, torch.Tensor], int, bool], Any]  # (model, inputs, new tokens, free length)
    # Expected second dimension of the output for N new tokens: "forced" = exactly N + 1 (decoder start token and N
    # tokens; at most N + 1 with `--free_length`), "nar" = at most N + 1 (the NAR post-processing cuts at [SEP] and
    # collapses repeats; the canvas always has N positions), "logits" = exactly N canvas positions.
    output: str = "forced"
    # The predicting streams the method needs (its `semi_nar_block_size`, at most `config.ngram`), else 0.
    streams: int = 0


def _bang_generate(**options) -> Callable:
    def run(model, inputs, new_tokens, free_length):
        return model.generate(**inputs, max_new_tokens=new_tokens, **options)

    return run


def _forced_length(**options) -> Callable:
    """`generate` forced to exactly `new_tokens` tokens (min = max), so that untrained weights never stop early;
    with `--free_length` only `max_new_tokens` is set."""

    def run(model, inputs, new_tokens, free_length):
        lengths = (
            {"max_new_tokens": new_tokens}
            if free_length
            else {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens}
        )
        return model.generate(**inputs, **lengths, **options)

    return run


def _verify(block_size: int) -> Callable:
    """Lossless semi-NAR decoding; the dict output carries the acceptance statistics (`tokens_per_pass`)."""
    return _forced_length(
        decoding_mode="semi_nar",
        semi_nar_acceptance="verify",
        semi_nar_block_size=block_size,
        return_dict_in_generate=True,
    )


def _assisted(models, inputs, new_tokens, free_length):
    """Greedy AR with a smaller BANG as transformers' `assistant_model`, one row at a time (transformers' assisted
    decoding takes batch size 1); the rows are right-padded to one tensor."""
    main, assistant = models
    run = _forced_length(decoding_mode="ar", num_beams=1, do_sample=False, assistant_model=assistant)
    rows = []
    for i in range(inputs["input_ids"].shape[0]):
        real = inputs["attention_mask"][i].bool()
        rows.append(run(main, {"input_ids": inputs["input_ids"][i : i + 1, real]}, new_tokens, free_length)[0])
    width = max(row.shape[0] for row in rows)
    pad = main.config.pad_token_id
    return torch.stack([torch.nn.functional.pad(row, (0, width - row.shape[0]), value=pad) for row in rows])


def _one_pass_floor(model, inputs, new_tokens, free_length):
    return model(**inputs, mode="nar", canvas_length=new_tokens).logits


METHODS: dict[str, Method] = {
    "nar": Method(
        "BANG NAR: encoder + one decoder pass over the canvas", "bang", _bang_generate(decoding_mode="nar"), "nar"
    ),
    "semi_nar_k2": Method(
        "BANG semi-NAR, 2 tokens per step",
        "bang",
        _forced_length(decoding_mode="semi_nar", semi_nar_block_size=2),
        streams=2,
    ),
    "semi_nar_k4": Method(
        "BANG semi-NAR, 4 tokens per step",
        "bang",
        _forced_length(decoding_mode="semi_nar", semi_nar_block_size=4),
        streams=4,
    ),
    "semi_nar_verify_k2": Method(
        "BANG lossless semi-NAR (verify), up to 2 tokens per pass", "bang", _verify(2), streams=2
    ),
    "semi_nar_verify_k4": Method(
        "BANG lossless semi-NAR (verify), up to 4 tokens per pass", "bang", _verify(4), streams=4
    ),
    "ar_greedy": Method("BANG AR, greedy", "bang", _forced_length(decoding_mode="ar", num_beams=1, do_sample=False)),
    "ar_beam4": Method(
        "BANG AR, beam search with 4 beams", "bang", _forced_length(decoding_mode="ar", num_beams=4, do_sample=False)
    ),
    "ar_assisted": Method(
        "BANG AR greedy, assisted by a smaller BANG (transformers assisted decoding, row by row)",
        "assisted",
        _assisted,
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
    Ratio(
        "ar_greedy_over_semi_nar_verify_k2", "greedy/verify k2", "lossless speed-up k=2", "ar_greedy",
        "semi_nar_verify_k2",
    ),
    Ratio(
        "ar_greedy_over_semi_nar_verify_k4", "greedy/verify k4", "lossless speed-up k=4", "ar_greedy",
        "semi_nar_verify_k4",
    ),
    Ratio("ar_greedy_over_ar_assisted", "greedy/assisted", "assisted speed-up", "ar_greedy", "ar_assisted"),
]  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Models and inputs
# ---------------------------------------------------------------------------------------------------------------


def assistant_config(config: BangConfig) -> BangConfig:
    """The default assistant of `ar_assisted`: `config` with a third of the encoder and decoder layers (at least
    one), so the same vocabulary, dimensions and special ids."""
    settings = config.to_dict()
    for name in ("encoder_layers", "decoder_layers"):
        settings[name] = max(1, settings[name] // 3)
    return BangConfig(**{k: v for k, v in settings.items() if k not in ("model_type", "transformers_version")})


def shape_config(shape: str, model_path: Path | None = None) -> BangConfig:
    """The config of a `--shapes` name, or of the `--model` folder for `MODEL_SHAPE`."""
    if shape == MODEL_SHAPE:
        return BangConfig.from_pretrained(model_path)
    return SHAPES[shape]()


def build_models(
    shape: str,
    need: set[str],
    device: torch.device,
    dtype: torch.dtype,
    seed: int,
    streams: int = 0,
    model_path: Path | None = None,
    assistant_path: Path | None = None,
) -> dict[str, Any]:
    """The models the methods `need`: "bang" (random weights of `shape`, built with at least `streams` predicting
    streams for the semi-NAR rows, or the trained `model_path`), "prophetnet" (random, the same dimensions) and
    "assisted" (the BANG model and its assistant: `assistant_path`, or random weights of `assistant_config`)."""
    models: dict[str, Any] = {}
    if shape == MODEL_SHAPE:
        bang = BangForConditionalGeneration.from_pretrained(model_path).to(device=device, dtype=dtype).eval()
        config = bang.config
    else:
        config = SHAPES[shape]()
        # The number of streams only sets how many predicting streams `mode="ngram"` and semi-NAR use; no weights.
        config.ngram = max(config.ngram, streams)
        bang = None
        if need & {"bang", "assisted"}:
            torch.manual_seed(seed)
            bang = BangForConditionalGeneration(config).to(device=device, dtype=dtype).eval()
    models["config"] = config
    if need & {"bang", "assisted"}:
        models["bang"] = bang
    if "assisted" in need:
        if assistant_path is not None:
            assistant = BangForConditionalGeneration.from_pretrained(assistant_path)
        else:
            torch.manual_seed(seed + 1)
            assistant = BangForConditionalGeneration(assistant_config(config))
        models["assisted"] = (bang, assistant.to(device=device, dtype=dtype).eval())
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


def read_sources(path: Path) -> list[str]:
    """The non-empty lines of a `--source_file`, one source text each."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise ValueError(f"{path} holds no source text (one source per line).")
    return lines


def text_inputs(
    tokenizer, texts: list[str], batch_size: int, source_length: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """The first `batch_size` texts (cycled when there are fewer), tokenized with the model's tokenizer, truncated
    to `source_length` tokens and right-padded."""
    batch = [texts[i % len(texts)] for i in range(batch_size)]
    encoded = tokenizer(batch, truncation=True, max_length=source_length, padding=True, return_tensors="pt")
    return {"input_ids": encoded["input_ids"].to(device), "attention_mask": encoded["attention_mask"].to(device)}


# ---------------------------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------------------------


def summarize(
    shape: str,
    batch_size: int,
    method: str,
    seconds: list[float],
    output: Any,
    new_tokens: int,
    free_length: bool = False,
) -> dict[str, Any]:
    sequences = output.sequences if hasattr(output, "sequences") else output
    output_shape = list(sequences.shape)
    output_length = output_shape[1] if len(output_shape) > 1 else -1
    expected = METHODS[method].output
    tokens_per_pass = getattr(output, "tokens_per_pass", None)
    if expected == "forced" and not free_length:
        length_ok = output_length == new_tokens + 1
    elif expected in ("forced", "nar"):
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
        # Lossless semi-NAR rows: the mean over the rows of the tokens accepted per decoder pass, and the passes.
        "tokens_per_pass": None if tokens_per_pass is None else float(tokens_per_pass.float().mean()),
        "decoder_passes": None if tokens_per_pass is None else int(output.decoder_passes.max()),
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
        + (f"trained model {settings['model']}" if settings.get("model") else "random weights")
        + ("; outputs stop at [SEP]." if settings.get("free_length") else "; lengths forced (min = max)."),
        "tok/pass = mean tokens accepted per decoder pass (lossless semi-NAR rows; meaningful for a trained --model "
        "only).",
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
        "tok/pass",
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
                "-" if m.get("tokens_per_pass") is None else f"{m['tokens_per_pass']:.2f}",
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
        "forced": ("at most" if settings.get("free_length") else "exactly") + " {n} + 1 (start token) columns",
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
    streams = max(METHODS[name].streams for name in methods)
    texts = tokenizer = None
    if args.source_file is not None:
        texts, tokenizer = read_sources(args.source_file), AutoTokenizer.from_pretrained(args.model)
    grid = [(shape, batch, method) for shape in args.shapes for batch in args.batch_sizes for method in methods]
    measurements: list[dict[str, Any]] = []
    with (
        common.transformers_errors_only(),
        torch.inference_mode(),
        tqdm(total=len(grid), disable=args.no_progress, unit="cell") as progress,
    ):
        for shape in args.shapes:
            progress.set_description(f"building {shape}")
            models = build_models(shape, need, device, dtype, args.seed, streams, args.model, args.assistant_model)
            for batch_size in args.batch_sizes:
                if texts is not None:
                    inputs = text_inputs(tokenizer, texts, batch_size, args.source_length, device)
                else:
                    inputs = make_inputs(models["config"], batch_size, args.source_length, args.seed, device)
                for name in methods:
                    progress.set_description(f"{shape} b{batch_size} {name}")
                    method = METHODS[name]
                    model = models[method.model]

                    def call(method=method, model=model, inputs=inputs):
                        return method.run(model, inputs, args.new_tokens, args.free_length)

                    seconds, output = common.time_calls(call, args.warmup, args.repeats, device)
                    measurements.append(
                        summarize(shape, batch_size, name, seconds, output, args.new_tokens, args.free_length)
                    )
                    progress.update()
            del models
            common.free_cuda_cache(device)

    results = {
        "machine": common.machine_info(device, args.dtype),
        **common.run_record(args, arguments, "bang_spmd.cli.benchmark"),
        "notes": [
            (f"Trained model {args.model}" if args.model else "Random weights")
            + (
                "; outputs stop at [SEP] (at most new_tokens tokens)"
                if args.free_length
                else "; AR, semi-NAR and ProphetNet are forced to exactly new_tokens tokens "
                "(min_new_tokens = max_new_tokens)"
            )
            + "; NAR fills a new_tokens-slot canvas.",
            "semi_nar_verify_k*: lossless semi-NAR decoding (greedy AR's output); tokens_per_pass is the mean over "
            "the rows of the tokens accepted per decoder pass; with random weights it says nothing about a trained "
            "model (the speed-up is measured on a trained n-stream model with --model and --source_file).",
            "ar_assisted: transformers assisted decoding with a smaller BANG as assistant_model, row by row.",
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
