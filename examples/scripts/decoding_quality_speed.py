"""Quality against time per sample of one n-stream fine-tuned BANG's decoding modes, side by side in one run: AR
greedy and beam 4, semi-NAR accepting all k proposals and lossless semi-NAR (`semi_nar_acceptance="verify"`) for
every block size k, the confidence dial (`semi_nar_acceptance="confidence"` at several thresholds, largest k), the
model's own NAR pass, and optionally another NAR model's one pass.

Every setting decodes the same test rows in batches of each `--batch_sizes` (1: the latency a user sees) with
`bang_spmd.evaluation.evaluate_split` (BLEU and chrF on detokenised output against the raw references, the number
of distinct outputs, milliseconds per sample after an untimed warm-up call); the verify and confidence settings also
report the mean tokens accepted per decoder pass (decoded one row at a time), and every setting the number of rows
whose output differs from AR greedy's at the same batch size (0 expected for verify: it is lossless; a difference
there is a rounding tie between two tokens, reported, not hidden). AR greedy runs first and last at every batch
size, so the drift of the machine's speed shows; the ratios use the first. Writes `results.json`, `results.md`,
the predictions (`predictions/`) and `quality_speed.png` (matplotlib, the `bench` extra, batch size 1) to the
output folder.

    HF_HUB_OFFLINE=1 python examples/scripts/decoding_quality_speed.py --model outputs/ngram-debtrans \
        --data_file bang_spmd/quickstart_data/debtrans_sample/test.jsonl.gz --max_samples 200 \
        --block_sizes 2 3 4 --batch_sizes 1 16 --output_dir examples/results/decoding_quality_speed
"""

import argparse
import gzip
import json
import statistics
import tempfile
from pathlib import Path

import torch

from bang_spmd.data.tasks import get_task
from bang_spmd.evaluation import Decoding, SplitEvaluation, evaluate_split
from bang_spmd.trainers.model_setup import load_pretrained_model, load_pretrained_tokenizer


def settings(block_sizes: list[int], thresholds: list[float]) -> list[tuple[str, dict]]:
    rows = [
        ("AR greedy", {"decoding_mode": "ar", "num_beams": 1}),
        ("AR beam 4", {"decoding_mode": "ar", "num_beams": 4}),
    ]
    for k in block_sizes:
        rows += [
            (f"semi-NAR all, k={k}", {"decoding_mode": "semi_nar", "semi_nar_block_size": k}),
            (f"semi-NAR verify (lossless), k={k}",
             {"decoding_mode": "semi_nar", "semi_nar_block_size": k, "semi_nar_acceptance": "verify"}),
        ]  # fmt: skip
    k = max(block_sizes)
    for threshold in thresholds:
        rows.append(
            (f"semi-NAR confidence {threshold:g}, k={k}",
             {"decoding_mode": "semi_nar", "semi_nar_block_size": k, "semi_nar_acceptance": "confidence",
              "semi_nar_confidence": threshold})
        )  # fmt: skip
    rows.append(("NAR (one pass, same model)", {"decoding_mode": "nar"}))
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
    axis.set_xlabel("ms per sample (log scale)")
    axis.set_ylabel("BLEU")
    axis.set_title("Quality vs latency of one n-stream BANG's decoding modes")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def read_data(path: Path, work: Path) -> Path:
    """`path`, or its decompressed copy in `work` (a temporary folder, not the results) for a `.gz` file (the
    package's embedded samples)."""
    if path.suffix != ".gz":
        return path
    plain = work / path.stem
    plain.write_bytes(gzip.decompress(path.read_bytes()))
    return plain


def differing_rows(path: Path, reference: Path) -> int:
    """How many rows of the predictions in `path` differ from those in `reference` (AR greedy's)."""
    ours, theirs = (
        [json.loads(line)["prediction"] for line in p.read_text(encoding="utf-8").splitlines()]
        for p in (path, reference)
    )
    return sum(a != b for a, b in zip(ours, theirs, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="n-stream fine-tuned BANG folder (bang-finetune --mode ngram)")
    parser.add_argument("--nar_model", default=None, help="another (NAR-trained) model folder for a one-pass row")
    parser.add_argument("--data_file", type=Path, required=True, help="JSON Lines, or .jsonl.gz")
    parser.add_argument("--task", default="debtrans")
    parser.add_argument("--max_samples", type=int, default=200)
    parser.add_argument("--block_sizes", type=int, nargs="+", default=[2])
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.9, 0.7, 0.5, 0.3, 0.0])
    parser.add_argument("--output_dir", type=Path, required=True)
    args = parser.parse_args()
    task = get_task(args.task)
    predictions = args.output_dir / "predictions"
    predictions.mkdir(parents=True, exist_ok=True)
    data_file = read_data(args.data_file, Path(tempfile.mkdtemp(prefix="decoding-quality-speed-")))
    common = {"data_file": str(data_file), "source_columns": task.source_columns, "target_column": task.target_column,
              "max_source_length": task.max_source_length, "where": task.where, "max_samples": args.max_samples,
              "meteor": "no", "device": "cpu"}  # fmt: skip
    model = load_pretrained_model(args.model, "--model", False).eval()
    tokenizer = load_pretrained_tokenizer(args.model, "--model", False)
    rows_of_data = [json.loads(line) for line in data_file.read_text(encoding="utf-8").splitlines()]
    column, value = task.where.split("=", 1) if task.where else (None, None)
    sources = [r[task.source_columns] for r in rows_of_data if column is None or str(r[column]) == value]
    sources = sources[: args.max_samples]

    plan = [(name, args.model, options) for name, options in settings(args.block_sizes, args.thresholds)]
    if args.nar_model:
        plan.append(("NAR (one pass, NAR model)", args.nar_model, {"decoding_mode": "nar"}))
    plan.append(("AR greedy (again, last)", args.model, {"decoding_mode": "ar", "num_beams": 1}))
    rows, per_pass = [], {}
    for batch_size in args.batch_sizes:
        greedy_file = None
        for name, folder, options in plan:
            output_file = predictions / f"batch{batch_size}-{len(rows):02d}.jsonl"
            decoding = Decoding(max_new_tokens=task.max_target_length, **options)
            split = SplitEvaluation(model=folder, decoding=decoding, batch_size=batch_size, output_file=output_file,
                                    **common)  # fmt: skip
            result = evaluate_split(split)
            greedy_file = greedy_file or output_file
            if name not in per_pass:
                per_pass[name] = tokens_per_pass(model, tokenizer, sources, options, task.max_target_length)
            row = {"name": name, "batch_size": batch_size, "model": folder, **options,
                   **{k: result[k] for k in ("bleu4", "chrf", "distinct_outputs", "samples", "ms_per_sample")},
                   "tokens_per_pass": per_pass[name],
                   "rows_differing_from_greedy": differing_rows(output_file, greedy_file),
                   "predictions": output_file.name}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
            (args.output_dir / "results.json").write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    lines = ["| decoding | batch size | BLEU | chrF | distinct | tokens / pass | rows differing from greedy | "
             "ms / sample (timing) | time vs AR greedy (timing) |", "|---" * 9 + "|"]  # fmt: skip
    for row in rows:
        greedy = next(r for r in rows if r["batch_size"] == row["batch_size"])
        tokens = f"{row['tokens_per_pass']:.2f}" if row["tokens_per_pass"] is not None else ""
        lines.append(
            f"| {row['name']} | {row['batch_size']} | {row['bleu4']:.2f} | {row['chrf']:.2f} | "
            f"{row['distinct_outputs']} / {row['samples']} | {tokens} | {row['rows_differing_from_greedy']} | "
            f"{row['ms_per_sample']:.2f} | {row['ms_per_sample'] / greedy['ms_per_sample']:.2f}x |"
        )
    table = "\n".join(lines)
    (args.output_dir / "results.md").write_text(table + "\n")
    print(table)
    try:
        chart([r for r in rows if r["batch_size"] == args.batch_sizes[0]][:-1], args.output_dir / "quality_speed.png")
    except ImportError:
        print("matplotlib is not installed (pip install 'bang-spmd[bench]'): no chart.")


if __name__ == "__main__":
    main()
