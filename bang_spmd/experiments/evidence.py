"""The SPMD comparison on real data: every method, several seeds, one table (`run_evidence`, `tabulate`).

`run_evidence(EvidenceRun(...))` (`bang-evidence run`) runs, for each seed, one complete replicate of the pipeline
(`bang_spmd.experiments.pipeline`; every step printed as the `bang-*` command that does the same and appended to the
replicate's `commands.txt`, every step resumable, so the grid can be completed over several sittings):

* the teacher: the start model (`init_model`, the shipped pretrained BANG-mini by default) fine-tuned in `ngram` mode
  with its predicting streams, so that one model gives the AR greedy, AR beam 4 and semi-NAR (blocks of 2) rows;
* its beam-4 output on the training rows (`train_samples` of them) as the distilled targets;
* every NAR student of `students` (`bang_spmd.experiments.settings.STUDENT_OPTIONS`), each from the start model, on
  those rows for the same number of steps;
* every model scored on the test rows of the task (`eval_samples`, batched) with the task's metrics, the number of
  distinct outputs, and the time per sample at batch size 1 on `latency_samples` rows after a warm-up call.

A seed changes everything its replicate draws: the teacher's and the students' data order and dropout, and hence
the distilled targets. `tabulate` aggregates the replicates found: mean and standard deviation over seeds for every
row, the share of the AR-NAR gap each NAR method closes, paired bootstrap p-values (Koehn 2004) of the SPMD variants
against sequence-level KD and against the gold baseline on the test predictions pooled over seeds, the gates that
must hold before anything is concluded, a markdown table, a JSON record and a chart.
"""

import json
import random
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from bang_spmd.data.tasks import TASKS, get_task
from bang_spmd.data.text_corpus import DEFAULT_DATA_DIR
from bang_spmd.evaluation.metrics import bleu4, chrf, rouge_f1

from .pipeline import distill, evaluate, train_student, train_teacher
from .settings import STUDENT_OPTIONS, ExperimentSettings


DEFAULT_STUDENTS = ["nar-gold", "nar-distilled", "nar-mixed", "nar-spmd", "nar-mixed-overlap", "nar-spmd-agreement"]
# (method, `Decoding` options) of the teacher's rows; the NAR students decode `NAR_DECODING`.
TEACHER_METHODS = (
    ("ar-greedy", {"decoding_mode": "ar", "num_beams": 1}),
    ("ar-beam4", {"decoding_mode": "ar", "num_beams": 4}),
    ("semi-nar-k2", {"decoding_mode": "semi_nar", "semi_nar_block_size": 2}),
)
NAR_DECODING = {"decoding_mode": "nar"}
METHOD_TITLES = {
    "ar-greedy": "AR greedy",
    "ar-beam4": "AR beam 4",
    "semi-nar-k2": "semi-NAR (2 tokens / step)",
    "nar-gold": "NAR on gold (BANG baseline)",
    "nar-distilled": "NAR on distilled (seq-level KD)",
    "nar-mixed": "NAR, mixed distillation (select by loss)",
    "nar-spmd": "NAR, SPMD (select by loss + self-paced by loss)",
    "nar-mixed-overlap": "NAR, mixed distillation (select by prediction overlap)",
    "nar-spmd-overlap": "NAR, SPMD (select by overlap + self-paced by loss)",
    "nar-spmd-agreement": "NAR, SPMD (select by overlap + self-paced by agreement)",
    "nar-spmd-linear": "NAR, SPMD with linear self-paced weights",
    "nar-schedule": "NAR, distilled -> gold schedule",
}
METRIC_TITLES = {"bleu4": "BLEU", "chrf": "chrF", "rouge1_f1": "ROUGE-1", "rouge2_f1": "ROUGE-2",
                 "rougeL_f1": "ROUGE-L", "meteor": "METEOR"}  # fmt: skip
SPMD_VARIANTS = ("nar-mixed", "nar-spmd", "nar-mixed-overlap", "nar-spmd-overlap", "nar-spmd-agreement",
                 "nar-spmd-linear", "nar-schedule")  # fmt: skip
BOOTSTRAP_SAMPLES = 1000


@dataclass(kw_only=True)
class EvidenceRun:
    """The options of `run_evidence`: `bang-evidence run`'s flags, with their defaults."""

    task: str  # a key of TASKS, or "custom" (then data_dir and the columns and lengths are required)
    data_dir: Path | None = None  # a folder with train/validation/test .jsonl (default: shared/data/<data set>)
    output_dir: Path = Path("outputs/evidence")
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    students: list[str] = field(default_factory=lambda: list(DEFAULT_STUDENTS))
    init_model: str = "bang-mini"  # teacher and students start from it (its shape and tokenizer)
    from_scratch: bool = False  # random weights of init_model's shape instead (the pretraining baseline)
    student_start: str = "init_model"  # or "teacher": the students start from the trained teacher
    teacher_steps: int = 1500
    student_steps: int = 1000
    batch_size: int = 64
    learning_rate: float | None = None  # None: the training recipe's (bang_spmd.trainers.recipe)
    source_columns: str | None = None  # default: the task's
    target_column: str | None = None
    max_source_length: int | None = None
    max_target_length: int | None = None
    train_samples: int | None = None  # the first N training rows of the task (default: all)
    eval_samples: int | None = None  # test rows scored (default: all of the task)
    latency_samples: int = 100  # test rows timed at batch size 1

    def settings(self, seed: int) -> ExperimentSettings:
        return ExperimentSettings(
            task=self.task,
            teacher_steps=self.teacher_steps,
            student_steps=self.student_steps,
            source_columns=self.source_columns,
            target_column=self.target_column,
            max_source_length=self.max_source_length,
            max_target_length=self.max_target_length,
            init_model=self.init_model,
            from_scratch=self.from_scratch,
            student_start=self.student_start,
            teacher_mode="ngram",
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            seed=seed,
        )

    def run_name(self) -> str:
        return f"{self.task}-scratch" if self.from_scratch else self.task

    def splits(self) -> dict[str, Path]:
        if self.data_dir is None and self.task not in TASKS:
            raise SystemExit("--task custom needs --data_dir.")
        data_dir = self.data_dir if self.data_dir is not None else DEFAULT_DATA_DIR / get_task(self.task).data_set
        splits = {s: Path(data_dir) / f"{s}.jsonl" for s in ("train", "validation", "test")}
        missing = [str(p) for p in splits.values() if not p.is_file()]
        if missing:
            raise SystemExit(f"The data of task {self.task} lacks {', '.join(missing)}; pass --data_dir.")
        unknown = sorted(set(self.students) - set(STUDENT_OPTIONS))
        if unknown:
            raise SystemExit(f"Unknown students {unknown}; choose from {sorted(STUDENT_OPTIONS)}.")
        return splits


def task_rows(source: Path, target: Path, settings: ExperimentSettings, count: int | None) -> Path:
    """`target` holds the first `count` rows of `source` that belong to the task (all when None); written once."""
    if not target.is_file():
        lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
        where = settings.where
        if where is not None:
            column, value = where.split("=", 1)
            lines = [line for line in lines if str(json.loads(line).get(column)) == value]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(lines if count is None else lines[:count]), encoding="utf-8")
    return target


def check_settings(record: Path, wanted: dict) -> None:
    """Refuses to continue a run made with other settings (its results would mix two experiments)."""
    if record.is_file() and json.loads(record.read_text()) != wanted:
        raise SystemExit(f"{record.parent} holds a run with other settings; remove it or choose another --output_dir.")
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(wanted, indent=2))


def run_replicate(options: EvidenceRun, seed: int, splits: dict[str, Path]) -> dict:
    """One seed: teacher, distillation, students, evaluations; writes and returns `seed-<s>/results.json`."""
    settings = options.settings(seed)
    root = options.output_dir / options.run_name()
    shared = {**settings.to_dict(), "seed": None, "data": {k: str(v) for k, v in splits.items()},
              "train_samples": options.train_samples, "eval_samples": options.eval_samples,
              "latency_samples": options.latency_samples}  # fmt: skip
    check_settings(root / "settings.json", shared)
    train = task_rows(splits["train"], root / "data" / "train.jsonl", settings, options.train_samples)
    validation = task_rows(splits["validation"], root / "data" / "validation.jsonl", settings, None)
    test = task_rows(splits["test"], root / "data" / "test.jsonl", settings, options.eval_samples)
    run_dir = root / f"seed-{seed}"
    log = run_dir / "commands.txt"
    teacher = run_dir / "teacher"
    train_teacher(settings, train, validation, teacher, log)
    distilled = run_dir / "distilled" / "train.jsonl"
    distill(settings, teacher, train, distilled, log)
    for variant in options.students:
        train_student(settings, variant, distilled, validation, run_dir / variant, teacher, log)
    methods = [(m, teacher, d) for m, d in TEACHER_METHODS]
    methods += [(v, run_dir / v, NAR_DECODING) for v in options.students]
    rows = []
    for method, folder, decoding in methods:
        quality = evaluate(settings, folder, test, decoding, f"test-{method}", log=log)
        latency = evaluate(settings, folder, test, decoding, f"latency-{method}", 1, options.latency_samples, log=log)
        rows.append(
            {
                "method": method,
                **quality,
                "ms_per_sample_batch1": latency["ms_per_sample"],
                "latency_command": latency["command"],
                "predictions": str(folder / f"test-{method}.jsonl"),
            }
        )
    result = {"task": options.run_name(), "metrics": list(settings.metrics), "seed": seed,
              "settings": {**shared, "seed": seed}, "rows": rows}  # fmt: skip
    (run_dir / "results.json").write_text(json.dumps(result, indent=2))
    return result


def run_evidence(options: EvidenceRun) -> dict:
    """Every replicate of `options.seeds` (module docstring); returns their results."""
    splits = options.splits()
    return {"runs": [run_replicate(options, seed, splits) for seed in options.seeds]}


# ---------------------------------------------------------------------------------------------------------------
# Tabulation
# ---------------------------------------------------------------------------------------------------------------


def mean_std(values: list[float]) -> dict:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
        "values": values,
    }


def corpus_score(metric: str, predictions: list[str], references: list[str]) -> float:
    """The corpus-level value of `metric` (BLEU and chrF on the corpus; ROUGE as the mean over examples)."""
    if metric == "bleu4":
        return bleu4(predictions, references)
    if metric == "chrf":
        return chrf(predictions, references)
    return rouge_f1(predictions, references)[metric]


def read_predictions(path: str) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
    return [r["prediction"] for r in rows], [r["reference"] for r in rows]


def paired_bootstrap(
    metric: str, first: list[str], second: list[str], references: list[str], samples: int = BOOTSTRAP_SAMPLES
) -> dict:
    """Paired bootstrap resampling (Koehn 2004): `samples` resamples of the test examples with replacement, the
    metric of both systems on each; returns the observed difference (first - second) and the p-value of "first is
    not better" (the share of resamples where first scores at most second). Seeded, so it is reproducible."""
    if not (len(first) == len(second) == len(references)):
        raise ValueError("The two systems must be scored on the same examples.")
    rng = random.Random(0)
    n = len(references)
    observed = corpus_score(metric, first, references) - corpus_score(metric, second, references)
    not_better = 0
    for _ in range(samples):
        index = [rng.randrange(n) for _ in range(n)]
        refs = [references[i] for i in index]
        delta = corpus_score(metric, [first[i] for i in index], refs) - corpus_score(
            metric, [second[i] for i in index], refs
        )
        not_better += delta <= 0
    return {"difference": observed, "p_value": not_better / samples, "samples": samples, "examples": n}


def aggregate(runs: list[dict], bootstrap_samples: int = BOOTSTRAP_SAMPLES) -> dict:
    """Per task and method: mean/std over seeds of every metric, of the distinct outputs and of the batch-1 latency,
    the speed-up over AR beam 4, the share of the AR-NAR gap (AR beam 4 vs NAR on gold) each NAR method closes on
    every metric ((method - gold) / (AR - gold) on the means; None where AR is not above NAR on gold), the paired
    bootstrap of each SPMD variant against `nar-distilled` and `nar-gold` on the task's first metric (test
    predictions of all seeds pooled, paired by seed and example), and the gates."""
    by_task: dict[str, list[dict]] = {}
    for run in runs:
        by_task.setdefault(run["task"], []).append(run)
    out: dict = {}
    for task, task_runs in by_task.items():
        metrics = task_runs[0]["metrics"]
        cells: dict = {}
        pooled: dict = {}
        for run in sorted(task_runs, key=lambda r: r["seed"]):
            for row in run["rows"]:
                cell = cells.setdefault(row["method"], {"seeds": []})
                cell["seeds"].append(run["seed"])
                for key in (*metrics, "distinct_outputs", "ms_per_sample_batch1"):
                    if row.get(key) is not None:
                        cell.setdefault(key, []).append(row[key])
                cell.setdefault("commands", []).append(row.get("command"))
                predictions, references = read_predictions(row["predictions"])
                entry = pooled.setdefault(row["method"], {"predictions": [], "references": []})
                entry["predictions"] += predictions
                entry["references"] += references
        summary = {
            method: {
                "seeds": cell["seeds"],
                "samples": task_runs[0]["rows"][0]["samples"],
                "commands": cell["commands"],
                **{key: mean_std(values) for key, values in cell.items() if key not in ("seeds", "commands")},
            }
            for method, cell in cells.items()
        }
        if "ar-beam4" in summary:
            reference = summary["ar-beam4"]["ms_per_sample_batch1"]["mean"]
            for cell in summary.values():
                cell["speedup_vs_ar_beam4"] = reference / cell["ms_per_sample_batch1"]["mean"]
        if "ar-beam4" in summary and "nar-gold" in summary:
            for method, cell in summary.items():
                if method.startswith("nar-"):
                    cell["gap_closed"] = {}
                    for key in metrics:
                        base = summary["nar-gold"][key]["mean"]
                        gap = summary["ar-beam4"][key]["mean"] - base
                        cell["gap_closed"][key] = (cell[key]["mean"] - base) / gap if gap > 0 else None
        tests = {}
        for variant in (m for m in SPMD_VARIANTS if m in pooled):
            for baseline in ("nar-distilled", "nar-gold"):
                if baseline in pooled and len(pooled[baseline]["predictions"]) == len(pooled[variant]["predictions"]):
                    tests[f"{variant} vs {baseline}"] = paired_bootstrap(
                        metrics[0],
                        pooled[variant]["predictions"],
                        pooled[baseline]["predictions"],
                        pooled[variant]["references"],
                        bootstrap_samples,
                    )
        out[task] = {
            "metrics": metrics,
            "methods": summary,
            "bootstrap": tests,
            "gates": gates(task, metrics, summary),
        }
    return out


def gates(task: str, metrics: list[str], summary: dict) -> dict:
    """The conditions under which the comparison can say anything (issue of this package's evidence): the AR teacher
    (beam 4) above NAR on gold by at least 3 points of the first metric on translation (debtrans) and by more than
    the seed spread elsewhere, and sequence-level KD above NAR on gold on translation."""
    metric = metrics[0]
    result = {}
    if "ar-beam4" in summary and "nar-gold" in summary:
        ar, gold = summary["ar-beam4"][metric], summary["nar-gold"][metric]
        margin = ar["mean"] - gold["mean"]
        needed = 3.0 if task.startswith("debtrans") else max(ar["std"], gold["std"])
        result["teacher_beats_nar_gold"] = {
            "margin": margin,
            "needed": needed,
            "holds": margin > needed or (task.startswith("debtrans") and margin >= needed),
        }
    if task.startswith("debtrans") and "nar-distilled" in summary and "nar-gold" in summary:
        margin = summary["nar-distilled"][metric]["mean"] - summary["nar-gold"][metric]["mean"]
        result["seq_kd_beats_nar_gold"] = {"margin": margin, "holds": margin > 0}
    return result


def format_cell(stats: dict) -> str:
    return f"{stats['mean']:.2f} ± {stats['std']:.2f}" if stats["n"] > 1 else f"{stats['mean']:.2f}"


def markdown(results: dict) -> str:
    lines = []
    for task, record in results.items():
        metrics, methods = record["metrics"], record["methods"]
        seeds = sorted({len(cell["seeds"]) for cell in methods.values()})
        samples = next(iter(methods.values()))["samples"]
        lines += [f"### {task} (test, {samples} examples; mean ± std over {'/'.join(map(str, seeds))} seed(s))", ""]
        header = ["Method", *(METRIC_TITLES.get(k, k) for k in metrics), "distinct outputs", "ms / sample (batch 1)",
                  "speed-up vs AR beam 4"]  # fmt: skip
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for method in METHOD_TITLES:
            if method not in methods:
                continue
            cell = methods[method]
            cells = [METHOD_TITLES[method], *(format_cell(cell[k]) for k in metrics)]
            cells.append(f"{cell['distinct_outputs']['mean']:.0f}")
            cells.append(f"{cell['ms_per_sample_batch1']['mean']:.2f}")
            speedup = cell.get("speedup_vs_ar_beam4")
            cells.append(f"{speedup:.1f}x" if speedup is not None else "")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        gapped = [m for m in METHOD_TITLES if "gap_closed" in methods.get(m, {})]
        if gapped:
            lines += ["Share of the gap between NAR on gold and AR beam 4 closed ((method - gold) / (AR - gold), on "
                      "the means; 'no gap' where AR beam 4 is not above NAR on gold):", "",
                      "| Method | " + " | ".join(METRIC_TITLES.get(k, k) for k in metrics) + " |",
                      "|" + "---|" * (len(metrics) + 1)]  # fmt: skip
            for method in gapped:
                shares = [methods[method]["gap_closed"].get(k) for k in metrics]
                cells = [f"{100 * v:+.0f}%" if v is not None else "no gap" for v in shares]
                lines.append(f"| {METHOD_TITLES[method]} | " + " | ".join(cells) + " |")
            lines.append("")
        if record["bootstrap"]:
            title = METRIC_TITLES.get(metrics[0], metrics[0])
            lines += [f"Paired bootstrap ({BOOTSTRAP_SAMPLES} resamples of the test examples, all seeds pooled) on "
                      f"{title}:", "", "| Comparison | difference | p (not better) |", "|---|---|---|"]  # fmt: skip
            for name, test in record["bootstrap"].items():
                lines.append(f"| {name} | {test['difference']:+.2f} | {test['p_value']:.3f} |")
            lines.append("")
        for name, gate in record["gates"].items():
            lines.append(f"- gate `{name}`: {'holds' if gate['holds'] else 'FAILS'} (margin {gate['margin']:+.2f}"
                         + (f", needed {gate['needed']:.2f})" if "needed" in gate else ")"))  # fmt: skip
        lines.append("")
    return "\n".join(lines)


def chart(results: dict, path: Path) -> None:
    """Bars of each task's first metric (mean ± std) per method, one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 4.8), squeeze=False)
    for ax, (task, record) in zip(axes[0], results.items(), strict=True):
        metric, methods = record["metrics"][0], record["methods"]
        names = [m for m in METHOD_TITLES if m in methods]
        means = [methods[m][metric]["mean"] for m in names]
        stds = [methods[m][metric]["std"] for m in names]
        colors = ["tab:gray" if not m.startswith("nar-") else "tab:blue" for m in names]
        ax.bar(range(len(names)), means, yerr=stds, color=colors, capsize=3)
        ax.set_xticks(range(len(names)), names, rotation=40, ha="right")
        ax.set_ylabel(f"{METRIC_TITLES.get(metric, metric)} (test)")
        ax.set_title(f"{task}: mean ± std over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def tabulate(runs_dir: Path, output_dir: Path, min_seeds: int = 1, bootstrap_samples: int = BOOTSTRAP_SAMPLES) -> dict:
    """Aggregates the replicates under `runs_dir` (`aggregate`) into `output_dir/results.{json,md,png}`; refuses
    cells with fewer than `min_seeds` seeds. Returns the record written to results.json."""
    files = sorted(Path(runs_dir).glob("*/seed-*/results.json"))
    runs = [json.loads(p.read_text()) for p in files]
    if not runs:
        raise SystemExit(f"No */seed-*/results.json under {runs_dir}; run `bang-evidence run` first.")
    results = aggregate(runs, bootstrap_samples)
    for task, record in results.items():
        few = [m for m, cell in record["methods"].items() if len(cell["seeds"]) < min_seeds]
        if few:
            raise SystemExit(f"{task}: {few} have fewer than --min_seeds {min_seeds} seeds.")
    output_dir.mkdir(parents=True, exist_ok=True)
    record = {"results": results, "runs": [{"task": r["task"], "seed": r["seed"], "settings": r["settings"]}
                                           for r in runs]}  # fmt: skip
    (output_dir / "results.json").write_text(json.dumps(record, indent=2))
    table = markdown(results)
    (output_dir / "results.md").write_text(table)
    chart(results, output_dir / "results.png")
    print(table)
    return record


__all__ = ["DEFAULT_STUDENTS", "EvidenceRun", "aggregate", "markdown", "paired_bootstrap", "run_evidence", "tabulate"]
