"""The SPMD comparison on real data: every method, several seeds, one table (`run_evidence`, `tabulate`).

`run_evidence(EvidenceRun(...))` (`bang-evidence run`) executes the steps of `bang_spmd.experiments.pipeline` (each
printed as the `bang-*` command that does the same, each resumable, so the grid can be completed over several
sittings):

* one teacher per data set (`teacher_seed`), BANG trained from random initialisation (or from `init_model`, e.g. the
  converted released checkpoint) in `ngram` mode with two predicting streams, decodes AR greedy, AR beam 4, and
  semi-NAR with blocks of 2 tokens (one model for the three rows, as BANG serves AR and semi-NAR from one checkpoint);
  these rows are one run each;
* its beam-4 output on the first `distill_samples` training rows gives the distilled targets, and for every seed
  of `seeds` each NAR student trains on those rows for the same number of steps, starting from the teacher's weights
  (`bang_spmd.experiments.settings.STUDENT_OPTIONS`: gold = BANG's NAR baseline, distilled = sequence-level KD, mixed =
  mixed distillation alone, spmd = mixed + self-paced, spmd-linear = the self-paced ablation);
* every model is scored on the test split (`eval_samples` rows, batched) with ROUGE-1/2/L, BLEU-4 and, where
  WordNet is installed, METEOR; the time per sample is measured separately at batch size 1 on `latency_samples`
  rows, after a warm-up call.

This package's choice for a CPU budget: the teacher is trained once and shared, so the comparison the seeds measure
is the one between the NAR students (a seed changes their data order, dropout and, for `random_mix`, the draws);
the tokenizer is fitted once per data set on its training split. `tabulate` aggregates the runs found: mean and
standard deviation over the seeds, the share of the AR-NAR gap closed, a chart.
"""

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .pipeline import distill, evaluate, fit_tokenizer, train_student, train_teacher
from .settings import STUDENT_OPTIONS, ExperimentOptions, ExperimentSettings


# Column names and lengths of the data sets this package knows (`--dataset custom` takes them from the flags).
DATASETS = {
    "wndef": {"source_columns": "word,example", "target_column": "definition", "max_source_length": 40,
              "max_target_length": 32},
    "debsum": {"source_columns": "document", "target_column": "summary", "max_source_length": 64,
               "max_target_length": 24},
    "squad-qg": {"source_columns": "answer,context", "target_column": "question", "max_source_length": 256,
                 "max_target_length": 40},
    "xsum": {"source_columns": "document", "target_column": "summary", "max_source_length": 512,
             "max_target_length": 64},
}  # fmt: skip
# (method, model folder, `Decoding` options); NAR students follow from STUDENT_OPTIONS.
TEACHER_METHODS = (
    ("ar-greedy", "teacher", {"decoding_mode": "ar", "num_beams": 1}),
    ("ar-beam4", "teacher", {"decoding_mode": "ar", "num_beams": 4}),
    ("semi-nar-k2", "teacher", {"decoding_mode": "semi_nar", "semi_nar_block_size": 2}),
)
NAR_DECODING = {"decoding_mode": "nar"}
METHOD_TITLES = {
    "ar-greedy": "AR greedy",
    "ar-beam4": "AR beam 4",
    "semi-nar-k2": "semi-NAR (2 tokens / step)",
    "nar-gold": "NAR on gold (BANG baseline)",
    "nar-distilled": "NAR on distilled (seq-level KD)",
    "nar-mixed": "NAR, mixed distillation",
    "nar-spmd": "NAR, SPMD (mixed + self-paced)",
    "nar-spmd-linear": "NAR, SPMD with linear self-paced weights (ablation)",
}
METRICS = (("rouge1_f1", "ROUGE-1"), ("rouge2_f1", "ROUGE-2"), ("rougeL_f1", "ROUGE-L"), ("bleu4", "BLEU-4"),
           ("meteor", "METEOR"))  # fmt: skip
GAP_METRIC = "rougeL_f1"


@dataclass(kw_only=True)
class EvidenceRun(ExperimentOptions):
    """The options of `run_evidence`: `bang-evidence run`'s flags, with their defaults."""

    dataset: str  # a key of DATASETS, or "custom" (then the columns and lengths are required)
    data_dir: Path  # a folder with train/validation/test .jsonl
    output_dir: Path = Path("outputs/evidence")
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])  # student seeds
    teacher_seed: int = 1  # the seed of the one teacher all students share
    students: list[str] = field(default_factory=lambda: list(STUDENT_OPTIONS))
    source_columns: str | None = None  # default: the data set's (DATASETS)
    target_column: str | None = None
    max_source_length: int | None = None
    max_target_length: int | None = None  # also the NAR canvas
    teacher_steps: int = 2000
    student_steps: int = 1000
    distill_samples: int | None = None  # training rows distilled and used by the students (default: all)
    eval_samples: int | None = None  # test rows scored (default: all)
    latency_samples: int = 100  # test rows timed at batch size 1
    init_model: str | None = None  # a saved BANG folder the teacher starts from (its shape and tokenizer win)


def experiment_settings(options: "EvidenceRun", seed: int) -> ExperimentSettings:
    """The data set's columns and lengths (`DATASETS`, or the options for `custom`) and the run's options."""
    preset = dict(DATASETS.get(options.dataset, {}))
    for name in ("source_columns", "target_column", "max_source_length", "max_target_length"):
        if getattr(options, name) is not None:
            preset[name] = getattr(options, name)
    missing = [
        n for n in ("source_columns", "target_column", "max_source_length", "max_target_length") if n not in preset
    ]
    if missing:
        raise SystemExit(f"--dataset custom needs {', '.join('--' + n for n in missing)}.")
    return ExperimentSettings.from_options(options, **preset, teacher_mode="ngram", ngram=2, seed=seed)


def first_rows(source: Path, target: Path, count: int | None) -> Path:
    """`target` holds the first `count` rows of `source` (all when None); written once."""
    if not target.is_file():
        lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(lines if count is None else lines[:count]), encoding="utf-8")
    return target


def evaluate_methods(options, settings: ExperimentSettings, run_dir: Path, test: Path, methods) -> list[dict]:
    """Quality on the test rows (batched) and time per sample at batch size 1, for each (method, folder, flags)."""
    rows = []
    for method, folder, decoding in methods:
        quality = evaluate(settings, run_dir / folder, test, decoding, f"test-{method}")
        latency = evaluate(settings, run_dir / folder, test, decoding, f"latency-{method}", 1, options.latency_samples)
        rows.append({"method": method, **quality, "ms_per_sample_batch1": latency["ms_per_sample"]})
    return rows


def check_settings(record: Path, wanted: dict) -> None:
    """Refuses to continue a run made with other settings (its results would mix two experiments)."""
    if record.is_file() and json.loads(record.read_text()) != wanted:
        raise SystemExit(f"{record.parent} holds a run with other settings; remove it or choose another --output_dir.")
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(wanted, indent=2))


def run_evidence(options: "EvidenceRun") -> dict:
    """The shared teacher (trained, distilled from and evaluated once), then every student for every seed.

    Writes `<dataset>/teacher-results.json` (AR and semi-NAR rows) and `<dataset>/seed-<s>/results.json` (NAR rows).
    """
    splits = {s: options.data_dir / f"{s}.jsonl" for s in ("train", "validation", "test")}
    missing = [str(p) for p in splits.values() if not p.is_file()]
    if missing:
        raise SystemExit(f"--data_dir {options.data_dir} lacks {', '.join(missing)}.")
    root = options.output_dir / options.dataset
    teacher_settings = experiment_settings(options, options.teacher_seed)
    shared = {**teacher_settings.to_dict(), "data_dir": str(options.data_dir),
              "distill_samples": options.distill_samples, "eval_samples": options.eval_samples,
              "latency_samples": options.latency_samples}  # fmt: skip
    check_settings(root / "settings.json", shared)

    tokenizer, teacher = root / "tokenizer", root / "teacher"
    if options.init_model is None:
        fit_tokenizer(teacher_settings, splits["train"], tokenizer)
    elif not (Path(options.init_model) / "config.json").is_file():
        raise SystemExit(f"--init_model {options.init_model} is not a saved model folder (no config.json).")
    train_teacher(teacher_settings, splits["train"], splits["validation"], tokenizer, teacher)
    subset = first_rows(splits["train"], root / "train-subset.jsonl", options.distill_samples)
    distilled = root / "distilled" / "train.jsonl"
    distill(teacher_settings, teacher, subset, distilled)
    test = first_rows(splits["test"], root / "test-subset.jsonl", options.eval_samples)
    teacher_rows = evaluate_methods(options, teacher_settings, root, test, TEACHER_METHODS)
    teacher_result = {
        "dataset": options.dataset,
        "seed": options.teacher_seed,
        "settings": shared,
        "rows": teacher_rows,
    }
    (root / "teacher-results.json").write_text(json.dumps(teacher_result, indent=2))

    runs = [teacher_result]
    for seed in options.seeds:
        settings = experiment_settings(options, seed)
        run_dir = root / f"seed-{seed}"
        run_dir.mkdir(parents=True, exist_ok=True)
        for variant in options.students:
            train_student(settings, variant, teacher, distilled, splits["validation"], run_dir / variant)
        methods = [(v, v, NAR_DECODING) for v in options.students]
        result = {"dataset": options.dataset, "seed": seed, "settings": {**shared, "seed": seed},
                  "rows": evaluate_methods(options, settings, run_dir, test, methods)}  # fmt: skip
        (run_dir / "results.json").write_text(json.dumps(result, indent=2))
        runs.append(result)
    return {"runs": runs}


def mean_std(values: list[float]) -> dict:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
        "values": values,
    }


def aggregate(runs: list[dict]) -> dict:
    """Per data set and method: mean/std over seeds of every metric and of the batch-1 latency, the speed-up over
    AR beam 4, and for every metric the share of the AR-NAR gap (AR beam 4 vs NAR on gold) a NAR method closes:
    (method - gold) / (AR - gold) on the means, None where AR does not score above NAR on gold (no gap to close)."""
    table: dict = {}
    for run in runs:
        for row in run["rows"]:
            cell = table.setdefault(run["dataset"], {}).setdefault(row["method"], {})
            for key in (*(k for k, _ in METRICS), "ms_per_sample_batch1", "ms_per_sample"):
                if row.get(key) is not None:
                    cell.setdefault(key, []).append(row[key])
            cell.setdefault("seeds", []).append(run["seed"])
    out: dict = {}
    for dataset, methods in table.items():
        out[dataset] = {}
        for method, cell in methods.items():
            seeds = cell.pop("seeds")
            out[dataset][method] = {"seeds": seeds, **{key: mean_std(values) for key, values in cell.items()}}
        ar, gold = methods.get("ar-beam4"), methods.get("nar-gold")
        for method, cell in out[dataset].items():
            if ar is not None:
                cell["speedup_vs_ar_beam4"] = (
                    out[dataset]["ar-beam4"]["ms_per_sample_batch1"]["mean"] / cell["ms_per_sample_batch1"]["mean"]
                )
            if ar is not None and gold is not None and method.startswith("nar-"):
                cell["gap_closed"] = {}
                for key, _ in METRICS:
                    if key not in cell:
                        continue
                    base = out[dataset]["nar-gold"][key]["mean"]
                    gap = out[dataset]["ar-beam4"][key]["mean"] - base
                    cell["gap_closed"][key] = (cell[key]["mean"] - base) / gap if gap > 0 else None
    return out


def markdown(results: dict) -> str:
    lines = []
    for dataset, methods in results.items():
        metric_keys = [(k, t) for k, t in METRICS if all(k in cell for cell in methods.values())]
        seeds = sorted({len(cell["seeds"]) for method, cell in methods.items() if method.startswith("nar-")})
        lines += [
            f"### {dataset} (test split; NAR rows: mean ± std over {'/'.join(map(str, seeds))} student seed(s); "
            "AR and semi-NAR rows: the one teacher all students share)",
            "",
        ]
        header = ["Method", *(t for _, t in metric_keys), "ms / sample (batch 1)", "speed-up vs AR beam 4"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for method in METHOD_TITLES:
            if method not in methods:
                continue
            cell = methods[method]
            cells = [METHOD_TITLES[method]]
            cells += [
                f"{cell[k]['mean']:.2f} ± {cell[k]['std']:.2f}" if cell[k]["n"] > 1 else f"{cell[k]['mean']:.2f}"
                for k, _ in metric_keys
            ]
            cells.append(f"{cell['ms_per_sample_batch1']['mean']:.2f}")
            speedup = cell.get("speedup_vs_ar_beam4")
            cells.append(f"{speedup:.1f}x" if speedup is not None else "")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        gapped = [m for m in METHOD_TITLES if "gap_closed" in methods.get(m, {})]
        if gapped:
            lines += [
                "Share of the gap between NAR on gold and AR beam 4 that each NAR method closes, per metric "
                "((method - gold) / (AR - gold), on the means; 'no gap' where AR beam 4 does not score above NAR on "
                "gold):",
                "",
                "| Method | " + " | ".join(t for _, t in metric_keys) + " |",
                "|" + "---|" * (len(metric_keys) + 1),
            ]
            for method in gapped:
                shares = [methods[method]["gap_closed"].get(k) for k, _ in metric_keys]
                cells = [f"{100 * v:+.0f}%" if v is not None else "no gap" for v in shares]
                lines.append(f"| {METHOD_TITLES[method]} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def chart(results: dict, path: Path) -> None:
    """Bars of ROUGE-L (mean ± std) per method, one panel per data set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5), squeeze=False)
    for ax, (dataset, methods) in zip(axes[0], results.items(), strict=True):
        names = [m for m in METHOD_TITLES if m in methods]
        means = [methods[m][GAP_METRIC]["mean"] for m in names]
        stds = [methods[m][GAP_METRIC]["std"] for m in names]
        colors = ["tab:gray" if not m.startswith("nar-") else "tab:blue" for m in names]
        ax.bar(range(len(names)), means, yerr=stds, color=colors, capsize=3)
        ax.set_xticks(range(len(names)), names, rotation=40, ha="right")
        ax.set_ylabel("ROUGE-L F1 (test)")
        ax.set_title(f"{dataset}: NAR mean ± std over student seeds")
        low = min(m - s for m, s in zip(means, stds, strict=True))
        ax.set_ylim(max(0.0, low - 2), max(m + s for m, s in zip(means, stds, strict=True)) + 1)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def tabulate(runs_dir: Path, output_dir: Path, min_seeds: int = 1) -> dict:
    """Aggregates the runs under `runs_dir` (`aggregate`) into `output_dir/results.{json,md,png}`; refuses NAR cells
    with fewer than `min_seeds` seeds. Returns the record written to results.json."""
    files = sorted(runs_dir.glob("*/teacher-results.json")) + sorted(runs_dir.glob("*/seed-*/results.json"))
    runs = [json.loads(p.read_text()) for p in files]
    if not runs:
        raise SystemExit(f"No */seed-*/results.json under {runs_dir}; run `bang-evidence run` first.")
    results = aggregate(runs)
    for dataset, methods in results.items():
        few = [m for m, cell in methods.items() if m.startswith("nar-") and len(cell["seeds"]) < min_seeds]
        if few:
            raise SystemExit(f"{dataset}: {few} have fewer than --min_seeds {min_seeds} student seeds.")
    output_dir.mkdir(parents=True, exist_ok=True)
    record = {"results": results, "runs": [{"dataset": r["dataset"], "seed": r["seed"], "settings": r["settings"]}
                                           for r in runs]}  # fmt: skip
    (output_dir / "results.json").write_text(json.dumps(record, indent=2))
    table = markdown(results)
    (output_dir / "results.md").write_text(table)
    chart(results, output_dir / "results.png")
    print(table)
    return record


__all__ = ["DATASETS", "EvidenceRun", "aggregate", "markdown", "run_evidence", "tabulate"]
