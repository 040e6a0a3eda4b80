"""Quickstart: train a small BANG AR teacher and an SPMD NAR student, compare them, and save a Hub-ready model.

    HF_HUB_OFFLINE=1 bang-quickstart                 # the embedded debsum sample; about 10 minutes on 2 CPU cores
    HF_HUB_OFFLINE=1 bang-quickstart --output_dir outputs/qs --teacher_steps 1500 --student_steps 800

Stages, in order (each skips itself when its result exists and the training stages resume from their last
checkpoint, so running the same command again after an interruption continues where it stopped; `--overwrite`
starts again):
1. data: the embedded debsum sample (`bang_spmd/quickstart_data/debsum_sample`: 5,000 training, 200 validation and
   300 test Debian package descriptions with their one-line synopses; licence in its README) or `--data_dir`,
   copied to `OUTPUT/data/`.
2. tokenizer: a WordPiece vocabulary of `--vocab_size` pieces fitted to the training split.
3. teacher: BANG fine-tuned in AR mode from random initialisation (`bang-finetune --mode ar`; no pretrained
   checkpoint can be downloaded offline).
4. distillation: the teacher's beam-search output for every training source (`bang-distill`).
5. students: two NAR models with the same shape, data, steps and seed (`bang-train`), both initialised from the
   teacher's weights. That is this quickstart's choice: in the paper both start from the pretrained BANG checkpoint,
   for which the teacher stands in here. `nar-baseline` is BANG's NAR fine-tuning on the gold targets; `nar-spmd` is
   SPMD: per sample the reference (gold or distilled) the student already models best, and self-paced hard weights
   that admit a growing share of each batch.
6. evaluation on the test split at batch size 1 (`bang-evaluate`): ROUGE and BLEU against the gold synopses and the
   milliseconds per sample, for the teacher (AR greedy, AR beam 4) and the two students (one NAR pass). The table is
   printed and saved as `OUTPUT/results.md` and `OUTPUT/results.json`.

The SPMD student in `OUTPUT/nar-spmd` gets a model card (README.md) and loads with
`AutoModelForSeq2SeqLM.from_pretrained("OUTPUT/nar-spmd", trust_remote_code=True)`; `--push_to_hub --hub_model_id
user/name` publishes it (`bang-push` does the same later).
"""

import argparse
import gzip
import json
import shutil
import sys
from pathlib import Path

from bang_spmd.model_cards import write_model_card
from bang_spmd.pipeline import ExperimentSettings, distill, evaluate, fit_tokenizer, train_student, train_teacher
from bang_spmd.publish import push_model_folder_to_hub


EMBEDDED_DATA = Path(__file__).resolve().parent / "quickstart_data" / "debsum_sample"
SPLITS = ("train", "validation", "test")
# What the table reports, in order: (row name, model folder, evaluation name, `bang-evaluate` decoding flags).
EVALUATIONS = (
    ("AR teacher, greedy", "teacher", "test-ar-greedy", ["--decoding_mode", "ar", "--num_beams", "1"]),
    ("AR teacher, beam 4", "teacher", "test-ar-beam4", ["--decoding_mode", "ar", "--num_beams", "4"]),
    ("NAR baseline (gold targets)", "nar-gold", "test-nar", ["--decoding_mode", "nar"]),
    ("NAR + SPMD", "nar-spmd", "test-nar", ["--decoding_mode", "nar"]),
)
METRIC_COLUMNS = (
    ("rouge1_f1", "ROUGE-1"),
    ("rouge2_f1", "ROUGE-2"),
    ("rougeL_f1", "ROUGE-L"),
    ("bleu4", "BLEU-4"),
    ("meteor", "METEOR"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bang-quickstart", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    group = parser.add_argument_group("output")
    group.add_argument("--output_dir", type=Path, default=Path("outputs/quickstart"), help="folder of every stage")
    group.add_argument("--overwrite", action="store_true", help="delete --output_dir and start again")
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data_dir", type=Path, default=None, help="folder with train/validation/test .jsonl (default: the sample)"
    )
    group.add_argument("--source_columns", default="document", help="comma-separated source columns")
    group.add_argument("--target_column", default="summary", help="target column")
    group.add_argument("--max_train_samples", type=int, default=None, help="first N training rows (default: all)")
    group.add_argument("--eval_samples", type=int, default=300, help="test rows scored and timed")
    group.add_argument("--max_source_length", type=int, default=64, help="source tokens (longer ones are cut)")
    group.add_argument("--max_target_length", type=int, default=24, help="target tokens with [SEP]; NAR canvas")
    group = parser.add_argument_group("model (teacher and students share it)")
    group.add_argument("--vocab_size", type=int, default=4000, help="WordPiece vocabulary fitted to the train split")
    group.add_argument("--hidden_size", type=int, default=128)
    group.add_argument("--layers", type=int, default=2, help="encoder layers = decoder layers")
    group.add_argument("--attention_heads", type=int, default=4)
    group.add_argument("--ffn_dim", type=int, default=512)
    group = parser.add_argument_group("training")
    group.add_argument("--teacher_steps", type=int, default=500, help="AR teacher optimisation steps")
    group.add_argument("--student_steps", type=int, default=250, help="steps of each NAR student")
    group.add_argument("--batch_size", type=int, default=32, help="training batch size")
    group.add_argument("--learning_rate", type=float, default=1e-3)
    group.add_argument("--num_beams", type=int, default=4, help="teacher beam size for the distilled targets")
    group.add_argument("--seed", type=int, default=42)
    group = parser.add_argument_group("publishing")
    group.add_argument("--hub_model_id", default=None, help="repo id written into the card (and pushed to)")
    group.add_argument("--push_to_hub", action="store_true", help="upload the SPMD student to --hub_model_id")
    return parser


def check_args(args: argparse.Namespace) -> None:
    for name in ("eval_samples", "teacher_steps", "student_steps", "batch_size", "vocab_size", "num_beams"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name} must be at least 1, got {getattr(args, name)}.")
    if args.max_train_samples is not None and args.max_train_samples < 1:
        raise SystemExit(f"--max_train_samples must be at least 1, got {args.max_train_samples}.")
    if args.push_to_hub and not args.hub_model_id:
        raise SystemExit("--push_to_hub needs --hub_model_id (e.g. your-name/bang-debsum-spmd).")
    if args.data_dir is not None:
        missing = [s for s in SPLITS if not (args.data_dir / f"{s}.jsonl").is_file()]
        if missing:
            raise SystemExit(f"--data_dir {args.data_dir} lacks {', '.join(f'{s}.jsonl' for s in missing)}.")


def prepare_output_dir(args: argparse.Namespace) -> None:
    """Starts a new run, or resumes one made with the same settings (a changed setting would mix two runs; the
    publishing flags may change, so a finished run can be published by running the command again with them)."""
    ignored = ("overwrite", "hub_model_id", "push_to_hub")
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in ignored}
    record = args.output_dir / "quickstart_settings.json"
    if args.overwrite and args.output_dir.exists():
        shutil.rmtree(args.output_dir)
    if record.is_file():
        previous = json.loads(record.read_text())
        changed = sorted(k for k in settings.keys() | previous.keys() if settings.get(k) != previous.get(k))
        if changed:
            raise SystemExit(
                f"{args.output_dir} holds a run with other settings ({', '.join(changed)}); pass --overwrite to "
                "start again or choose another --output_dir."
            )
        print(f"Resuming the run in {args.output_dir}")
    elif args.output_dir.exists() and any(args.output_dir.iterdir()):
        raise SystemExit(f"{args.output_dir} is not empty and is not a quickstart run; pass --overwrite.")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(settings, indent=2))


def copy_data(args: argparse.Namespace, data: Path) -> None:
    data.mkdir(exist_ok=True)
    for split in SPLITS:
        target = data / f"{split}.jsonl"
        if target.is_file():
            continue
        if args.data_dir is not None:
            text = (args.data_dir / f"{split}.jsonl").read_text(encoding="utf-8")
        else:
            text = gzip.decompress((EMBEDDED_DATA / f"{split}.jsonl.gz").read_bytes()).decode("utf-8")
        lines = text.splitlines(keepends=True)
        if split == "train" and args.max_train_samples is not None:
            lines = lines[: args.max_train_samples]
        if split == "test":
            lines = lines[: args.eval_samples]
        target.with_suffix(".tmp").write_text("".join(lines), encoding="utf-8")
        target.with_suffix(".tmp").replace(target)
        print(f"data: {len(lines)} {split} rows -> {target}")


def results_table(rows: list[dict]) -> str:
    """A markdown table: the metrics, the milliseconds per sample and the speed-up over AR beam 4."""
    reference = next(r["ms_per_sample"] for r in rows if r["name"] == "AR teacher, beam 4")
    metrics = [(key, title) for key, title in METRIC_COLUMNS if all(key in r for r in rows)]
    header = ["Model, decoding", *(title for _, title in metrics), "ms / sample", "speed-up vs AR beam 4"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["name"], *(f"{row[key]:.2f}" for key, _ in metrics)]
        cells += [f"{row['ms_per_sample']:.2f}", f"{reference / row['ms_per_sample']:.1f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_card(args: argparse.Namespace, settings: ExperimentSettings, folder: Path, rows: list[dict]) -> None:
    """The SPMD student's model card: its NAR result in the model-index, the other rows as baselines."""
    own = next(r for r in rows if r["name"] == "NAR + SPMD")
    baselines = [{**r, "model_label": r["name"].split(",")[0]} for r in rows if r is not own]
    data_name = "debsum sample" if args.data_dir is None else args.data_dir.name
    source = args.source_columns.split(",")[0]
    example = json.loads((args.output_dir / "data" / "test.jsonl").read_text(encoding="utf-8").splitlines()[0])
    write_model_card(
        folder,
        model_type="spmd",
        results=[own],
        baselines=baselines,
        repo_id=args.hub_model_id or "your-name/bang-quickstart-spmd",
        dataset={"name": data_name, "split": "test"},
        training={
            "data": f"{data_name}: {args.source_columns} -> {args.target_column}",
            "initialisation": "the AR teacher's weights (trained from scratch with bang-quickstart)",
            "steps": f"teacher {settings.teacher_steps}, student {settings.student_steps}",
            "batch size": settings.batch_size,
            "SPMD options": "mixing_strategy=select, self_paced_scheme=hard, one distilled target (beam 4)",
            "shape": f"hidden {settings.hidden_size}, {settings.layers}+{settings.layers} layers, "
            f"vocabulary {settings.vocab_size}",
        },
        example_inputs=[str(example[source])],
        limitations=[
            "A small model trained for minutes on a few thousand examples: a demonstration of the pipeline, not a "
            "useful summariser.",
        ],
        overwrite=True,
    )


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    check_args(args)
    settings = ExperimentSettings.from_namespace(args)
    prepare_output_dir(args)
    out = args.output_dir
    data, teacher, distilled = out / "data", out / "teacher", out / "distilled" / "train.jsonl"
    models = {"teacher": teacher, "nar-gold": out / "nar-gold", "nar-spmd": out / "nar-spmd"}

    copy_data(args, data)
    fit_tokenizer(settings, data / "train.jsonl", out / "tokenizer")
    train_teacher(settings, data / "train.jsonl", data / "validation.jsonl", out / "tokenizer", teacher)
    distill(settings, teacher, data / "train.jsonl", distilled)
    for variant in ("nar-gold", "nar-spmd"):
        train_student(settings, variant, teacher, distilled, data / "validation.jsonl", models[variant])
    rows = []
    for name, model, evaluation, decoding in EVALUATIONS:  # one example at a time: the latency a user sees
        print(f"evaluation: {name}", flush=True)
        rows.append({"name": name, **evaluate(settings, models[model], data / "test.jsonl", decoding, evaluation, 1)})

    write_card(args, settings, models["nar-spmd"], rows)
    table = results_table(rows)
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    (out / "results.md").write_text(table + "\n")
    source = "the debsum sample" if args.data_dir is None else args.data_dir
    print(f"\nTest split of {source}, {rows[0]['samples']} examples, batch size 1, {rows[0]['device']}:\n\n{table}\n")
    print(
        f"The SPMD student is in {models['nar-spmd']}; load it with\n"
        f"    AutoModelForSeq2SeqLM.from_pretrained({str(models['nar-spmd'])!r}, trust_remote_code=True)"
    )
    if args.push_to_hub:
        print(f"Published: {push_model_folder_to_hub(models['nar-spmd'], args.hub_model_id)}")
    return {"rows": rows, "table": table, "model_dir": str(models["nar-spmd"])}


if __name__ == "__main__":
    main(sys.argv[1:])
