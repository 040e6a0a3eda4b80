"""Training throughput of BANG's NAR step, the SPMD step and Hugging Face ProphetNet's step, side by side.

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
                     `mixing_strategy="select"` (both references are scored, the one with the lower loss is trained)
                     and `self_paced_scheme="hard"`. The batch comes from `SPMDDataCollator`, whose
                     `distilled_labels` (B, 1, T) have the length distribution of the gold targets.
    spmd_random_mix  the same with `mixing_strategy="random_mix"`, `distilled_ratio=0.5` (one reference trained per
                     example; information only).
    prophetnet       transformers `ProphetNetForConditionalGeneration` with BANG's dimensions, `ngram=1` and the same
                     label smoothing (`eps = config.label_smoothing`): `model(input_ids, attention_mask,
                     labels=gold, use_cache=False).loss.backward()`. Its decoder runs a main stream and one predicting
                     stream (2T positions); BANG's NAR decoder runs only the T predicting positions.
A forward hook on the encoder (`model.get_encoder()`) counts encoder calls per step, and one on the decoder counts
the decoder rows per step: SPMD runs the encoder and the decoder once per example however many references it scores
(a NAR prediction does not depend on the reference), so its encoder calls per step must be 1 and its decoder rows
the batch size.

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

import os
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import ProphetNetForConditionalGeneration

from bang_spmd.trainers.recipe import BangRecipeDefaults
from bang_spmd.trainers.spmd_trainer import (
    DISTILLED_LABELS,
    SPMDDataCollator,
    SPMDTrainer,
    SPMDTrainingArguments,
    as_nar_student,
)
from modeling_bang import BangConfig, BangForConditionalGeneration

from . import common
from .common import Ratio, prophetnet_config


# name -> builder of the BANG config; the ProphetNet peer copies its dimensions (`prophetnet_config`).
# The training programs' label smoothing (the ProphetNet peer copies it as `eps`).
SHAPES: dict[str, Callable[[], BangConfig]] = {
    # vocab 8000: the vocabulary of this project's small CPU models
    "small": lambda: BangConfig.from_preset(
        "bang-base", **common.SMALL_SHAPE, vocab_size=8000, label_smoothing=BangRecipeDefaults.label_smoothing_factor
    ),
    "bang-base": lambda: BangConfig.from_preset(
        "bang-base", label_smoothing=BangRecipeDefaults.label_smoothing_factor
    ),
    "tiny": lambda: BangConfig.from_preset("tiny", label_smoothing=BangRecipeDefaults.label_smoothing_factor),
}

LEARNING_RATE = 1e-4
SPMD_MAX_STEPS = 100_000  # the pace's horizon: step 0 of a long run, so the hard pace admits half of each batch


@dataclass
class TrainingBenchmark:
    """What to time (the flags of `bang-benchmark-training`, see the module docstring)."""

    shapes: list[str]
    methods: list[str]
    batch_size: int
    source_length: int
    target_length: int
    device: str
    threads: int | None
    warmup: int
    repeats: int
    seed: int
    output_dir: Path


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
# Models and batch
# ---------------------------------------------------------------------------------------------------------------


def build_model(config: BangConfig, kind: str, device: torch.device, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    if kind == "bang":
        model = BangForConditionalGeneration(config)
    else:
        model = ProphetNetForConditionalGeneration(prophetnet_config(config))
    return model.to(device).train()


def make_features(
    config: BangConfig, batch_size: int, source_length: int, target_length: int, seed: int
) -> list[dict[str, Any]]:
    """Tokenized examples as `SPMDDataCollator` takes them: random ordinary ids, each sequence ending with [SEP].

    Gold and distilled targets are drawn independently with the same length distribution (row 0 of each has
    `target_length` tokens), so the collated canvas is `target_length` long.
    """
    generator = torch.Generator().manual_seed(seed)
    low, high, eos = common.first_ordinary_id(config), config.vocab_size, config.eos_token_id

    def sequence(length: int) -> list[int]:
        return torch.randint(low, high, (length - 1,), generator=generator).tolist() + [eos]

    sources = common.random_lengths(batch_size, source_length, generator).tolist()
    golds = common.random_lengths(batch_size, target_length, generator).tolist()
    distilled = common.random_lengths(batch_size, target_length, generator).tolist()
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
    as_nar_student(model)  # what SPMDTrainer requires of its model
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


def measure(
    shape: str,
    name: str,
    config: BangConfig,
    batch: dict[str, torch.Tensor],
    args: TrainingBenchmark,
    device: torch.device,
) -> dict[str, Any]:
    method = METHODS[name]
    model = build_model(config, method.model, device, args.seed)
    encoder, decoder = CallCounter(model.get_encoder()), CallCounter(decoder_of(model))

    def reset_counters() -> None:  # so that the counts cover the timed steps only
        encoder.reset()
        decoder.reset()

    with tempfile.TemporaryDirectory(prefix="benchmark_training_") as scratch:
        step = make_step(name, model, batch, device, scratch)
        torch.manual_seed(args.seed)  # the same dropout masks' stream for every method
        seconds, loss = common.time_calls(step, args.warmup, args.repeats, device, after_warmup=reset_counters)
    encoder.remove()
    decoder.remove()
    tokens = int(batch["labels"].ne(-100).sum())
    median = statistics.median(seconds)
    result = {
        "shape": shape,
        "method": name,
        "description": method.description,
        "parameters": sum(p.numel() for p in model.parameters()),
        **common.timing_fields(seconds),
        "gold_target_tokens": tokens,
        "tokens_per_s": tokens / median,
        "samples_per_s": batch["labels"].shape[0] / median,
        "encoder_calls_per_step": encoder.calls / args.repeats,
        "encoder_rows_per_step": encoder.rows / args.repeats,
        "decoder_rows_per_step": decoder.rows / args.repeats,
        "last_loss": float(loss),
    }
    del model, step
    common.free_cuda_cache(device)
    return result


def compute_ratios(measurements: list[dict[str, Any]], shapes: list[str]) -> list[dict[str, Any]]:
    medians = common.medians_by_cell(measurements, ("shape",))
    rows = []
    for shape in shapes:
        row: dict[str, Any] = {"shape": shape, "targets": {}}
        common.add_ratios(row, medians.get((shape,), {}), RATIOS, (shape,))
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


def format_report(results: dict[str, Any]) -> str:
    settings, machine = results["settings"], results["machine"]
    out = [
        common.report_title("BANG training-step benchmark", machine),
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
    out += [
        common.format_table(header, rows),
        "(enc calls, dec rows: encoder forward calls and decoder rows per step)",
        "",
    ]

    header = ["shape"] + [ratio.column for ratio in RATIOS]
    rows = []
    for row in results["ratios"]:
        rows.append([row["shape"], *common.ratio_cells(row, RATIOS)])
    out += ["Ratios of median step time (same run):", common.format_table(header, rows), ""]

    out.append("Targets:")
    for row in results["ratios"]:
        for ratio in RATIOS:
            if ratio.target is None:
                continue
            out.append(common.target_line(ratio.label, row["targets"][ratio.key], row["shape"]))
        if ENCODER_CHECK in row["targets"]:
            target = row["targets"][ENCODER_CHECK]
            calls = ", ".join(f"{name} {calls:g}" for name, calls in target["value"].items())
            out.append(
                f"  [{target['status']:>7}] encoder calls per SPMD step: {calls} (target == 1: the encoder runs "
                f"once per example however many references are scored) on {row['shape']}"
            )
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------------------------------


def run_benchmark(args: TrainingBenchmark, arguments: list[str]) -> dict[str, Any]:
    """Runs the benchmark of `args`; `arguments` (the command line that asked for it) is recorded with the
    results. Returns the content of results.json."""
    device = common.setup_device(args)
    machine = {**common.machine_info(device, "float32"), "load_average_before": _load_average()}

    measurements: list[dict[str, Any]] = []
    with common.transformers_errors_only():
        for shape in args.shapes:
            config = SHAPES[shape]()
            batch = make_batch(config, args.batch_size, args.source_length, args.target_length, args.seed, device)
            for name in args.methods:
                print(f"{shape}: timing {name} ...", flush=True)
                measurements.append(measure(shape, name, config, batch, args, device))
                if args.threads is not None and torch.get_num_threads() != args.threads:
                    torch.set_num_threads(args.threads)  # in case building a trainer changed it
    machine["load_average_after"] = _load_average()

    results = {
        "machine": machine,
        **common.run_record(args, arguments, "bang_spmd.cli.benchmark_training"),
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
    results_path = common.write_results(results, args.output_dir)
    print(format_report(results))
    print(f"\nwrote {results_path}")
    return results
