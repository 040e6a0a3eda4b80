"""What the benchmarks share: the device, inputs, the ProphetNet peer, timing, ratios and targets, the report.

Used by `bang_spmd.benchmarks.generation` (`bang-benchmark`) and `bang_spmd.benchmarks.training`
(`bang-benchmark-training`); their command-line flags are in `bang_spmd.cli.benchmark_flags`.
"""

import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import ProphetNetConfig

from modeling_bang import BangConfig
from modeling_bang.convert_prophetnet_to_bang import PROPHETNET_TO_BANG_CONFIG


DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

# The `small` shape's overrides of the bang-base preset (256 hidden, 3+3 layers, 4 heads, FFN 1024).
SMALL_SHAPE = {
    "hidden_size": 256,
    "encoder_layers": 3,
    "decoder_layers": 3,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 1024,
    "decoder_ffn_dim": 1024,
}


def setup_device(args) -> torch.device:
    """The device of `args.device`; applies `args.threads` (torch.set_num_threads) where given."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    return torch.device(args.device)


# ---------------------------------------------------------------------------------------------------------------
# Models and inputs
# ---------------------------------------------------------------------------------------------------------------


def prophetnet_config(config: BangConfig) -> ProphetNetConfig:
    """The ProphetNet peer of a BANG shape: the config that `convert_prophetnet_to_bang` maps onto `config`, with one
    predicting stream (`ngram=1`). So it has BANG's dimensions, activation, dropouts, buckets, special ids and
    `eps = label_smoothing`.

    ProphetNet's position tables hold `max_position_embeddings` rows where BANG's hold `+ 1` (encoder) and `+ 2`
    (decoder), so the peer gets `pad_token_id + 2` more (two for the presets' pad id 0), as in the conversion.
    """
    settings = {name: getattr(config, field) for name, field in PROPHETNET_TO_BANG_CONFIG.items()}
    max_positions = config.max_position_embeddings + config.pad_token_id + 2
    return ProphetNetConfig(**settings, max_position_embeddings=max_positions, ngram=1)


def first_ordinary_id(config: BangConfig) -> int:
    """Lowest id of an ordinary token: 999 in a vocabulary of at least 2000 ids (BERT-uncased keeps 0-998 for
    [PAD], [unused*], [UNK], [CLS], [SEP], [MASK]); otherwise the id after the special ids (the tiny vocabulary's
    0-3 are PAD CLS SEP MASK)."""
    if config.vocab_size >= 2000:
        return 999
    return max(config.pad_token_id, config.eos_token_id, config.decoder_start_token_id, 3) + 1


def random_lengths(batch_size: int, longest: int, generator: torch.Generator) -> torch.Tensor:
    """Row 0 has `longest` tokens, the others between a quarter fewer (at least 2) and `longest`."""
    lengths = torch.full((batch_size,), longest)
    if batch_size > 1:
        shortest = max(2, longest - longest // 4)
        lengths[1:] = torch.randint(shortest, longest + 1, (batch_size - 1,), generator=generator)
    return lengths


# ---------------------------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------------------------


def synchronize(device: torch.device) -> None:
    """Waits for the device's queued work (CUDA only), so that a clock read covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free_cuda_cache(device: torch.device) -> None:
    """Returns cached CUDA memory (after a model is freed), so that the next one starts from the same state."""
    if device.type == "cuda":
        torch.cuda.empty_cache()


def time_calls(
    run: Callable[[], Any],
    warmup: int,
    repeats: int,
    device: torch.device,
    after_warmup: Callable[[], None] | None = None,
) -> tuple[list[float], Any]:
    """Wall seconds of `repeats` calls of `run` after `warmup` untimed ones, with the device synchronized before
    each clock read; also the last call's return. `after_warmup` (e.g. resetting counters) runs between the two."""
    output = None
    for _ in range(warmup):
        output = run()
    synchronize(device)
    if after_warmup is not None:
        after_warmup()
    seconds = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        output = run()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return seconds, output


def timing_fields(seconds: list[float]) -> dict[str, Any]:
    """The timed calls and their median, min and max in milliseconds, as results.json stores them."""
    return {
        "seconds": seconds,
        "median_ms": 1000 * statistics.median(seconds),
        "min_ms": 1000 * min(seconds),
        "max_ms": 1000 * max(seconds),
    }


@contextmanager
def transformers_errors_only() -> Iterator[None]:
    """transformers logs errors only inside the block (random models' generation-config chatter, once per call)."""
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(verbosity)


# ---------------------------------------------------------------------------------------------------------------
# Ratios and targets
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    """Median time of method `numerator` over that of `denominator` in one cell (shape, or shape and batch size)."""

    key: str  # field name in results.json
    column: str  # table heading
    label: str  # sentence in the targets list
    numerator: str
    denominator: str
    target: float | None = None
    op: str = "<="  # how the value must compare with `target`: ">=" or "<="
    applies: Callable[..., bool] = lambda *cell: True  # the cells the target is for


def target_status(value: float | None, target: float, op: str) -> str:
    """MET or MISSED (`value op target`), NOT RUN where the value is missing."""
    if value is None:
        return "NOT RUN"
    met = value >= target if op == ">=" else value <= target
    return "MET" if met else "MISSED"


def medians_by_cell(measurements: list[dict[str, Any]], cell_keys: Sequence[str]) -> dict[tuple, dict[str, float]]:
    """Median ms per cell (the values of `cell_keys` in a measurement) and method."""
    cells: dict[tuple, dict[str, float]] = {}
    for m in measurements:
        cells.setdefault(tuple(m[key] for key in cell_keys), {})[m["method"]] = m["median_ms"]
    return cells


def add_ratios(row: dict[str, Any], medians: Mapping[str, float], ratios: Sequence[Ratio], cell: tuple) -> None:
    """Sets `row[ratio.key]` for every ratio from the cell's medians per method (null where either method did not
    run), and `row["targets"][ratio.key]` (value, target, status) for every ratio whose target applies to `cell`."""
    for ratio in ratios:
        top, bottom = medians.get(ratio.numerator), medians.get(ratio.denominator)
        value = top / bottom if top is not None and bottom else None
        row[ratio.key] = value
        if ratio.target is not None and ratio.applies(*cell):
            row["targets"][ratio.key] = {
                "value": value,
                "target": f"{ratio.op} {ratio.target}",
                "status": target_status(value, ratio.target, ratio.op),
            }


# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else `platform.processor()`, else "cpu"."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def machine_info(device: torch.device, dtype: str) -> dict[str, Any]:
    """Python, platform, torch and transformers versions, the device and CPU names, CPU count, torch threads and
    the dtype, for results.json."""
    cpu_name = cpu_model()
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
        "dtype": dtype,
    }


def report_title(title: str, machine: dict[str, Any]) -> str:
    """`title` on the device, with its dtype, threads and library versions (the report's first line)."""
    return (
        f"{title} on {machine['device']} ({machine['device_name']}), {machine['dtype']}, "
        f"{machine['torch_threads']} threads, torch {machine['torch']}, transformers {machine['transformers']}"
    )


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Right-aligned columns with a dashed rule under the header."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(cell).rjust(width) for cell, width in zip(line, widths, strict=True)) for line in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def ratio_cells(row: dict[str, Any], ratios: Sequence[Ratio]) -> list[str]:
    """One table cell per ratio: `-` where not run, else the value (`1.23x`) and the target's status if any."""
    cells = []
    for ratio in ratios:
        value = row[ratio.key]
        cell = "-" if value is None else f"{value:.2f}x"
        if ratio.key in row["targets"] and value is not None:
            cell += f" {row['targets'][ratio.key]['status']}"
        cells.append(cell)
    return cells


def target_line(label: str, target: dict[str, Any], where: str) -> str:
    """`  [ STATUS] label: 1.23x (target <= 1.0) on where` (`not run` for a missing value)."""
    value = "not run" if target["value"] is None else f"{target['value']:.2f}x"
    return f"  [{target['status']:>7}] {label}: {value} (target {target['target']}) on {where}"


# ---------------------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------------------


def run_record(args, arguments: list[str], module: str) -> dict[str, Any]:
    """`settings` (every option of `args`, a dataclass; paths as strings), `command` (a shell line that reruns the
    benchmark: `python -m module arguments` with this Python) and `argv`."""
    settings = {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()}
    return {"settings": settings, "command": shlex.join([sys.executable, "-m", module, *arguments]), "argv": arguments}


def write_results(results: dict[str, Any], output_dir: Path) -> Path:
    """Writes `output_dir/results.json` (indented, with a final newline); returns its path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "results.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path
