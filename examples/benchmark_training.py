"""Training throughput of BANG's NAR step, the SPMD step and Hugging Face ProphetNet's step, side by side.

    HF_HUB_OFFLINE=1 python examples/benchmark_training.py \\
        [--shapes small bang-base tiny] [--methods plain_nar spmd spmd_random_mix prophetnet] [--device cuda|cpu] \\
        [--batch_size 32] [--source_length 64] [--target_length 16] [--threads N] [--warmup 2] [--repeats 5] \\
        [--output_dir outputs/benchmark_training]

What is measured, for every (shape, method): the wall time of one optimizer step on one fixed batch (forward with the
loss, backward, `AdamW.step()` with lr 1e-4, `zero_grad`), as the median, min and max over `--repeats` timed steps
after `--warmup` untimed ones, with `torch.cuda.synchronize()` before each clock read on CUDA. The models are in
train mode with their configured dropout (0.1). Throughput is the number of gold target tokens of the batch (labels
other than -100) divided by the median step time, for every method, so tokens/s compare the cost of learning from
the same data whatever extra references a method scores.

Methods (random weights; every method gets its own freshly seeded model and optimizer, built after the previous
method's are freed, so optimizer state never carries over and only one model is in memory at a time):
    plain_nar        BANG in NAR mode on the gold targets:
                     `model(input_ids, attention_mask, labels=gold, mode="nar").loss.backward()`.
    spmd             one Self-Paced Mixed Distillation step: `SPMDTrainer.compute_loss(model, batch,
                     num_items_in_batch=<gold tokens>)` then backward, with K = 1 distilled reference per example,
                     `mixing_strategy="select"` (both references are decoded, the one with the lower loss is trained)
                     and `self_paced_scheme="hard"`. The batch comes from `SPMDDataCollator`, whose
                     `distilled_labels` (B, 1, T) have the length distribution of the gold targets.
    spmd_random_mix  the same with `mixing_strategy="random_mix"`, `distilled_ratio=0.5` (one reference decoded per
                     example; information only).
    prophetnet       transformers `ProphetNetForConditionalGeneration` with BANG's dimensions, `ngram=1` and the same
                     label smoothing (`eps = config.label_smoothing`): `model(input_ids, attention_mask,
                     labels=gold, use_cache=False).loss.backward()`. Its decoder runs a main stream and one predicting
                     stream (2T positions); BANG's NAR decoder runs only the T predicting positions.
A forward hook on the encoder (`model.get_encoder()`) counts encoder calls per step, and one on the decoder counts
the decoder rows (scored references) per step: SPMD must run the encoder once per example however many references
it scores (`encoder_sample_index`), so its encoder calls per step must be 1 and its batch rows those of the encoder.

Shapes: `small` (hidden 256, 3+3 layers, 4 heads, FFN 1024, vocab 8000: the vocabulary of this project's small CPU
models), `bang-base` (768 hidden, 6+6 layers, 12 heads, FFN 3072, vocab 30522; slow on a CPU) and `tiny` (the
test-suite preset).

Ratios (from the same run, per shape; each is a ratio of median step times):
    spmd / plain_nar              SPMD's overhead over plain NAR training; target <= 1.5.
    plain_nar / prophetnet        BANG's NAR step against the transformers peer; target <= 1.0 (no slower).
    spmd_random_mix / plain_nar   information only.
plus the check "encoder calls per SPMD step == 1" for every SPMD method that ran.

Outputs in `--output_dir`: `results.json` (machine information with the load average, settings, the command line,
every timed step, the summaries, ratios, checks and targets). Timings on a CPU shared with other processes are noisy:
the load average before and after the run is recorded for that reason.
"""

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import ProphetNetConfig, ProphetNetForConditionalGeneration

from modeling_bang import BangConfig, BangForConditionalGeneration
from trainers.spmd_trainer import DISTILLED_LABELS, SPMDDataCollator, SPMDTrainer, SPMDTrainingArguments


SMALL_SHAPE = {
    "vocab_size": 8000,
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
    "small": lambda: BangConfig.from_preset("bang-base", **SMALL_SHAPE),
    "bang-base": lambda: BangConfig.from_preset("bang-base"),
    "tiny": lambda: BangConfig.from_preset("tiny"),
}

LEARNING_RATE = 1e-4
SPMD_MAX_STEPS = 100_000  # the pace's horizon: step 0 of a long run, so the hard pace admits half of each batch


@dataclass(frozen=True)
class Method:
    description: str
    model: str  # "bang" or "prophetnet"
    mixing_strategy: str | None = None  # SPMD methods only


METHODS: dict[str, Method] = {
    "plain_nar": Method("BANG NAR step on the gold targets", "bang"),
    "spmd": Method("SPMD step, K=1, mixing_strategy=select, self_paced_scheme=hard", "bang", "select"),
    "spmd_random_mix": Method(
        "SPMD step, K=1, mixing_strategy=random_mix (ratio 0.5), self_paced_scheme=hard", "bang", "random_mix"
    ),
    "prophetnet": Method("transformers ProphetNet step (ngram=1, same dimensions)", "prophetnet"),
}


@dataclass(frozen=True)
class Ratio:
    key: str  # field name in results.json
    column: str  # table heading
    label: str  # sentence in the targets list
    numerator: str
    denominator: str
    target: float | None = None  # an upper bound ("<=") where set


RATIOS = [
    Ratio("spmd_over_plain_nar", "spmd/NAR", "SPMD step / plain NAR step", "spmd", "plain_nar", 1.5),
    Ratio(
        "plain_nar_over_prophetnet",
        "NAR/ProphetNet",
        "plain NAR step no slower than ProphetNet's (plain NAR / ProphetNet)",
        "plain_nar",
        "prophetnet",
        1.0,
    ),
    Ratio(
        "spmd_random_mix_over_plain_nar",
        "random_mix/NAR",
        "SPMD random_mix step / plain NAR step",
        "spmd_random_mix",
        "plain_nar",
    ),
]

ENCODER_CHECK = "encoder_calls_per_spmd_step"


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
        prog="benchmark_training.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shapes",
        nargs="+",
        choices=list(SHAPES),
        default=["small"],
        help="model shapes: small (256 hidden, 3+3 layers, 4 heads, FFN 1024, vocab 8000), bang-base (768 hidden, "
        "6+6 layers, 12 heads, FFN 3072, vocab 30522; slow on a CPU), tiny (the test-suite preset). Default: small",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        default=list(METHODS),
        help="methods to time (default: all). Ratios whose methods are not selected are reported as null",
    )
    parser.add_argument("--batch_size", type=_positive_int, default=32, help="examples per step (default: 32)")
    parser.add_argument(
        "--source_length",
        type=_positive_int,
        default=64,
        help="source tokens per example (random ordinary ids ending with [SEP]); row 0 has this many, the others "
        "up to a quarter fewer, right-padded (default: 64)",
    )
    parser.add_argument(
        "--target_length",
        type=_positive_int,
        default=16,
        help="target tokens per example including [SEP], gold and distilled alike; row 0 has this many, the others "
        "up to a quarter fewer, padded with -100 (default: 16)",
    )
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="device (default: cuda when available, else cpu)",
    )
    parser.add_argument(
        "--threads", type=_positive_int, default=None, help="torch.set_num_threads(N) (default: torch's own)"
    )
    parser.add_argument(
        "--warmup", type=_non_negative_int, default=2, help="untimed steps before timing, per method (default: 2)"
    )
    parser.add_argument("--repeats", type=_positive_int, default=5, help="timed steps per method (default: 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights and batch (default: 0)")
    parser.add_argument(
        "--output_dir",
        type=Path,
        default=Path("outputs/benchmark_training"),
        help="where results.json goes (default: outputs/benchmark_training)",
    )
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda was requested but CUDA is not available")
    args.shapes = list(dict.fromkeys(args.shapes))
    args.methods = list(dict.fromkeys(args.methods))
    if args.source_length < 2:
        parser.error("--source_length must be at least 2 (one token and [SEP])")
    if args.target_length < 2:
        parser.error("--target_length must be at least 2 (one token and [SEP]; SPMD refuses empty targets)")
    for name in args.shapes:
        limit = SHAPES[name]().max_position_embeddings
        if args.source_length > limit or args.target_length > limit:
            parser.error(
                f"shape {name!r} holds at most {limit} source and target positions; got --source_length "
                f"{args.source_length} and --target_length {args.target_length}"
            )
    return args


# ---------------------------------------------------------------------------------------------------------------
# Models and batch
# ---------------------------------------------------------------------------------------------------------------


def prophetnet_config(config: BangConfig) -> ProphetNetConfig:
    """The ProphetNet peer of a BANG shape: same dimensions, dropout and label smoothing, one predicting stream.

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
        dropout=config.dropout,
        attention_dropout=config.attention_dropout,
        activation_dropout=config.activation_dropout,
        eps=config.label_smoothing,
        pad_token_id=config.pad_token_id,
        eos_token_id=config.eos_token_id,
        decoder_start_token_id=config.decoder_start_token_id,
        bos_token_id=None,
    )


def build_model(config: BangConfig, kind: str, device: torch.device, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    if kind == "bang":
        model = BangForConditionalGeneration(config)
    else:
        model = ProphetNetForConditionalGeneration(prophetnet_config(config))
    return model.to(device).train()


def first_ordinary_id(config: BangConfig) -> int:
    """Lowest id of an ordinary token: 999 in a vocabulary of at least 2000 ids (BERT-uncased keeps 0-998 for
    [PAD], [unused*], [UNK], [CLS], [SEP], [MASK]); otherwise the id after the special ids (the tiny vocabulary's
    0-3 are PAD CLS SEP MASK)."""
    if config.vocab_size >= 2000:
        return 999
    return max(config.pad_token_id, config.eos_token_id, config.decoder_start_token_id, 3) + 1


def _lengths(batch_size: int, longest: int, generator: torch.Generator) -> list[int]:
    """Row 0 has `longest` tokens, the others between a quarter fewer (at least 2) and `longest`."""
    lengths = torch.full((batch_size,), longest)
    if batch_size > 1:
        shortest = max(2, longest - longest // 4)
        lengths[1:] = torch.randint(shortest, longest + 1, (batch_size - 1,), generator=generator)
    return lengths.tolist()


def make_features(
    config: BangConfig, batch_size: int, source_length: int, target_length: int, seed: int
) -> list[dict[str, Any]]:
    """Tokenized examples as `SPMDDataCollator` takes them: random ordinary ids, each sequence ending with [SEP].

    Gold and distilled targets are drawn independently with the same length distribution (row 0 of each has
    `target_length` tokens), so the collated canvas is `target_length` long.
    """
    generator = torch.Generator().manual_seed(seed)
    low, high, eos = first_ordinary_id(config), config.vocab_size, config.eos_token_id

    def sequence(length: int) -> list[int]:
        return torch.randint(low, high, (length - 1,), generator=generator).tolist() + [eos]

    sources = _lengths(batch_size, source_length, generator)
    golds = _lengths(batch_size, target_length, generator)
    distilled = _lengths(batch_size, target_length, generator)
    return [
        {"input_ids": sequence(s), "labels": sequence(g), DISTILLED_LABELS: [sequence(d)]}
        for s, g, d in zip(sources, golds, distilled, strict=True)
    ]


def make_batch(
    config: BangConfig, batch_size: int, source_length: int, target_length: int, seed: int, device: torch.device
) -> dict[str, torch.Tensor]:
    features = make_features(config, batch_size, source_length, target_length, seed)
    batch = SPMDDataCollator(config.pad_token_id, config.eos_token_id)(features)
    return {name: tensor.to(device) for name, tensor in batch.items()}


def make_spmd_trainer(
    model: BangForConditionalGeneration, mixing_strategy: str, device: torch.device, output_dir: str
) -> SPMDTrainer:
    """An SPMDTrainer around `model` whose `compute_loss` is called directly (no data set, no `train()`)."""
    # What an SPMD run sets anyway; doing it here keeps the trainer from warning about it.
    model.config.default_mode = "nar"
    model.generation_config.decoding_mode = "nar"
    args = SPMDTrainingArguments(
        output_dir=output_dir,
        use_cpu=device.type == "cpu",
        report_to=[],
        max_steps=SPMD_MAX_STEPS,
        save_strategy="no",
        disable_tqdm=True,
        learning_rate=LEARNING_RATE,
        mixing_strategy=mixing_strategy,
        distilled_ratio=0.5,
        self_paced_scheme="hard",
    )
    collator = SPMDDataCollator(model.config.pad_token_id, model.config.eos_token_id)
    trainer = SPMDTrainer(model=model, args=args, data_collator=collator)
    trainer.state.global_step = 0
    trainer.state.max_steps = SPMD_MAX_STEPS
    return trainer


def make_step(
    name: str, model: torch.nn.Module, batch: dict[str, torch.Tensor], device: torch.device, scratch: str
) -> Callable[[], torch.Tensor]:
    """One optimizer step of method `name` on `batch`; returns the detached loss."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    gold = {key: batch[key] for key in ("input_ids", "attention_mask", "labels")}
    method = METHODS[name]

    if method.mixing_strategy is not None:
        trainer = make_spmd_trainer(model, method.mixing_strategy, device, scratch)
        # What the Trainer passes: the gold target tokens of the (here single) micro-batch.
        num_items = batch["labels"].ne(-100).sum()

        def loss_fn():
            return trainer.compute_loss(model, batch, num_items_in_batch=num_items)

    elif method.model == "bang":

        def loss_fn():
            return model(**gold, mode="nar").loss

    else:

        def loss_fn():
            return model(**gold, use_cache=False).loss

    def step():
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    return step


class CallCounter:
    """Counts forward calls of a module and the rows (batch size) of its first output."""

    def __init__(self, module: torch.nn.Module):
        self.calls = 0
        self.rows = 0
        self._handle = module.register_forward_hook(self._hook)

    def _hook(self, module, args, output) -> None:
        self.calls += 1
        first = output if torch.is_tensor(output) else output[0]  # a ModelOutput skips its None fields
        self.rows += first.shape[0]

    def reset(self) -> None:
        self.calls = self.rows = 0

    def remove(self) -> None:
        self._handle.remove()


def decoder_of(model: torch.nn.Module) -> torch.nn.Module:
    return model.model.decoder if isinstance(model, BangForConditionalGeneration) else model.prophetnet.decoder


# ---------------------------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------------------------


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(
    step: Callable[[], torch.Tensor], warmup: int, repeats: int, device: torch.device, counters: list[CallCounter]
) -> tuple[list[float], torch.Tensor]:
    """Wall seconds of `repeats` steps after `warmup` untimed ones (the counters then cover the timed steps only);
    also the last loss."""
    loss = None
    for _ in range(warmup):
        loss = step()
    _synchronize(device)
    for counter in counters:
        counter.reset()
    seconds = []
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        loss = step()
        _synchronize(device)
        seconds.append(time.perf_counter() - start)
    return seconds, loss


def measure(
    shape: str,
    name: str,
    config: BangConfig,
    batch: dict[str, torch.Tensor],
    args: argparse.Namespace,
    device: torch.device,
) -> dict[str, Any]:
    method = METHODS[name]
    model = build_model(config, method.model, device, args.seed)
    encoder, decoder = CallCounter(model.get_encoder()), CallCounter(decoder_of(model))
    with tempfile.TemporaryDirectory(prefix="benchmark_training_") as scratch:
        step = make_step(name, model, batch, device, scratch)
        torch.manual_seed(args.seed)  # the same dropout masks' stream for every method
        seconds, loss = time_steps(step, args.warmup, args.repeats, device, [encoder, decoder])
    encoder.remove()
    decoder.remove()
    tokens = int(batch["labels"].ne(-100).sum())
    median = statistics.median(seconds)
    result = {
        "shape": shape,
        "method": name,
        "description": method.description,
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": seconds,
        "median_ms": 1000 * median,
        "min_ms": 1000 * min(seconds),
        "max_ms": 1000 * max(seconds),
        "gold_target_tokens": tokens,
        "tokens_per_s": tokens / median,
        "samples_per_s": batch["labels"].shape[0] / median,
        "encoder_calls_per_step": encoder.calls / args.repeats,
        "encoder_rows_per_step": encoder.rows / args.repeats,
        "decoder_rows_per_step": decoder.rows / args.repeats,
        "last_loss": float(loss),
    }
    del model, step
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def compute_ratios(measurements: list[dict[str, Any]], shapes: list[str]) -> list[dict[str, Any]]:
    medians = {(m["shape"], m["method"]): m["median_ms"] for m in measurements}
    rows = []
    for shape in shapes:
        row: dict[str, Any] = {"shape": shape, "targets": {}}
        for ratio in RATIOS:
            top, bottom = medians.get((shape, ratio.numerator)), medians.get((shape, ratio.denominator))
            value = top / bottom if top is not None and bottom else None
            row[ratio.key] = value
            if ratio.target is not None:
                status = "NOT RUN" if value is None else ("MET" if value <= ratio.target else "MISSED")
                row["targets"][ratio.key] = {"value": value, "target": f"<= {ratio.target}", "status": status}
        spmd = {
            m["method"]: m["encoder_calls_per_step"]
            for m in measurements
            if m["shape"] == shape and METHODS[m["method"]].mixing_strategy is not None
        }
        row[ENCODER_CHECK] = spmd
        if spmd:
            status = "MET" if all(calls == 1 for calls in spmd.values()) else "MISSED"
            row["targets"][ENCODER_CHECK] = {"value": spmd, "target": "== 1", "status": status}
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------


def _load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_info(device: torch.device) -> dict[str, Any]:
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
        "dtype": "float32",
        "load_average_before": _load_average(),
    }


def _format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(cell).rjust(width) for cell, width in zip(line, widths, strict=True)) for line in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def format_report(results: dict[str, Any]) -> str:
    settings, machine = results["settings"], results["machine"]
    out = [
        f"BANG training-step benchmark on {machine['device']} ({machine['device_name']}), float32, "
        f"{machine['torch_threads']} threads, torch {machine['torch']}, transformers {machine['transformers']}",
        f"batch {settings['batch_size']}, source length {settings['source_length']}, target length "
        f"{settings['target_length']} (other rows up to a quarter shorter), AdamW lr {LEARNING_RATE}, train mode "
        f"(dropout on); {settings['warmup']} warm-up + {settings['repeats']} timed steps per method (median, min, "
        "max); random weights.",
        "tokens/s = gold target tokens of the batch / median step time, for every method. prophetnet = transformers "
        "ProphetNetForConditionalGeneration with ngram=1 and BANG's dimensions.",
        f"load average (1, 5, 15 min) before {machine['load_average_before']}, after "
        f"{machine.get('load_average_after')}: other processes may share the CPU.",
        "",
    ]
    header = ["shape", "method", "median ms", "min ms", "max ms", "tokens/s", "samples/s", "enc calls", "dec rows"]
    rows = [
        [
            m["shape"],
            m["method"],
            f"{m['median_ms']:.1f}",
            f"{m['min_ms']:.1f}",
            f"{m['max_ms']:.1f}",
            f"{m['tokens_per_s']:.0f}",
            f"{m['samples_per_s']:.1f}",
            f"{m['encoder_calls_per_step']:g}",
            f"{m['decoder_rows_per_step']:g}",
        ]
        for m in results["measurements"]
    ]
    out += [_format_table(header, rows), "(enc calls, dec rows: encoder forward calls and decoder rows per step)", ""]

    header = ["shape"] + [ratio.column for ratio in RATIOS]
    rows = []
    for row in results["ratios"]:
        cells = [row["shape"]]
        for ratio in RATIOS:
            value = row[ratio.key]
            cell = "-" if value is None else f"{value:.2f}x"
            if ratio.key in row["targets"] and value is not None:
                cell += f" {row['targets'][ratio.key]['status']}"
            cells.append(cell)
        rows.append(cells)
    out += ["Ratios of median step time (same run):", _format_table(header, rows), ""]

    out.append("Targets:")
    for row in results["ratios"]:
        for ratio in RATIOS:
            if ratio.target is None:
                continue
            target = row["targets"][ratio.key]
            value = "not run" if target["value"] is None else f"{target['value']:.2f}x"
            out.append(
                f"  [{target['status']:>7}] {ratio.label}: {value} (target {target['target']}) on {row['shape']}"
            )
        if ENCODER_CHECK in row["targets"]:
            target = row["targets"][ENCODER_CHECK]
            calls = ", ".join(f"{name} {calls:g}" for name, calls in target["value"].items())
            out.append(
                f"  [{target['status']:>7}] encoder calls per SPMD step: {calls} (target == 1: the encoder runs "
                f"once per example however many references are scored) on {row['shape']}"
            )
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Runs the benchmark; `argv` defaults to the command line. Returns the content of results.json."""
    command_args = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(command_args)
    device = torch.device(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    machine = machine_info(device)

    measurements: list[dict[str, Any]] = []
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        for shape in args.shapes:
            config = SHAPES[shape]()
            batch = make_batch(config, args.batch_size, args.source_length, args.target_length, args.seed, device)
            for name in args.methods:
                print(f"{shape}: timing {name} ...", flush=True)
                measurements.append(measure(shape, name, config, batch, args, device))
                if args.threads is not None and torch.get_num_threads() != args.threads:
                    torch.set_num_threads(args.threads)  # in case building a trainer changed it
    finally:
        transformers.logging.set_verbosity(verbosity)
    machine["load_average_after"] = _load_average()

    settings = {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()}
    results = {
        "machine": machine,
        "settings": settings,
        "command": shlex.join([sys.executable, sys.argv[0] if argv is None else __file__, *command_args]),
        "argv": command_args,
        "notes": [
            "Random weights, train mode (dropout 0.1), AdamW lr 1e-4; one fixed batch for every method; every "
            "method starts from the same freshly seeded weights and a new optimizer.",
            "tokens_per_s counts the gold target tokens of the batch for every method (SPMD select scores the "
            "distilled reference too; that work is its overhead).",
            "spmd / spmd_random_mix: SPMDTrainer.compute_loss with K=1 distilled reference, self_paced_scheme=hard, "
            f"at global step 0 of max_steps={SPMD_MAX_STEPS} (the hard pace admits half of each batch).",
            "prophetnet: transformers ProphetNetForConditionalGeneration with ngram=1, BANG's dimensions, dropout "
            "and label smoothing (eps), use_cache=False.",
            "Ratios are ratios of the median wall time per step of two methods at the same shape.",
        ],
        "measurements": measurements,
        "ratios": compute_ratios(measurements, args.shapes),
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    results_path = args.output_dir / "results.json"
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    print(format_report(results))
    print(f"\nwrote {results_path}")
    return results


if __name__ == "__main__":
    main()
