"""The SPMD comparison on real data: every method, several seeds, one table (`bang-evidence run` / `tabulate`).

    # one replicate (seed) of every method on wndef: tokenizer, teacher, distillation, NAR students, evaluation
    HF_HUB_OFFLINE=1 bang-evidence run --dataset wndef --data_dir ../shared/data/wndef --seeds 1 \\
        --output_dir outputs/evidence
    # mean and standard deviation over the seeds found, the share of the AR-NAR gap closed, a chart
    bang-evidence tabulate --runs_dir outputs/evidence --output_dir examples/results/evidence

`run` executes the steps of `bang_spmd.pipeline` (each printed as the `bang-*` command it runs, each resumable, so
the grid can be completed over several sittings):

* one teacher per data set (`--teacher_seed`), BANG trained from random initialisation (or from `--init_model`,
  e.g. the converted released checkpoint) in `ngram` mode with two
  predicting streams, decodes AR greedy, AR beam 4, and semi-NAR with blocks of 2 tokens (one model for the three
  rows, as BANG serves AR and semi-NAR from one checkpoint); these rows are one run each;
* its beam-4 output on the first `--distill_samples` training rows gives the distilled targets, and for every seed
  of `--seeds` each NAR student trains on those rows for the same number of steps, starting from the teacher's
  weights (`bang_spmd.pipeline.STUDENT_OPTIONS`: gold = BANG's NAR baseline, distilled = sequence-level KD, mixed =
  mixed distillation alone, spmd = mixed + self-paced, spmd-linear = the self-paced ablation);
* every model is scored on the test split (`--eval_samples` rows, batched) with ROUGE-1/2/L, BLEU-4 and, where
  WordNet is installed, METEOR; the time per sample is measured separately at batch size 1 on `--latency_samples`
  rows, after a warm-up call.

This package's choice for a CPU budget: the teacher is trained once and shared, so the comparison the seeds measure
is the one between the NAR students (a seed changes their data order, dropout and, for `random_mix`, the draws);
the tokenizer is fitted once per data set on its training split.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

from bang_spmd.pipeline import (
    STUDENT_OPTIONS,
    ExperimentSettings,
    distill,
    evaluate,
    fit_tokenizer,
    train_student,
    train_teacher,
)


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
# (method, model folder, `bang-evaluate` decoding flags); NAR students follow from STUDENT_OPTIONS.
TEACHER_METHODS = (
    ("ar-greedy", "teacher", ["--decoding_mode", "ar", "--num_beams", "1"]),
    ("ar-beam4", "teacher", ["--decoding_mode", "ar", "--num_beams", "4"]),
    ("semi-nar-k2", "teacher", ["--decoding_mode", "semi_nar", "--semi_nar_block_size", "2"]),
)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bang-evidence", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="train and evaluate every method for the given seeds")
    run.add_argument("--dataset", required=True, choices=[*DATASETS, "custom"])
    run.add_argument("--data_dir", type=Path, required=True, help="folder with train/validation/test .jsonl")
    run.add_argument("--output_dir", type=Path, default=Path("outputs/evidence"))
    run.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="student seeds")
    run.add_argument("--teacher_seed", type=int, default=1, help="seed of the one teacher all students share")
    run.add_argument("--students", nargs="+", default=list(STUDENT_OPTIONS), choices=list(STUDENT_OPTIONS))
    run.add_argument("--source_columns", help="`--dataset custom`: comma-separated source columns")
    run.add_argument("--target_column", help="`--dataset custom`: target column")
    run.add_argument("--max_source_length", type=int, help="default: the data set's (see DATASETS)")
    run.add_argument("--max_target_length", type=int, help="default: the data set's; also the NAR canvas")
    run.add_argument("--teacher_steps", type=int, default=2000)
    run.add_argument("--student_steps", type=int, default=1000)
    run.add_argument("--distill_samples", type=int, default=None, help="training rows distilled and used by the "
                     "students (default: all)")  # fmt: skip
    run.add_argument("--eval_samples", type=int, default=None, help="test rows scored (default: all)")
    run.add_argument("--latency_samples", type=int, default=100, help="test rows timed at batch size 1")
    run.add_argument(
        "--init_model",
        help="a saved BANG folder (e.g. `bang-convert` of the released checkpoint, or `bang-pretrain` output) the "
        "teacher starts from; its shape and tokenizer replace --vocab_size and the shape flags",
    )
    run.add_argument("--vocab_size", type=int, default=4000)
    run.add_argument("--hidden_size", type=int, default=128)
    run.add_argument("--layers", type=int, default=3)
    run.add_argument("--attention_heads", type=int, default=4)
    run.add_argument("--ffn_dim", type=int, default=512)
    run.add_argument("--batch_size", type=int, default=32)
    run.add_argument("--learning_rate", type=float, default=1e-3)
    tabulate = commands.add_parser("tabulate", help="aggregate the runs into JSON, markdown and a chart")
    tabulate.add_argument("--runs_dir", type=Path, required=True, help="--output_dir of `run`")
    tabulate.add_argument("--output_dir", type=Path, required=True, help="where results.{json,md,png} go")
    tabulate.add_argument("--min_seeds", type=int, default=1, help="refuse cells with fewer seeds")
    return parser


def experiment_settings(args: argparse.Namespace, seed: int) -> ExperimentSettings:
    preset = dict(DATASETS.get(args.dataset, {}))
    for name in ("source_columns", "target_column", "max_source_length", "max_target_length"):
        if getattr(args, name) is not None:
            preset[name] = getattr(args, name)
    missing = [
        n for n in ("source_columns", "target_column", "max_source_length", "max_target_length") if n not in preset
    ]
    if missing:
        raise SystemExit(f"--dataset custom needs {', '.join('--' + n for n in missing)}.")
    return ExperimentSettings.from_namespace(args, **preset, teacher_mode="ngram", ngram=2, seed=seed)


def first_rows(source: Path, target: Path, count: int | None) -> Path:
    """`target` holds the first `count` rows of `source` (all when None); written once."""
    if not target.is_file():
        lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(lines if count is None else lines[:count]), encoding="utf-8")
    return target


def evaluate_methods(args, settings: ExperimentSettings, run_dir: Path, test: Path, methods) -> list[dict]:
    """Quality on the test rows (batched) and time per sample at batch size 1, for each (method, folder, flags)."""
    rows = []
    for method, folder, decoding in methods:
        quality = evaluate(settings, run_dir / folder, test, decoding, f"test-{method}")
        latency = evaluate(settings, run_dir / folder, test, decoding, f"latency-{method}", 1, args.latency_samples)
        rows.append({"method": method, **quality, "ms_per_sample_batch1": latency["ms_per_sample"]})
    return rows


def check_settings(record: Path, wanted: dict) -> None:
    """Refuses to continue a run made with other settings (its results would mix two experiments)."""
    if record.is_file() and json.loads(record.read_text()) != wanted:
        raise SystemExit(f"{record.parent} holds a run with other settings; remove it or choose another --output_dir.")
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(wanted, indent=2))


def run(args: argparse.Namespace) -> dict:
    """The shared teacher (trained, distilled from and evaluated once), then every student for every seed.

    Writes `<dataset>/teacher-results.json` (AR and semi-NAR rows) and `<dataset>/seed-<s>/results.json` (NAR rows).
    """
    splits = {s: args.data_dir / f"{s}.jsonl" for s in ("train", "validation", "test")}
    missing = [str(p) for p in splits.values() if not p.is_file()]
    if missing:
        raise SystemExit(f"--data_dir {args.data_dir} lacks {', '.join(missing)}.")
    root = args.output_dir / args.dataset
    teacher_settings = experiment_settings(args, args.teacher_seed)
    shared = {**teacher_settings.to_dict(), "data_dir": str(args.data_dir), "distill_samples": args.distill_samples,
              "eval_samples": args.eval_samples, "latency_samples": args.latency_samples}  # fmt: skip
    check_settings(root / "settings.json", shared)

    tokenizer, teacher = root / "tokenizer", root / "teacher"
    if args.init_model is None:
        fit_tokenizer(teacher_settings, splits["train"], tokenizer)
    elif not (Path(args.init_model) / "config.json").is_file():
        raise SystemExit(f"--init_model {args.init_model} is not a saved model folder (no config.json).")
    train_teacher(teacher_settings, splits["train"], splits["validation"], tokenizer, teacher)
    subset = first_rows(splits["train"], root / "train-subset.jsonl", args.distill_samples)
    distilled = root / "distilled" / "train.jsonl"
    distill(teacher_settings, teacher, subset, distilled)
    test = first_rows(splits["test"], root / "test-subset.jsonl", args.eval_samples)
    teacher_rows = evaluate_methods(args, teacher_settings, root, test, TEACHER_METHODS)
    teacher_result = {"dataset": args.dataset, "seed": args.teacher_seed, "settings": shared, "rows": teacher_rows}
    (root / "teacher-results.json").write_text(json.dumps(teacher_result, indent=2))

    runs = [teacher_result]
    for seed in args.seeds:
        settings = experiment_settings(args, seed)
        run_dir = root / f"seed-{seed}"
        run_dir.mkdir(parents=True, exist_ok=True)
        for variant in args.students:
            train_student(settings, variant, teacher, distilled, splits["validation"], run_dir / variant)
        methods = [(v, v, ["--decoding_mode", "nar"]) for v in args.students]
        result = {"dataset": args.dataset, "seed": seed, "settings": {**shared, "seed": seed},
                  "rows": evaluate_methods(args, settings, run_dir, test, methods)}  # fmt: skip
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


def tabulate(args: argparse.Namespace) -> dict:
    files = sorted(args.runs_dir.glob("*/teacher-results.json")) + sorted(args.runs_dir.glob("*/seed-*/results.json"))
    runs = [json.loads(p.read_text()) for p in files]
    if not runs:
        raise SystemExit(f"No */seed-*/results.json under {args.runs_dir}; run `bang-evidence run` first.")
    results = aggregate(runs)
    for dataset, methods in results.items():
        few = [m for m, cell in methods.items() if m.startswith("nar-") and len(cell["seeds"]) < args.min_seeds]
        if few:
            raise SystemExit(f"{dataset}: {few} have fewer than --min_seeds {args.min_seeds} student seeds.")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    record = {"results": results, "runs": [{"dataset": r["dataset"], "seed": r["seed"], "settings": r["settings"]}
                                           for r in runs]}  # fmt: skip
    (args.output_dir / "results.json").write_text(json.dumps(record, indent=2))
    table = markdown(results)
    (args.output_dir / "results.md").write_text(table)
    chart(results, args.output_dir / "results.png")
    print(table)
    return record


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.command == "tabulate":
        return tabulate(args)
    return run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
