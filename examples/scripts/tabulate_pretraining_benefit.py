"""The table of `examples/scripts/pretraining_benefit.sh`: for each start (BANG-mini, random weights) and model (AR
teacher greedy, NAR from the teacher), the mean and the spread over seeds of BLEU, chrF and distinct outputs, and a
few test inputs with every model's output, read from the run folders' `*.metrics.json` and prediction files.

    python examples/scripts/tabulate_pretraining_benefit.py outputs/pretraining examples/results/pretraining_benefit \
        ../shared/data/debtrans-enfr/test.jsonl
"""

import collections
import json
import statistics
import sys
from pathlib import Path

from bang_spmd.evaluation.metrics import compute_generation_metrics


MODELS = (
    ("teacher", "test-ar-greedy", "AR teacher, greedy"),
    ("nar-gold", "test-nar", "NAR (gold, from the teacher)"),
)
STARTS = (("bang-mini", "BANG-mini (shipped, pretrained)"), ("scratch", "random weights, same shape and tokenizer"))
METRICS = ("bleu4", "chrf", "distinct_outputs")


def read_runs(runs_dir: Path) -> dict:
    """{(start, model): {seed: metrics}} of every finished evaluation."""
    found = {}
    for start, _ in STARTS:
        for seed_dir in sorted((runs_dir / start).glob("seed-*")):
            for model, name, _ in MODELS:
                metrics_file = seed_dir / model / f"{name}.metrics.json"
                if metrics_file.is_file():
                    found.setdefault((start, model), {})[seed_dir.name] = json.loads(metrics_file.read_text())
    return found


def synopses(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [row for row in rows if row["kind"] == "synopsis"]


def trivial_baselines(test_file: Path, train_file: Path, count: int) -> dict:
    """What a model must clear on the same test rows: the source copied, and the most frequent training target."""
    test = synopses(test_file)[:count]
    references = [" ".join(row["fr"].split()) for row in test]
    frequent = collections.Counter(" ".join(row["fr"].split()) for row in synopses(train_file)).most_common(1)[0][0]
    outputs = {"copy the source": [" ".join(row["en"].split()) for row in test],
               f"most frequent training target ({frequent!r})": [frequent] * len(test)}  # fmt: skip
    return {
        name: {**compute_generation_metrics(texts, references, with_meteor=False), "distinct_outputs": len(set(texts))}
        for name, texts in outputs.items()
    }


def spread(values: list[float]) -> str:
    """The mean, and with several seeds the standard deviation and every seed's value."""
    mean, each = statistics.mean(values), ", ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in values)
    if len(values) == 1:
        return each
    return f"{mean:.2f} ± {statistics.stdev(values):.2f} ({each})"


def examples(runs_dir: Path, test_file: Path, seed: str = "seed-1", count: int = 6) -> list[dict]:
    """The first `count` test synopses (as scored: the rows of kind `synopsis` of `test_file`) with every model's
    prediction of seed `seed`."""
    rows = [{"input": row["en"], "reference": row["fr"]} for row in synopses(test_file)[:count]]
    for start, _ in STARTS:
        for model, name, title in MODELS:
            predictions = runs_dir / start / seed / model / f"{name}.jsonl"
            if not predictions.is_file():
                continue
            for index, line in enumerate(predictions.read_text(encoding="utf-8").splitlines()[:count]):
                record = json.loads(line)
                if record["reference"].split() != rows[index]["reference"].split():  # the scorer's spacing
                    raise ValueError(f"{predictions} line {index + 1} is not the test synopsis {index + 1}.")
                rows[index][f"{title} from {start}"] = record["prediction"]
    return rows


def main(runs_dir: Path, output_dir: Path, test_file: Path) -> None:
    found = read_runs(runs_dir)
    lines = ["| start | model | seeds | BLEU | chrF | distinct outputs |", "|---|---|---|---|---|---|"]
    record = {"rows": []}
    for start, start_title in STARTS:
        for model, _, title in MODELS:
            seeds = found.get((start, model), {})
            if not seeds:
                continue
            values = {m: [seeds[s][m] for s in sorted(seeds)] for m in METRICS}
            samples = {seeds[s]["samples"] for s in seeds}
            lines.append(
                f"| {start_title} | {title} | {len(seeds)} | {spread(values['bleu4'])} | {spread(values['chrf'])} | "
                f"{spread(values['distinct_outputs'])} of {max(samples)} |"
            )
            record["rows"].append({"start": start, "model": model, "seeds": sorted(seeds), **values})
    for name, values in trivial_baselines(test_file, test_file.with_name("train.jsonl"), max(samples)).items():
        lines.append(f"| (trivial baseline) | {name} | | {values['bleu4']:.2f} | {values['chrf']:.2f} | "
                     f"{values['distinct_outputs']} of {max(samples)} |")  # fmt: skip
        record["rows"].append({"start": None, "model": name, **values})
    record["examples"] = examples(runs_dir, test_file)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (output_dir / "results.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
