"""Tabulates `examples/scripts/nar_eos_penalty_sweep.sh`: BLEU, chrF, distinct outputs and the output/reference
length ratio (whitespace words, from the prediction files) per student and penalty, per seed and as the mean ± sample
standard deviation over the seeds; writes `results.md` next to `results.jsonl`.

    python examples/scripts/tabulate_nar_eos_penalty.py examples/results/nar_eos_penalty
"""

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def length_ratio(predictions: Path) -> float:
    rows = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sum(len(r["prediction"].split()) for r in rows) / sum(len(r["reference"].split()) for r in rows)


def spread(values: list[float]) -> str:
    mean = statistics.mean(values)
    return f"{mean:.2f} ± {statistics.stdev(values):.2f}" if len(values) > 1 else f"{mean:.2f}"


def main(folder: Path) -> None:
    runs = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines() if line.strip()]
    table = defaultdict(lambda: defaultdict(list))
    for run in runs:
        penalty = run["nar_eos_penalty"]
        ratio = length_ratio(folder / f"seed-{run['seed']}" / f"{run['student']}-p{penalty:g}.jsonl")
        key = (run["student"], penalty)
        for name, value in (("bleu4", run["bleu4"]), ("chrf", run["chrf"]), ("distinct", run["distinct_outputs"]),
                            ("length", ratio), ("seed", run["seed"])):  # fmt: skip
            table[key][name].append(value)
    samples = {run["samples"] for run in runs}
    lines = [
        f"NAR one pass, {'/'.join(map(str, sorted(samples)))} validation synopses of debtrans-enfr, seeds "
        f"{sorted({run['seed'] for run in runs})} (mean ± sample standard deviation over the seeds).",
        "",
        "| student | nar_eos_penalty | BLEU | chrF | distinct | length ratio | BLEU per seed |",
        "|---|---|---|---|---|---|---|",
    ]
    for (student, penalty), values in sorted(table.items()):
        per_seed = ", ".join(f"{b:.2f}" for _, b in sorted(zip(values["seed"], values["bleu4"], strict=True)))
        lines.append(
            f"| {student} | {penalty:g} | {spread(values['bleu4'])} | {spread(values['chrf'])} | "
            f"{spread(values['distinct'])} | {spread(values['length'])} | {per_seed} |"
        )
    (folder / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
