"""Latency of BANG's NAR decoding for deployment: eager, compiled and exported, measured side by side in one run.

    bang-benchmark-deploy [--shape bang-base] [--batch_sizes 1 32] [--device cpu|cuda] \\
        [--methods generate eager compiled exported] [--source_length 64] [--canvas_length 30] \\
        [--warmup 2] [--repeats 5] [--threads N] --output_dir DIR

Methods (random weights, which is fine for timing; every one decodes the same batch):
    generate     `model.generate(decoding_mode="nar", max_new_tokens=canvas)` in eager mode: the NAR pass plus the
                 official post-processing and generate's argument handling (what a Python server runs today).
    eager        `model.nar_decode` in eager mode: encoder, one decoder pass, argmax; the one-pass floor of eager
                 decoding.
    compiled     `torch.compile(model.nar_decode, fullgraph=True)` (inductor, static shapes).
    cudagraphs   (CUDA) `torch.compile(model.nar_decode, fullgraph=True, mode="reduce-overhead")`: inductor with
                 CUDA graphs, which remove the kernel-launch overhead that dominates batch 1.
    exported     the ONNX graph of `bang_spmd.deploy.onnx_export` run by onnxruntime (CPU execution provider; on
                 CUDA only when onnxruntime has the CUDA provider).
Default: generate eager compiled exported on CPU, generate eager compiled cudagraphs on CUDA.

What is measured, per batch size: the wall time of one call on the same (batch, source_length) input, as the median,
min and max over `--repeats` rounds after `--warmup` untimed ones; a round calls every method once, in rotating order,
so that the methods share the machine's state (this matters on a shared CPU). The export happens before the rounds
(`setup_s`) and compilation in each method's first call (`first_call_s`); neither is timed in the rounds. On CUDA
the clock is read after `torch.cuda.synchronize()`.
Every method's canvas (or sequences, for `generate`) is checked to equal the eager one token for token.

Ratios (of median wall times, same run): `generate / method` (speed-up over eager generate) and `eager / method`
(speed-up over the eager one-pass floor), and the time per sample (median / batch size). Target on a GPU of the
H100/H200 class, BANG-base shape: NAR at batch 1 at most 3 ms per sample (`gpu_target`).

Outputs in `--output_dir`: `results.json` (machine, settings, command, every timed call, summaries, ratios, checks)
and `results.md` (the tables).
"""

import json
import os
import platform
import shlex
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import transformers

from bang_spmd.benchmarks.common import cpu_model
from bang_spmd.deploy import onnx_export
from modeling_bang import BangConfig, BangForConditionalGeneration


SHAPES: dict[str, Callable[[], BangConfig]] = {
    "bang-base": lambda: BangConfig.from_preset("bang-base"),
    "small": lambda: BangConfig.from_preset(
        "bang-base",
        hidden_size=256,
        encoder_layers=3,
        decoder_layers=3,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=1024,
        decoder_ffn_dim=1024,
    ),
    "tiny": lambda: BangConfig.from_preset("tiny"),
}
METHODS = ("generate", "eager", "compiled", "cudagraphs", "exported")
DEFAULT_METHODS = {
    "cpu": ("generate", "eager", "compiled", "exported"),
    "cuda": ("generate", "eager", "compiled", "cudagraphs"),
}
GPU_TARGET_MS = 3.0


def make_batch(config: BangConfig, batch: int, length: int, seed: int, device: str):
    """Random ordinary ids ending with [SEP]; rows after the first up to a quarter shorter, right-padded."""
    generator = torch.Generator().manual_seed(seed)
    low = max(config.pad_token_id, config.eos_token_id, config.cls_token_id or 0) + 1
    input_ids = torch.randint(low, config.vocab_size, (batch, length), generator=generator)
    lengths = torch.full((batch,), length)
    if batch > 1:
        lengths[1:] = length - torch.randint(0, max(length // 4, 1), (batch - 1,), generator=generator)
    attention_mask = (torch.arange(length)[None] < lengths[:, None]).long()
    input_ids[torch.arange(batch), lengths - 1] = config.eos_token_id
    input_ids = input_ids.masked_fill(attention_mask.eq(0), config.pad_token_id)
    return input_ids.to(device), attention_mask.to(device)


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def build_methods(model, args, export_dir: Path) -> tuple[dict[str, Callable], dict[str, float]]:
    """The callables `f(input_ids, attention_mask) -> ids` of the chosen methods and their setup seconds."""
    canvas = args.canvas_length
    methods: dict[str, Callable] = {}
    setup: dict[str, float] = {}
    for name in args.methods:
        start = time.perf_counter()
        if name == "generate":
            methods[name] = lambda ids, mask: model.generate(
                ids, attention_mask=mask, decoding_mode="nar", nar_canvas="max_new_tokens", max_new_tokens=canvas
            )
        elif name == "eager":
            methods[name] = lambda ids, mask: model.nar_decode(ids, mask, canvas)
        elif name in ("compiled", "cudagraphs"):
            mode = "reduce-overhead" if name == "cudagraphs" else None
            compiled = torch.compile(model.nar_decode, fullgraph=True, dynamic=False, mode=mode)
            methods[name] = lambda ids, mask, f=compiled: f(ids, mask, canvas)
        elif name == "exported":
            providers = ("CPUExecutionProvider",)
            if args.device == "cuda":
                import onnxruntime

                if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                    raise SystemExit("--methods exported on CUDA needs onnxruntime with the CUDA execution provider")
                providers = ("CUDAExecutionProvider",)
            onnx_export.export_nar_onnx(
                model.cpu() if args.device == "cpu" else model, export_dir, canvas, args.source_length
            )
            decoder = onnx_export.OnnxNarDecoder(export_dir, providers=providers, threads=args.threads)
            methods[name] = lambda ids, mask, d=decoder: torch.from_numpy(
                d.canvas(ids.cpu().numpy(), mask.cpu().numpy())
            ).to(ids.device)
        setup[name] = time.perf_counter() - start
    return methods, setup


def run_batch(model, methods: dict[str, Callable], args, batch: int) -> dict[str, Any]:
    """Warm-up (compiles), checks every method against eager, then `--repeats` rotating rounds."""
    input_ids, attention_mask = make_batch(model.config, batch, args.source_length, args.seed + batch, args.device)
    names = list(methods)
    with torch.no_grad():
        reference = model.nar_decode(input_ids, attention_mask, args.canvas_length)
        reference_sequences = model.generate(
            input_ids,
            attention_mask=attention_mask,
            decoding_mode="nar",
            nar_canvas="max_new_tokens",
            max_new_tokens=args.canvas_length,
        )
        first_call, checks = {}, {}
        for name in names:
            start = time.perf_counter()
            out = methods[name](input_ids, attention_mask)
            synchronize(args.device)
            first_call[name] = time.perf_counter() - start
            expected = reference_sequences if name == "generate" else reference
            checks[name] = bool(torch.equal(out.to(expected.device), expected))
        seconds: dict[str, list[float]] = {name: [] for name in names}
        for round_index in range(args.warmup + args.repeats):
            order = names[round_index % len(names) :] + names[: round_index % len(names)]
            for name in order:
                synchronize(args.device)
                start = time.perf_counter()
                methods[name](input_ids, attention_mask)
                synchronize(args.device)
                if round_index >= args.warmup:
                    seconds[name].append(time.perf_counter() - start)
    summary = {}
    for name in names:
        median = statistics.median(seconds[name])
        summary[name] = {
            "seconds": seconds[name],
            "median_ms": 1000 * median,
            "min_ms": 1000 * min(seconds[name]),
            "max_ms": 1000 * max(seconds[name]),
            "per_sample_ms": 1000 * median / batch,
            "first_call_s": first_call[name],
            "equals_eager": checks[name],
        }
    ratios = {}
    for base in ("generate", "eager"):
        if base in summary:
            ratios[f"{base}_over"] = {
                name: summary[base]["median_ms"] / summary[name]["median_ms"] for name in names if name != base
            }
    return {"batch_size": batch, "methods": summary, "ratios": ratios}


def machine_info(args) -> dict[str, Any]:
    info = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device == "cuda" else cpu_model(),
    }
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        info["onnxruntime"] = None
    return info


def markdown(results: dict[str, Any]) -> str:
    settings = results["settings"]
    lines = [
        f"# NAR deployment benchmark: {settings['shape']} on {results['machine']['device_name']} "
        f"({settings['device']})",
        "",
        f"Source {settings['source_length']} tokens, canvas {settings['canvas_length']}, median of "
        f"{settings['repeats']} rounds after {settings['warmup']} warm-up rounds; "
        f"torch {results['machine']['torch']}, {results['machine']['torch_threads']} threads.",
        "",
        f"Command: `{results['command']}`",
        "",
    ]
    for cell in results["batches"]:
        lines += [
            f"## Batch {cell['batch_size']}",
            "",
            "| method | median ms | ms / sample | x vs generate | x vs eager pass | setup s | first call s "
            "| equals eager |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for name, m in cell["methods"].items():
            over_generate = cell["ratios"].get("generate_over", {}).get(name, 1.0 if name == "generate" else None)
            over_eager = cell["ratios"].get("eager_over", {}).get(name, 1.0 if name == "eager" else None)
            cells = [f"{x:.2f}" if x is not None else "-" for x in (over_generate, over_eager)]
            lines.append(
                f"| {name} | {m['median_ms']:.2f} | {m['per_sample_ms']:.3f} | {cells[0]} | {cells[1]} | "
                f"{results['setup_s'].get(name, 0.0):.1f} | {m['first_call_s']:.1f} | "
                f"{'yes' if m['equals_eager'] else 'NO'} |"
            )
        lines.append("")
    if results.get("gpu_target"):
        target = results["gpu_target"]
        lines.append(
            f"GPU target: NAR batch 1 <= {target['target_ms']} ms per sample: best {target['best_method']} "
            f"{target['best_ms']:.2f} ms ({target['status']})."
        )
    return "\n".join(lines) + "\n"


def run_benchmark(args, argv: list[str]) -> dict[str, Any]:
    """Runs the benchmark of `args` (the parsed flags of `bang-benchmark-deploy`; `argv` is recorded with them),
    writes `results.json` and `results.md` to `args.output_dir` and returns the results."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = BangForConditionalGeneration(SHAPES[args.shape]()).eval().to(args.device)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as export_dir:
        methods, setup = build_methods(model, args, Path(export_dir))
        batches = [run_batch(model, methods, args, batch) for batch in args.batch_sizes]
    results: dict[str, Any] = {
        "machine": machine_info(args),
        "settings": {k: v for k, v in vars(args).items() if k != "output_dir"},
        "command": "bang-benchmark-deploy " + shlex.join(argv),
        "argv": list(argv),
        "setup_s": setup,
        "batches": batches,
    }
    if args.device == "cuda" and args.shape == "bang-base" and 1 in args.batch_sizes:
        cell = next(c for c in batches if c["batch_size"] == 1)
        best = min(cell["methods"], key=lambda n: cell["methods"][n]["per_sample_ms"])
        best_ms = cell["methods"][best]["per_sample_ms"]
        results["gpu_target"] = {
            "target_ms": GPU_TARGET_MS,
            "best_method": best,
            "best_ms": best_ms,
            "status": "MET" if best_ms <= GPU_TARGET_MS else "MISSED",
        }
    (output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (output_dir / "results.md").write_text(table)
    print(table)
    return results
