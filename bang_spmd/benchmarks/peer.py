"""Training throughput of BANG against a public peer, fairseq's Transformer, on the same pairs, side by side.

    HF_HUB_OFFLINE=1 bang-benchmark-peer --data_file bang_spmd/quickstart_data/debtrans_sample/train.jsonl.gz \\
        --source_column en --target_column fr --tokenizer bang-mini --fairseq_python .venv-fairseq/bin/python \\
        [--updates 400] [--rounds 2] [--batch_size 64] [--threads 2] [--ngram 4] [--output_dir outputs/benchmark_peer]

The peer is fairseq 0.12 (`--arch transformer`), installed in a separate virtual environment (it is not a
dependency of this package): `python3 -m venv .venv-fairseq && .venv-fairseq/bin/pip install torch "numpy<2"
fairseq-fixed==0.12.3.1`. Both sides train the same shape (`--hidden_size`, `--layers`, `--heads`, `--ffn_dim`) on the
same sentence pairs, tokenized with the same WordPiece tokenizer, in batches of `--batch_size` sentences of similar
length in random order (fairseq's own length-bucketed batching; for BANG the batch order of its training recipe,
`bang_spmd.trainers.batching.length_bucket_order`), with Adam, dropout 0.1 on the residuals and embeddings and no
attention or activation dropout (fairseq's defaults), label smoothing 0.1, `--threads` CPU threads. The BANG steps
run in this process with the memory setting of BANG's training programs (`bang_spmd.trainers.allocator`); fairseq
runs in its own process with its defaults.

Measured, per round (rounds alternate fairseq and BANG to share the machine's drift):
    fairseq       `fairseq-train` for `--updates` updates; the steady-state updates/s is the mean of its `ups`
                  logged over every 50-update interval after the first;
    bang_ar       BANG's AR flow (`mode="ar"`: main stream + one predicting stream), same number of steps;
    bang_ngram    BANG's n-stream flow (`mode="ngram"`, `--ngram` streams: the semi-NAR fine-tuning step);
    bang_nar      BANG's NAR flow (`mode="nar"`; information);
each BANG step is forward with the loss, backward, gradient clipping and `AdamW.step()`; steps/s is measured after
`--warmup` untimed steps. Ratios: fairseq updates/s divided by BANG's steps/s, median over rounds (targets: at most
1.5 for AR, 1.1 for NAR, 2.5 for the 4-stream n-stream step). `results.json` in `--output_dir` holds every figure,
the machine and the command line.
"""

import gzip
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from bang_spmd.benchmarks.common import cpu_model
from bang_spmd.trainers.allocator import reuse_freed_memory
from bang_spmd.trainers.batching import length_bucket_order
from bang_spmd.trainers.model_setup import load_pretrained_tokenizer
from modeling_bang import BangConfig, BangForConditionalGeneration


BANG_METHODS = ("bang_ar", "bang_ngram", "bang_nar")
# fairseq updates/s over BANG steps/s (the n-stream target is for 4 streams).
TARGET_RATIOS = {"fairseq_over_bang_ar": 1.5, "fairseq_over_bang_nar": 1.1, "fairseq_over_bang_ngram": 2.5}
LOG_INTERVAL = 50


def read_pairs(path: Path, source: str, target: str, where: str | None) -> list[tuple[str, str]]:
    """(source, target) texts of a JSON Lines file (gzip-compressed when its name ends with .gz, as the embedded
    quickstart samples), optionally only the rows whose `COLUMN` equals `VALUE`."""
    if where is not None and "=" not in where:
        raise ValueError(f"--where must be COLUMN=VALUE, got {where!r}.")
    column, _, value = (where or "").partition("=")
    pairs = []
    with gzip.open(path, "rt", encoding="utf-8") if str(path).endswith(".gz") else open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            row = json.loads(line)
            for name in (source, target, *([column] if where else [])):
                if name not in row:
                    raise ValueError(f"{path}:{number} has no {name!r} column (columns: {sorted(row)}).")
            if where is None or str(row[column]) == value:
                pairs.append((row[source], row[target]))
    if not pairs:
        raise ValueError(f"No pair of {path} matches --where {where!r}.")
    return pairs


def recipe_batches(pairs_ids: list[tuple[list[int], list[int]]], batch_size: int, seed: int) -> list[list[int]]:
    """The batches of BANG's training recipe: `length_bucket_order` of the (source, target) lengths, cut into
    batches of `batch_size` examples."""
    order = length_bucket_order(
        [len(s) for s, _ in pairs_ids], [len(t) for _, t in pairs_ids], batch_size, torch.Generator().manual_seed(seed)
    )
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def fairseq_updates_per_second(args, workdir: Path, round_index: int) -> dict:
    """Runs `fairseq-train` (arch `transformer`, the shape of `args`) and reads its steady-state updates/s."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    dims = [
        "--encoder-layers", str(args.layers), "--decoder-layers", str(args.layers),
        "--encoder-embed-dim", str(args.hidden_size), "--decoder-embed-dim", str(args.hidden_size),
        "--encoder-ffn-embed-dim", str(args.ffn_dim), "--decoder-ffn-embed-dim", str(args.ffn_dim),
        "--encoder-attention-heads", str(args.heads), "--decoder-attention-heads", str(args.heads),
    ]  # fmt: skip
    command = [
        str(args.fairseq_python), "-m", "fairseq_cli.train", str(workdir / "bin"), "--arch", "transformer", *dims,
        "--share-all-embeddings", "--dropout", "0.1", "--criterion", "label_smoothed_cross_entropy",
        "--label-smoothing", "0.1", "--optimizer", "adam", "--lr", str(args.learning_rate),
        "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "200", "--batch-size", str(args.batch_size),
        "--max-update", str(args.updates), "--log-interval", str(LOG_INTERVAL), "--log-format", "simple",
        "--no-save", "--disable-validation", "--num-workers", "0", "--cpu", "--seed", str(args.seed + round_index),
    ]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"fairseq-train failed:\n{result.stderr[-3000:]}")
    intervals = fairseq_interval_rates(result.stdout + result.stderr)
    steady = intervals[1:]
    return {"steps_per_second": statistics.mean(steady), "intervals": intervals, "wall_seconds": wall}


def fairseq_interval_rates(log: str) -> list[float]:
    """The updates/s of every `train_inner` line of a fairseq training log (one per `--log-interval` updates); a
    RuntimeError quoting the log's end when it has fewer than two (the first interval includes the start-up)."""
    intervals = [float(x) for x in re.findall(r"train_inner \|.*?ups=([\d.]+)", log)]
    if len(intervals) < 2:
        raise RuntimeError(f"Could not read fairseq's updates/s per interval from its log:\n{log[-2000:]}")
    return intervals


def write_fairseq_data(pairs: list[tuple[str, str]], tokenizer, workdir: Path, fairseq_python: Path) -> None:
    """Space-separated WordPiece tokens, binarised with one joined dictionary by `fairseq-preprocess`."""
    raw = workdir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for index, side in ((0, "src"), (1, "tgt")):
        with open(raw / f"train.{side}", "w", encoding="utf-8") as f:
            for pair in pairs:
                f.write(" ".join(tokenizer.tokenize(pair[index])) + "\n")
    command = [
        str(fairseq_python), "-m", "fairseq_cli.preprocess", "--source-lang", "src", "--target-lang", "tgt",
        "--trainpref", str(raw / "train"), "--destdir", str(workdir / "bin"), "--joined-dictionary",
        "--workers", "1",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"fairseq-preprocess failed:\n{result.stderr[-3000:]}")


def bang_steps_per_second(args, config: BangConfig, batches: list[dict[str, torch.Tensor]], mode: str) -> dict:
    """`--updates` optimizer steps of BANG in `mode` on `batches` (cycled); steps/s after `--warmup` steps."""
    torch.manual_seed(args.seed)
    model = BangForConditionalGeneration(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate)
    elapsed = 0.0
    for step in range(args.warmup + args.updates):
        batch = batches[step % len(batches)]
        started = time.perf_counter()
        loss = model(**batch, mode=mode).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= args.warmup:
            elapsed += time.perf_counter() - started
    return {"steps_per_second": args.updates / elapsed, "seconds": elapsed}


def collate(pairs_ids: list[tuple[list[int], list[int]]], indices: list[int], pad: int) -> dict[str, torch.Tensor]:
    sources = [pairs_ids[i][0] for i in indices]
    targets = [pairs_ids[i][1] for i in indices]
    input_ids = torch.full((len(indices), max(map(len, sources))), pad, dtype=torch.long)
    labels = torch.full((len(indices), max(map(len, targets))), -100, dtype=torch.long)
    for row, (source, target) in enumerate(zip(sources, targets, strict=True)):
        input_ids[row, : len(source)] = torch.tensor(source)
        labels[row, : len(target)] = torch.tensor(target)
    return {"input_ids": input_ids, "attention_mask": input_ids.ne(pad).long(), "labels": labels}


def run_peer_benchmark(args, argv: list[str]) -> dict:
    """Runs the benchmark of `args` (the parsed flags of `bang-benchmark-peer`; `argv` is recorded with them), writes
    `results.json` to `args.output_dir` and returns the results."""
    torch.set_num_threads(args.threads)
    tokenizer = load_pretrained_tokenizer(args.tokenizer, "--tokenizer")
    pairs = read_pairs(args.data_file, args.source_column, args.target_column, args.where)
    encoded_sources = tokenizer([p[0] for p in pairs])["input_ids"]
    encoded_targets = tokenizer([p[1] for p in pairs])["input_ids"]
    pairs_ids = list(zip(encoded_sources, encoded_targets, strict=True))
    longest = max(max(map(len, encoded_sources)), max(map(len, encoded_targets)))
    config = BangConfig.from_preset(
        "bang-base",
        vocab_size=len(tokenizer),
        hidden_size=args.hidden_size,
        encoder_layers=args.layers,
        decoder_layers=args.layers,
        encoder_attention_heads=args.heads,
        decoder_attention_heads=args.heads,
        encoder_ffn_dim=args.ffn_dim,
        decoder_ffn_dim=args.ffn_dim,
        max_position_embeddings=max(64, longest),
        ngram=args.ngram,
        dropout=0.1,
        attention_dropout=0.0,
        activation_dropout=0.0,
        label_smoothing=0.1,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id,
        decoder_start_token_id=tokenizer.sep_token_id,
        cls_token_id=tokenizer.cls_token_id,
    )
    batches = [
        collate(pairs_ids, indices, tokenizer.pad_token_id)
        for indices in recipe_batches(pairs_ids, args.batch_size, args.seed)[: args.warmup + args.updates]
    ]
    memory_reused = reuse_freed_memory()
    rounds = []
    with tempfile.TemporaryDirectory() as workdir:
        write_fairseq_data(pairs, tokenizer, Path(workdir), args.fairseq_python)
        for round_index in range(args.rounds):
            print(f"round {round_index + 1}/{args.rounds}: fairseq", flush=True)
            figures = {"fairseq": fairseq_updates_per_second(args, Path(workdir), round_index)}
            for method in BANG_METHODS:
                print(f"round {round_index + 1}/{args.rounds}: {method}", flush=True)
                figures[method] = bang_steps_per_second(args, config, batches, method.split("_", 1)[1])
            rounds.append(figures)
    median = {m: statistics.median(r[m]["steps_per_second"] for r in rounds) for m in ("fairseq", *BANG_METHODS)}
    ratios = {
        f"fairseq_over_{m}": statistics.median(
            r["fairseq"]["steps_per_second"] / r[m]["steps_per_second"] for r in rounds
        )
        for m in BANG_METHODS
    }
    results = {
        "command": "bang-benchmark-peer " + shlex.join(argv),
        "machine": {"platform": platform.platform(), "processor": cpu_model(), "cpus": os.cpu_count(),
                    "threads": args.threads, "torch": torch.__version__, "load_average": os.getloadavg(),
                    "bang_reuses_freed_memory": memory_reused},
        "settings": {k: str(v) for k, v in vars(args).items()},
        "pairs": len(pairs),
        "rounds": rounds,
        "median_steps_per_second": median,
        "ratios": ratios,
        "target": TARGET_RATIOS,
    }  # fmt: skip
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "results.json").write_text(json.dumps(results, indent=2))
    print(f"{'method':<12} {'steps/s':>8}  fairseq / method")
    for method in ("fairseq", *BANG_METHODS):
        ratio = ratios.get(f"fairseq_over_{method}")
        print(f"{method:<12} {median[method]:8.2f}  {'' if ratio is None else f'{ratio:.2f}x'}")
    return results


__all__ = [
    "BANG_METHODS",
    "TARGET_RATIOS",
    "bang_steps_per_second",
    "fairseq_interval_rates",
    "recipe_batches",
    "read_pairs",
    "run_peer_benchmark",
]
