"""The recipe sweep: `bang-finetune` runs of candidate training recipes on the debtrans synopses, scored on validation.

    python examples/scripts/recipe_sweep.py --mode ar --inits random bang-mini --candidates old plain buckets \\
        --seeds 1 2 --steps 400 --jobs 2 --output_dir examples/results/recipe

Every run is one `bang-finetune` command (recorded in its result) on the quickstart's embedded debtrans sample
(17,120 training synopses), batch 64, one CPU thread, a checkpoint every `--eval_every` steps. Each checkpoint is then
scored on the sample's 200 validation synopses: the negative log-likelihood in nats per sentence without label
smoothing (stream 0 for `ngram`), and the outputs of greedy AR decoding (`ar`, `ngram`) or one NAR pass (`nar`):
BLEU, chrF, distinct outputs, the output/reference length ratio in words, and the share of outputs repeating a word
trigram. `runs/<mode>-<init>-<candidate>-s<seed>.json` holds the curve, the command and the machine; a run whose file
exists is skipped, so an interrupted sweep continues where it stopped. The checkpoints are deleted once scored.
`--tabulate` prints the table of every finished run (mean and spread over seeds) and writes `results.md`;
`--time_orders 1000 4 --threads 2` times AR steps on random batches and on length buckets with sorting windows of
1,000 and 4 batches (nothing else should run), written to `batch_order_speed.json`.
"""

import argparse
import concurrent.futures
import functools
import gzip
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "bang_spmd" / "quickstart_data" / "debtrans_sample"
SWEEP_STEPS = 400  # a run of another length has its steps in its name
# Candidate recipes: bang-finetune flags over the common ones. `old` is the programs' recipe before the sweep.
CANDIDATES = {
    "old": "--learning_rate 2e-3 --lr_scheduler_type linear --warmup_steps 0.1 --weight_decay 0 "
    "--label_smoothing_factor 0.1 --train_sampling_strategy group_by_length",
    "plain": "--learning_rate 1e-3 --lr_scheduler_type constant_with_warmup --warmup_steps 200 --weight_decay 0.01 "
    "--label_smoothing_factor 0 --train_sampling_strategy random",
    "buckets": "--learning_rate 1e-3 --lr_scheduler_type constant_with_warmup --warmup_steps 200 --weight_decay 0.01 "
    "--label_smoothing_factor 0 --train_sampling_strategy length_buckets",
    "invsqrt": "--learning_rate 1e-3 --lr_scheduler_type inverse_sqrt --warmup_steps 200 --weight_decay 0.01 "
    "--label_smoothing_factor 0 --train_sampling_strategy length_buckets",
    "invsqrt-ls": "--learning_rate 1e-3 --lr_scheduler_type inverse_sqrt --warmup_steps 200 --weight_decay 0.01 "
    "--label_smoothing_factor 0.1 --train_sampling_strategy length_buckets",
    "invsqrt-2e-3": "--learning_rate 2e-3 --lr_scheduler_type inverse_sqrt --warmup_steps 200 --weight_decay 0.01 "
    "--label_smoothing_factor 0 --train_sampling_strategy length_buckets",
    "invsqrt-noclip": "--learning_rate 1e-3 --lr_scheduler_type inverse_sqrt --warmup_steps 200 --weight_decay 0.01 "
    "--label_smoothing_factor 0 --train_sampling_strategy length_buckets --max_grad_norm 0",
    "buckets-ls": "--learning_rate 1e-3 --lr_scheduler_type constant_with_warmup --warmup_steps 200 "
    "--weight_decay 0.01 --label_smoothing_factor 0.1 --train_sampling_strategy length_buckets",
    # Batch orders, compared at equal training time (steps in proportion to each order's measured steps/s).
    "order-random": "--learning_rate 1e-3 --lr_scheduler_type inverse_sqrt --warmup_steps 200 --weight_decay 0.01 "
    "--label_smoothing_factor 0.1 --train_sampling_strategy random",
    "order-w4": "--learning_rate 1e-3 --lr_scheduler_type inverse_sqrt --warmup_steps 200 --weight_decay 0.01 "
    "--label_smoothing_factor 0.1 --train_sampling_strategy length_buckets --length_buckets_window 4",
    "order-sorted": "--learning_rate 1e-3 --lr_scheduler_type inverse_sqrt --warmup_steps 200 --weight_decay 0.01 "
    "--label_smoothing_factor 0.1 --train_sampling_strategy length_buckets --length_buckets_window 1000",
    # The initialisation of a new model (with the recipe): BERT's 0.02 (the official BANG's) is small for 128 hidden.
    "init-0.05": "--init_std 0.05",
    "init-0.09": "--init_std 0.09",
    "default": "",  # the programs' defaults (bang_spmd.trainers.recipe.BangRecipeDefaults)
}


def read_sample(split: str) -> Path:
    """The embedded sample's split as a plain JSON Lines file in a temporary folder (bang-finetune reads .jsonl)."""
    folder = Path(tempfile.gettempdir()) / "bang-recipe-sweep-data"
    folder.mkdir(exist_ok=True)
    path = folder / f"{split}.jsonl"
    if not path.is_file():
        path.write_bytes(gzip.decompress((SAMPLE / f"{split}.jsonl.gz").read_bytes()))
    return path


@functools.cache
def random_init_flags() -> list[str]:
    """The flags of a randomly initialised model of BANG-mini's shape, with its tokenizer."""
    from transformers import AutoConfig

    from bang_spmd.experiments.settings import command_line
    from bang_spmd.pretrained import resolve_model_name
    from bang_spmd.trainers.model_setup import ModelShape

    shape = ModelShape.like(AutoConfig.from_pretrained(resolve_model_name("bang-mini")))
    return [*shlex.split(command_line("", shape))[1:], "--tokenizer_name_or_path", "bang-mini"]


def finetune_command(mode: str, init: str, candidate: str, seed: int, steps: int, eval_every: int, out: Path):
    start = random_init_flags() if init == "random" else ["--model_name_or_path", init]
    return [
        "bang-finetune", "--task", "debtrans", "--mode", mode, *start,
        "--train_file", str(read_sample("train")), "--output_dir", str(out), "--overwrite_output_dir",
        "--max_steps", str(steps), "--per_device_train_batch_size", "64", "--seed", str(seed),
        "--save_strategy", "steps", "--save_steps", str(eval_every), "--logging_steps", "20", "--report_to", "none",
        "--dataloader_pin_memory", "False", *shlex.split(CANDIDATES[candidate]),
    ]  # fmt: skip


def score_checkpoint(checkpoint: Path, mode: str) -> dict:
    """NLL per validation sentence (no smoothing) and the decoded outputs' quality of one checkpoint."""
    from bang_spmd.evaluation import Decoding, SplitEvaluation, evaluate_split
    from bang_spmd.trainers.model_setup import load_pretrained_model, load_pretrained_tokenizer

    validation = read_sample("validation")
    rows = [json.loads(line) for line in validation.read_text(encoding="utf-8").splitlines()]
    model = load_pretrained_model(str(checkpoint), "--model").eval()
    model.config.label_smoothing = 0.0
    tokenizer = load_pretrained_tokenizer(str(checkpoint), "--model")
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(rows), 50):
            batch = rows[start : start + 50]
            source = tokenizer([r["en"] for r in batch], padding=True, truncation=True, max_length=48,
                               return_tensors="pt")  # fmt: skip
            labels = tokenizer([r["fr"] for r in batch], padding=True, truncation=True, max_length=48,
                               return_tensors="pt")["input_ids"]  # fmt: skip
            labels = labels.masked_fill(labels.eq(tokenizer.pad_token_id), -100)
            out = model(**source, labels=labels, mode="ar" if mode == "ngram" else mode, return_token_log_probs=True)
            total -= out.token_log_probs.sum().item()
    decoding = Decoding(decoding_mode="nar" if mode == "nar" else "ar", max_new_tokens=48)
    with tempfile.TemporaryDirectory() as folder:
        predictions_file = Path(folder) / "predictions.jsonl"
        result = evaluate_split(
            SplitEvaluation(
                model=str(checkpoint),
                data_file=str(validation),
                source_columns="en",
                target_column="fr",
                max_source_length=48,
                decoding=decoding,
                batch_size=50,
                device="cpu",
                output_file=predictions_file,
                meteor="no",
            )  # fmt: skip
        )
        outputs = [json.loads(line) for line in predictions_file.read_text(encoding="utf-8").splitlines()]
    words = [o["prediction"].split() for o in outputs]
    return {
        "nll_per_sentence": total / len(rows),
        "bleu": result["bleu4"],
        "chrf": result["chrf"],
        "distinct_outputs": result["distinct_outputs"],
        "samples": result["samples"],
        "length_ratio": sum(map(len, words)) / sum(len(o["reference"].split()) for o in outputs),
        "repeated_trigram_share": sum(has_repeated_trigram(w) for w in words) / len(words),
        "examples": [o["prediction"] for o in outputs[:3]],
    }


def has_repeated_trigram(words: list[str]) -> bool:
    trigrams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    return len(trigrams) != len(set(trigrams))


def run_one(mode: str, init: str, candidate: str, seed: int, args) -> Path:
    steps = "" if args.steps == SWEEP_STEPS else f"-{args.steps}steps"  # runs longer or shorter than the sweep's
    name = f"{mode}-{'random' if init == 'random' else Path(init).name}-{candidate}{steps}-s{seed}"
    result_file = args.output_dir / "runs" / f"{name}.json"
    if result_file.is_file():
        return result_file
    out = Path(tempfile.gettempdir()) / "bang-recipe-sweep" / name
    command = finetune_command(mode, init, candidate, seed, args.steps, args.eval_every, out)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "HF_HUB_OFFLINE": "1"}  # fmt: skip
    log_file = Path(tempfile.gettempdir()) / "bang-recipe-sweep" / f"{name}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with open(log_file, "w") as log:
        status = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - began
    if status != 0:
        raise RuntimeError(f"{name} failed (exit {status}); see {log_file}")
    curve = []
    for checkpoint in sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])):
        scored = subprocess.run(
            [sys.executable, __file__, "--score", str(checkpoint), "--mode", mode],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        if scored.returncode != 0:
            raise RuntimeError(f"scoring {checkpoint} failed:\n{scored.stderr[-2000:]}")
        curve.append({"step": int(checkpoint.name.split("-")[1]), **json.loads(scored.stdout.splitlines()[-1])})
    losses = [json.loads(line)["loss"] for line in read_log_history(out)]
    record = {
        "name": name, "mode": mode, "init": init, "candidate": candidate, "flags": CANDIDATES[candidate],
        "seed": seed, "steps": args.steps, "threads": args.threads, "train_seconds": seconds,
        "command": shlex.join(command), "train_loss": losses, "curve": curve,
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "torch": torch.__version__},
    }  # fmt: skip
    result_file.parent.mkdir(parents=True, exist_ok=True)
    result_file.write_text(json.dumps(record, indent=2, ensure_ascii=False))
    shutil.rmtree(out)
    final = curve[-1]
    print(f"{name}: nll {final['nll_per_sentence']:.1f} bleu {final['bleu']:.2f} distinct {final['distinct_outputs']}"
          f" ({seconds:.0f} s)", flush=True)  # fmt: skip
    return result_file


def read_log_history(out: Path) -> list[str]:
    state = out / "trainer_state.json"
    history = json.loads(state.read_text())["log_history"] if state.is_file() else []
    return [json.dumps(h) for h in history if "loss" in h]


def tabulate(output_dir: Path) -> str:
    """Markdown table of every finished run: per (mode, init, candidate, steps), the last checkpoint's scores as
    mean ± spread (half the range) over seeds, and the seeds' values."""
    groups: dict[tuple, list[dict]] = {}
    for path in sorted((output_dir / "runs").glob("*.json")):
        record = json.loads(path.read_text())
        groups.setdefault((record["mode"], record["init"], record["candidate"], record["steps"]), []).append(record)
    lines = [
        "| mode | start | candidate | steps | seeds | NLL / sentence | BLEU | chrF | distinct / 200 | length ratio | "
        "repeated trigram |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (mode, init, candidate, steps), records in sorted(groups.items()):
        finals = [r["curve"][-1] for r in records]

        def cell(key, digits=2, finals=finals):
            values = [f[key] for f in finals]
            spread = (max(values) - min(values)) / 2
            return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}"

        lines.append(
            f"| {mode} | {Path(init).name} | {candidate} | {steps} | "
            f"{','.join(str(r['seed']) for r in records)} | {cell('nll_per_sentence', 1)} | {cell('bleu')} | "
            f"{cell('chrf', 1)} | {cell('distinct_outputs', 0)} | {cell('length_ratio')} | "
            f"{cell('repeated_trigram_share')} |"
        )
    table = "\n".join(lines)
    (output_dir / "results.md").write_text(table + "\n")
    return table


def time_batch_orders(threads: int, windows: list[int], steps: int = 30) -> list[dict]:
    """AR training steps/s of a random BANG of BANG-mini's shape on batches of 64 training synopses in random order
    and in length buckets with each sorting window, after 5 untimed steps, with the training programs' memory
    setting; and each order's padding (tokens of the padded batches over the examples' tokens)."""
    import random

    from transformers import AutoConfig, AutoTokenizer

    from bang_spmd.pretrained import resolve_model_name
    from bang_spmd.trainers.allocator import reuse_freed_memory
    from bang_spmd.trainers.batching import length_bucket_order
    from bang_spmd.trainers.seq2seq_data import pad_sources
    from modeling_bang import BangForConditionalGeneration

    torch.set_num_threads(threads)
    reuse_freed_memory()
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_name("bang-mini"))
    rows = [json.loads(line) for line in read_sample("train").read_text(encoding="utf-8").splitlines()]
    sources, targets = tokenizer([r["en"] for r in rows])["input_ids"], tokenizer([r["fr"] for r in rows])["input_ids"]
    orders = {"random": random.Random(0).sample(range(len(rows)), len(rows))}
    for window in windows:
        generator = torch.Generator().manual_seed(0)
        orders[f"length buckets, window {window}"] = length_bucket_order(
            [len(x) for x in sources], [len(y) for y in targets], 64, generator, window
        )
    config = AutoConfig.from_pretrained(resolve_model_name("bang-mini"))
    found = []
    for name, order in orders.items():
        batches = [order[i : i + 64] for i in range(0, 64 * (steps + 5), 64)]
        padded = sum(len(b) * (max(len(sources[i]) for i in b) + max(len(targets[i]) for i in b)) for b in batches)
        real = sum(len(sources[i]) + len(targets[i]) for b in batches for i in b)
        torch.manual_seed(0)
        model = BangForConditionalGeneration(config).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        elapsed = 0.0
        for index, batch in enumerate(batches):
            input_ids, attention_mask = pad_sources([sources[i] for i in batch], 0)
            labels, _ = pad_sources([targets[i] for i in batch], -100)
            began = time.perf_counter()
            model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, mode="ar").loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if index >= 5:
                elapsed += time.perf_counter() - began
        found.append({"order": name, "padding": padded / real, "steps_per_second": steps / elapsed})
        print(f"{name}: padding {padded / real:.2f}, {steps / elapsed:.2f} steps/s on {threads} threads", flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("ar", "nar", "ngram"), default="ar")
    parser.add_argument("--inits", nargs="+", default=["random"], help="random, bang-mini, or a model folder")
    parser.add_argument("--candidates", nargs="+", default=["default"], choices=sorted(CANDIDATES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--steps", type=int, default=SWEEP_STEPS)
    parser.add_argument("--eval_every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once")
    parser.add_argument("--output_dir", type=Path, default=REPO / "examples" / "results" / "recipe")
    parser.add_argument("--tabulate", action="store_true", help="only print and write the table of finished runs")
    parser.add_argument(
        "--time_orders",
        nargs="*",
        type=int,
        metavar="WINDOW",
        help="only time AR steps on random batches and on length buckets with these windows",
    )
    parser.add_argument("--score", type=Path, help=argparse.SUPPRESS)  # internal: score one checkpoint
    args = parser.parse_args()
    if args.score is not None:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        print(json.dumps(score_checkpoint(args.score, args.mode), ensure_ascii=False))
        return
    if args.time_orders is not None:
        timings = time_batch_orders(args.threads, args.time_orders)
        record = {"threads": args.threads, "timings": timings, "torch": torch.__version__,
                  "command": "python examples/scripts/recipe_sweep.py " + shlex.join(sys.argv[1:])}  # fmt: skip
        (args.output_dir / "batch_order_speed.json").write_text(json.dumps(record, indent=2))
        return
    if not args.tabulate:
        read_sample("train"), read_sample("validation"), random_init_flags()  # once, before the worker threads
        runs = [(args.mode, i, c, s) for i in args.inits for c in args.candidates for s in args.seeds]
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            for future in [pool.submit(run_one, *run, args) for run in runs]:
                future.result()
    print(tabulate(args.output_dir))


if __name__ == "__main__":
    main()
