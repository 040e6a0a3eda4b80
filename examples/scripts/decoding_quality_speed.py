"""Quality against time per sample of one n-stream fine-tuned BANG's decoding modes, side by side in one run: AR
greedy and beam 4, semi-NAR accepting all k proposals, lossless semi-NAR (`semi_nar_acceptance="verify"`), the
confidence dial (`semi_nar_acceptance="confidence"` at several thresholds), and optionally a NAR model's one pass.

Every setting decodes the same test rows one at a time (batch size 1, the latency a user sees) with
`bang_spmd.evaluation.evaluate_split` (BLEU and chrF on detokenised output against the raw references, the number
of distinct outputs, milliseconds per sample after an untimed warm-up call); the semi-NAR settings also report the
mean tokens accepted per decoder pass. AR greedy runs first and last, so the drift of the machine's speed during the
run shows; the ratios use the first. Writes `results.json`, `results.md` and `quality_speed.png` (matplotlib, the
`bench` extra) to the output folder.

    HF_HUB_OFFLINE=1 python examples/scripts/decoding_quality_speed.py --model outputs/ngram-debtrans \
        --nar_model outputs/pretraining/bang-mini/seed-1/nar-gold --data_file ../shared/data/debtrans-enfr/test.jsonl \
        --max_samples 200 --output_dir examples/results/decoding_quality_speed
"""

import argparse
import json
import statistics
from pathlib import Path

import torch

from bang_spmd.data.tasks import get_task
from bang_spmd.evaluation import Decoding, SplitEvaluation, evaluate_split
from bang_spmd.trainers.model_setup import load_pretrained_model, load_pretrained_tokenizer


def settings(block_size: int, thresholds: list[float]) -> list[tuple[str, dict]]:
    k = block_size
    rows = [
        ("AR greedy", {"decoding_mode": "ar", "num_beams": 1}),
        ("AR beam 4", {"decoding_mode": "ar", "num_beams": 4}),
        (f"semi-NAR all, k={k}", {"decoding_mode": "semi_nar", "semi_nar_block_size": k}),
        (f"semi-NAR verify (lossless), k={k}",
         {"decoding_mode": "semi_nar", "semi_nar_block_size": k, "semi_nar_acceptance": "verify"}),
    ]  # fmt: skip
    for threshold in thresholds:
        rows.append(
            (f"semi-NAR confidence {threshold:g}, k={k}",
             {"decoding_mode": "semi_nar", "semi_nar_block_size": k, "semi_nar_acceptance": "confidence",
              "semi_nar_confidence": threshold})
        )  # fmt: skip
    return rows


def tokens_per_pass(model, tokenizer, sources: list[str], options: dict, max_new_tokens: int) -> float | None:
    """Mean tokens accepted per decoder pass over `sources` (one at a time) for the verify / confidence rules."""
    if options.get("semi_nar_acceptance") not in ("verify", "confidence"):
        return None
    values = []
    with torch.inference_mode():
        for text in sources:
            batch = tokenizer(text, return_tensors="pt")
            out = model.generate(**batch, max_new_tokens=max_new_tokens, return_dict_in_generate=True, **options)
            values.append(float(out.tokens_per_pass[0]))
    return statistics.mean(values)


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for number, row in enumerate(rows):
        label = row["name"].replace("semi-NAR confidence ", "confidence ").replace(" (lossless)", "")
        axis.scatter(row["ms_per_sample"], row["bleu4"], s=30)
        axis.annotate(label.split(", k=")[0], (row["ms_per_sample"], row["bleu4"]), fontsize=7,
                      xytext=(4, 8 if number % 2 else -10), textcoords="offset points")  # fmt: skip
    dial = [r for r in rows if "confidence" in r["name"] or "verify" in r["name"]]
    dial.sort(key=lambda r: r["ms_per_sample"])
    axis.plot([r["ms_per_sample"] for r in dial], [r["bleu4"] for r in dial], linewidth=1, alpha=0.6)
    axis.set_xscale("log")
    axis.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    axis.set_xlabel("ms per sample, batch size 1 (log scale)")
    axis.set_ylabel("BLEU")
    axis.set_title("Quality vs latency of one n-stream BANG's decoding modes")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="n-stream fine-tuned BANG folder (bang-finetune --mode ngram)")
    parser.add_argument("--nar_model", default=None, help="a NAR model folder for the one-pass row")
    parser.add_argument("--data_file", required=True)
    parser.add_argument("--task", default="debtrans")
    parser.add_argument("--max_samples", type=int, default=200)
    parser.add_argument("--block_size", type=int, default=2)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.9, 0.7, 0.5, 0.3, 0.0])
    parser.add_argument("--output_dir", type=Path, required=True)
    args = parser.parse_args()
    task = get_task(args.task)
    common = {"data_file": args.data_file, "source_columns": task.source_columns, "target_column": task.target_column,
              "max_source_length": task.max_source_length, "where": task.where, "batch_size": 1,
              "max_samples": args.max_samples, "meteor": "no", "device": "cpu"}  # fmt: skip
    model = load_pretrained_model(args.model, "--model", False).eval()
    tokenizer = load_pretrained_tokenizer(args.model, "--model", False)
    rows_of_data = [json.loads(line) for line in Path(args.data_file).read_text(encoding="utf-8").splitlines()]
    column, value = task.where.split("=", 1) if task.where else (None, None)
    sources = [r[task.source_columns] for r in rows_of_data if column is None or str(r[column]) == value]
    sources = sources[: args.max_samples]

    plan = [(name, args.model, options) for name, options in settings(args.block_size, args.thresholds)]
    if args.nar_model:
        plan.append(("NAR (one pass, NAR model)", args.nar_model, {"decoding_mode": "nar"}))
    plan.append(("AR greedy (again, last)", args.model, {"decoding_mode": "ar", "num_beams": 1}))
    rows = []
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for name, folder, options in plan:
        decoding = Decoding(max_new_tokens=task.max_target_length, **options)
        result = evaluate_split(SplitEvaluation(model=folder, decoding=decoding, **common))
        per_pass = tokens_per_pass(model, tokenizer, sources, options, task.max_target_length)
        row = {"name": name, "model": folder, **options, "bleu4": result["bleu4"], "chrf": result["chrf"],
               "distinct_outputs": result["distinct_outputs"], "samples": result["samples"],
               "ms_per_sample": result["ms_per_sample"], "tokens_per_pass": per_pass}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
        (args.output_dir / "results.json").write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    greedy = rows[0]
    lines = ["| decoding (batch size 1) | BLEU | chrF | distinct | tokens / pass | ms / sample (timing) | "
             "time vs AR greedy (timing) |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        per_pass = f"{row['tokens_per_pass']:.2f}" if row["tokens_per_pass"] is not None else ""
        lines.append(
            f"| {row['name']} | {row['bleu4']:.2f} | {row['chrf']:.2f} | {row['distinct_outputs']} / {row['samples']} "
            f"| {per_pass} | {row['ms_per_sample']:.2f} | {row['ms_per_sample'] / greedy['ms_per_sample']:.2f}x |"
        )
    table = "\n".join(lines)
    (args.output_dir / "results.md").write_text(table + "\n")
    print(table)
    try:
        chart(rows[:-1], args.output_dir / "quality_speed.png")
    except ImportError:
        print("matplotlib is not installed (pip install 'bang-spmd[bench]'): no chart.")


if __name__ == "__main__":
    main()
