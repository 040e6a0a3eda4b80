"""BANG-mini v2's shape, chosen by measurement: the shape whose fine-tuned AR teacher is best at a fixed CPU budget.

    SHARED_DATA=../shared/data python examples/scripts/bang_mini_v2_shapes.py run --shapes h128 h192 h256 --seeds 1
    python examples/scripts/bang_mini_v2_shapes.py table

For every (shape, seed): `bang-pretrain` with the package's n-stream objective, 4 predicting streams, BANG-mini v1's
cased 8k WordPiece and v1's pretraining text (the TRAINING splits of the shared data sets, documents packed into
128-token chunks, batches of 64) for `--pretrain_minutes` of wall time; then `bang-finetune --mode ar` of that model
on the embedded debtrans synopses for `--finetune_minutes`; then greedy decoding of the 200 validation synopses
(sacreBLEU BLEU, chrF, distinct outputs). Pretraining and fine-tuning use the training recipe of
`bang_spmd.trainers.recipe` (1e-3 for new weights, 2e-3 from a pretrained start, inverse-sqrt after 200 warm-up
steps, label smoothing 0.1), `--threads` torch threads, nothing else running. The shape is chosen on validation; the
test split stays for the comparison of the finished v2 with v1 and random weights.

A fixed wall-time budget means a larger shape gets fewer pretraining and fine-tuning steps: that trade is what is
measured. Results go to `examples/results/bang_mini_v2/shapes/results.json` as each run finishes (a finished
(shape, seed, fine-tuning rate) is skipped on the next call, so an interrupted series continues), with the commands,
the training logs' tails and the validation outputs. The pretrained model of a (shape, seed) stays in `--work_dir`
(outputs/, not committed) with its wall time, so fine-tuning it at another `--finetune_learning_rate` does not pretrain
again; the fine-tuned weights are removed.
"""

import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_quality import machine, sample_file, thread_env  # noqa: E402  (the peer comparison's helpers)


REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "examples" / "results" / "bang_mini_v2" / "shapes"
BATCH = 64
STREAMS = 4
# name: (hidden size, encoder = decoder layers, attention heads, feed-forward size)
SHAPES = {
    "h128": (128, 3, 4, 512),  # v1's shape
    "h192": (192, 3, 4, 768),
    "h256": (256, 3, 4, 1024),
    "h128-l4": (128, 4, 4, 512),
}


def program_env(threads: int) -> dict:
    return {**thread_env(threads), "TOKENIZERS_PARALLELISM": "false"}


def run(command: list[str], threads: int, log: Path) -> float:
    """Runs a program on `threads` threads, keeps the end of its output in `log`; returns its wall seconds."""
    print("$ " + shlex.join(command), flush=True)
    began = time.perf_counter()
    result = subprocess.run(command, env=program_env(threads), capture_output=True, text=True)
    seconds = time.perf_counter() - began
    log.write_text(result.stdout[-20000:] + result.stderr[-20000:])
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed; see {log}")
    return seconds


def pretraining_text(data_dir: Path, work: Path) -> dict[str, Path]:
    files = {split: work / "text" / f"{split}.txt" for split in ("train", "validation")}
    for split, path in files.items():
        if not path.is_file():
            subprocess.run(["bang-prepare-pretraining-text", "--data_dir", str(data_dir), "--split", split,
                            "--output_file", str(path)], check=True, env=program_env(1))  # fmt: skip
    return files


def shape_flags(name: str) -> list[str]:
    hidden, layers, heads, ffn = SHAPES[name]
    return ["--config_preset", "bang-base", "--hidden_size", str(hidden), "--encoder_layers", str(layers),
            "--decoder_layers", str(layers), "--encoder_attention_heads", str(heads), "--decoder_attention_heads",
            str(heads), "--encoder_ffn_dim", str(ffn), "--decoder_ffn_dim", str(ffn), "--max_position_embeddings",
            "128", "--ngram", str(STREAMS), "--dropout", "0.1", "--attention_dropout", "0.0",
            "--activation_dropout", "0.0"]  # fmt: skip


def run_one(name: str, seed: int, args, text: dict[str, Path]) -> dict:
    from bang_spmd.evaluation import Decoding, SplitEvaluation, evaluate_split
    from bang_spmd.evaluation.metrics import bleu4, chrf
    from bang_spmd.experiments.settings import command_line

    run_dir = RESULTS / "runs" / f"{name}-s{seed}-lr{args.finetune_learning_rate:g}"
    run_dir.mkdir(parents=True, exist_ok=True)
    pretrained, finetuned = args.work_dir / f"{name}-s{seed}-pretrained", args.work_dir / f"{name}-s{seed}-ar"
    pretrain = ["bang-pretrain", *shape_flags(name), "--tokenizer_name_or_path", "bang-mini",
                "--train_files", str(text["train"]), "--validation_files", str(text["validation"]),
                "--max_eval_samples", "1000", "--max_source_length", "128", "--pack_documents", "--mask_ratio", "0.15",
                "--per_device_train_batch_size", str(BATCH), "--max_steps", "1000000",
                "--max_train_minutes", str(args.pretrain_minutes), "--seed", str(seed), "--logging_steps", "50",
                "--eval_strategy", "no", "--save_strategy", "no", "--report_to", "none",
                "--dataloader_num_workers", "0", "--disable_tqdm", "true", "--output_dir", str(pretrained),
                "--overwrite_output_dir"]  # fmt: skip
    # Pretraining does not depend on the fine-tuning rate: a (shape, seed) already pretrained is fine-tuned again.
    pretrain_record = pretrained / "pretrain_seconds.json"
    if pretrain_record.is_file():
        pretrain_seconds = json.loads(pretrain_record.read_text())["seconds"]
        print(f"reusing {pretrained} ({pretrain_seconds:.0f} s of pretraining)", flush=True)
    else:
        pretrain_seconds = run(pretrain, args.threads, run_dir / "pretrain.log")
        pretrain_record.write_text(json.dumps({"seconds": pretrain_seconds, "log": str(run_dir / "pretrain.log")}))
    pretrain_state = json.loads((pretrained / "trainer_state.json").read_text())
    pretrain_eval = json.loads((pretrained / "eval_results.json").read_text())
    finetune = ["bang-finetune", "--task", "debtrans", "--mode", "ar", "--model_name_or_path", str(pretrained),
                "--train_file", str(sample_file("train", args.work_dir)), "--output_dir", str(finetuned),
                "--overwrite_output_dir", "--max_steps", "1000000", "--max_train_minutes", str(args.finetune_minutes),
                "--per_device_train_batch_size", str(BATCH), "--seed", str(seed), "--save_strategy", "no",
                "--logging_steps", "100", "--report_to", "none", "--dataloader_pin_memory", "False",
                "--learning_rate", str(args.finetune_learning_rate)]  # fmt: skip
    finetune_seconds = run(finetune, args.threads, run_dir / "finetune.log")
    finetune_steps = json.loads((finetuned / "trainer_state.json").read_text())["global_step"]

    import torch

    torch.set_num_threads(args.threads)
    split = SplitEvaluation(
        model=str(finetuned), data_file=str(sample_file("validation", args.work_dir)), source_columns="en",
        target_column="fr", max_source_length=48, decoding=Decoding(decoding_mode="ar", max_new_tokens=48),
        batch_size=BATCH, device="cpu", output_file=run_dir / "validation-greedy.jsonl", meteor="no",
    )  # fmt: skip
    evaluate_split(split)
    written = [json.loads(line) for line in split.output_file.read_text(encoding="utf-8").splitlines()]
    predictions, references = [r["prediction"] for r in written], [r["reference"] for r in written]
    parameters = sum(math.prod(shape) for shape in _weight_shapes(pretrained / "model.safetensors").values())
    row = {
        "shape": name, "hidden_size": SHAPES[name][0], "layers": SHAPES[name][1], "heads": SHAPES[name][2],
        "ffn_dim": SHAPES[name][3], "ngram": STREAMS, "parameters": parameters, "seed": seed,
        "threads": args.threads, "pretrain_minutes": args.pretrain_minutes,
        "pretrain_seconds": round(pretrain_seconds, 1), "pretrain_steps": pretrain_state["global_step"],
        "pretrain_chunks": pretrain_state["global_step"] * BATCH,
        "pretrain_validation": {k: v for k, v in pretrain_eval.items() if "loss" in k},
        "finetune_minutes": args.finetune_minutes, "finetune_seconds": round(finetune_seconds, 1),
        "finetune_learning_rate": args.finetune_learning_rate,
        "finetune_steps": finetune_steps, "validation_samples": len(predictions),
        "bleu": bleu4(predictions, references), "chrf": chrf(predictions, references),
        "distinct_outputs": len(set(predictions)),
        "commands": [shlex.join(pretrain), shlex.join(finetune), command_line("bang-evaluate", split)],
        "machine": {**machine(), "date": time.strftime("%Y-%m-%d")},
    }  # fmt: skip
    shutil.rmtree(finetuned)
    return row


def _weight_shapes(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return {k: f.get_slice(k).get_shape() for k in f.keys()}


def read_results() -> dict:
    path = RESULTS / "results.json"
    return json.loads(path.read_text()) if path.is_file() else {"rows": []}


def table() -> str:
    import statistics

    rows = read_results()["rows"]
    lines = [
        "| shape | parameters | fine-tuning lr | seeds | pretraining steps | pretraining val. loss | "
        "fine-tuning steps | validation BLEU (greedy) | chrF | distinct / 200 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    cells = sorted(
        {(r["shape"], r["finetune_learning_rate"]) for r in rows}, key=lambda c: (list(SHAPES).index(c[0]), c[1])
    )
    for name, rate in cells:
        found = [r for r in rows if r["shape"] == name and r["finetune_learning_rate"] == rate]

        def cell(values, digits=2):
            mean = statistics.mean(values)
            return f"{mean:.{digits}f}" + (
                f" ± {(max(values) - min(values)) / 2:.{digits}f}" if len(values) > 1 else ""
            )

        loss = [r["pretrain_validation"].get("eval_loss", float("nan")) for r in found]
        lines.append(
            f"| {name} ({found[0]['hidden_size']} hidden, {found[0]['layers']}+{found[0]['layers']} layers, FFN "
            f"{found[0]['ffn_dim']}) | {found[0]['parameters']:,} | {rate:g} | "
            f"{','.join(str(r['seed']) for r in found)} | "
            f"{cell([r['pretrain_steps'] for r in found], 0)} | {cell(loss, 3)} | "
            f"{cell([r['finetune_steps'] for r in found], 0)} | {cell([r['bleu'] for r in found])} | "
            f"{cell([r['chrf'] for r in found], 1)} | {cell([r['distinct_outputs'] for r in found], 0)} |"
        )
    text = "\n".join(lines) + "\n"
    (RESULTS / "results.md").write_text(text)
    return text


def main() -> None:
    from bang_spmd.trainers.recipe import PRETRAINED_LEARNING_RATE

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    go = commands.add_parser("run")
    go.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=["h128", "h192", "h256"])
    go.add_argument("--seeds", nargs="+", type=int, default=[1])
    go.add_argument("--pretrain_minutes", type=float, default=10.0)
    go.add_argument("--finetune_minutes", type=float, default=7.0)
    go.add_argument("--finetune_learning_rate", type=float, default=PRETRAINED_LEARNING_RATE)
    go.add_argument("--threads", type=int, default=2)
    go.add_argument("--work_dir", type=Path, default=REPO / "outputs" / "bang-mini-v2-shapes")
    commands.add_parser("table")
    args = parser.parse_args()
    if args.command == "table":
        print(table())
        return
    data_dir = Path(os.environ.get("SHARED_DATA", REPO.parent / "shared" / "data"))
    args.work_dir.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = pretraining_text(data_dir, args.work_dir)
    for seed in args.seeds:
        for name in args.shapes:
            results = read_results()
            if any(
                r["shape"] == name and r["seed"] == seed and r["finetune_learning_rate"] == args.finetune_learning_rate
                for r in results["rows"]
            ):
                continue
            row = run_one(name, seed, args, text)
            results = read_results()
            results["rows"].append(row)
            (RESULTS / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
            print(json.dumps({k: row[k] for k in ("shape", "seed", "pretrain_steps", "finetune_steps", "bleu",
                                                  "chrf", "distinct_outputs")}), flush=True)  # fmt: skip
    print(table())


if __name__ == "__main__":
    sys.exit(main())
