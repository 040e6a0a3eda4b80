"""Quickstart: train a small BANG AR teacher and an SPMD NAR student, compare them, and save a Hub-ready model.

`run_quickstart(QuickstartOptions(...))` (`bang-quickstart` on the command line). Stages, in order (each skips itself
when its result exists and the training stages resume from their last checkpoint, so running the same command again
after an interruption continues where it stopped; `overwrite` starts again):
1. data: the embedded debsum sample (`bang_spmd/quickstart_data/debsum_sample`: 5,000 training, 200 validation and
   300 test Debian package descriptions with their one-line synopses; licence in its README) or `data_dir`, copied
   to `OUTPUT/data/`.
2. tokenizer: a WordPiece vocabulary of `vocab_size` pieces fitted to the training split.
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
`AutoModelForSeq2SeqLM.from_pretrained("OUTPUT/nar-spmd", trust_remote_code=True)`; `push_to_hub` with
`hub_model_id` publishes it (`bang-push` does the same later).
"""

import dataclasses
import gzip
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from bang_spmd.hub.publish import push_model_folder_to_hub
from bang_spmd.model_cards import write_model_card

from .pipeline import distill, evaluate, fit_tokenizer, train_student, train_teacher
from .settings import ExperimentOptions, ExperimentSettings


EMBEDDED_DATA = Path(__file__).resolve().parents[1] / "quickstart_data" / "debsum_sample"
SPLITS = ("train", "validation", "test")
# What the table reports, in order: (row name, model folder, evaluation name, `Decoding` options).
EVALUATIONS = (
    ("AR teacher, greedy", "teacher", "test-ar-greedy", {"decoding_mode": "ar", "num_beams": 1}),
    ("AR teacher, beam 4", "teacher", "test-ar-beam4", {"decoding_mode": "ar", "num_beams": 4}),
    ("NAR baseline (gold targets)", "nar-gold", "test-nar", {"decoding_mode": "nar"}),
    ("NAR + SPMD", "nar-spmd", "test-nar", {"decoding_mode": "nar"}),
)
METRIC_COLUMNS = (
    ("rouge1_f1", "ROUGE-1"),
    ("rouge2_f1", "ROUGE-2"),
    ("rougeL_f1", "ROUGE-L"),
    ("bleu4", "BLEU-4"),
    ("meteor", "METEOR"),
)
# The options that may change when a finished run is run again (to publish it).
PUBLISHING_OPTIONS = ("overwrite", "hub_model_id", "push_to_hub")


@dataclass(kw_only=True)
class QuickstartOptions(ExperimentOptions):
    """The quickstart's options: `bang-quickstart`'s flags, with their defaults (sized for 2 CPU cores)."""

    output_dir: Path = Path("outputs/quickstart")  # the folder of every stage
    overwrite: bool = False  # delete output_dir and start again
    data_dir: Path | None = None  # a folder with train/validation/test .jsonl (default: the embedded sample)
    source_columns: str = "document"
    target_column: str = "summary"
    max_train_samples: int | None = None  # the first N training rows (default: all)
    eval_samples: int = 300  # test rows scored and timed
    max_source_length: int = 64
    max_target_length: int = 24  # target tokens with [SEP]; the NAR canvas
    layers: int = 2
    teacher_steps: int = 500
    student_steps: int = 250
    num_beams: int = 4  # teacher beam size for the distilled targets
    seed: int = 42
    hub_model_id: str | None = None  # the repo id written into the card (and pushed to)
    push_to_hub: bool = False

    def check(self) -> None:
        """Raises SystemExit with the reason for an option out of range or a data folder that lacks a split."""
        for name in ("eval_samples", "teacher_steps", "student_steps", "batch_size", "vocab_size", "num_beams"):
            if getattr(self, name) < 1:
                raise SystemExit(f"--{name} must be at least 1, got {getattr(self, name)}.")
        if self.max_train_samples is not None and self.max_train_samples < 1:
            raise SystemExit(f"--max_train_samples must be at least 1, got {self.max_train_samples}.")
        if self.push_to_hub and not self.hub_model_id:
            raise SystemExit("--push_to_hub needs --hub_model_id (e.g. your-name/bang-debsum-spmd).")
        if self.data_dir is not None:
            missing = [s for s in SPLITS if not (Path(self.data_dir) / f"{s}.jsonl").is_file()]
            if missing:
                raise SystemExit(f"--data_dir {self.data_dir} lacks {', '.join(f'{s}.jsonl' for s in missing)}.")


def prepare_output_dir(options: QuickstartOptions) -> None:
    """Starts a new run, or resumes one made with the same settings (a changed setting would mix two runs; the
    publishing options may change, so a finished run can be published by running the command again with them)."""
    settings = {
        k: str(v) if isinstance(v, Path) else v
        for k, v in dataclasses.asdict(options).items()
        if k not in PUBLISHING_OPTIONS
    }
    output_dir = Path(options.output_dir)
    record = output_dir / "quickstart_settings.json"
    if options.overwrite and output_dir.exists():
        shutil.rmtree(output_dir)
    if record.is_file():
        previous = json.loads(record.read_text())
        changed = sorted(k for k in settings.keys() | previous.keys() if settings.get(k) != previous.get(k))
        if changed:
            raise SystemExit(
                f"{output_dir} holds a run with other settings ({', '.join(changed)}); pass --overwrite to "
                "start again or choose another --output_dir."
            )
        print(f"Resuming the run in {output_dir}")
    elif output_dir.exists() and any(output_dir.iterdir()):
        raise SystemExit(f"{output_dir} is not empty and is not a quickstart run; pass --overwrite.")
    output_dir.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(settings, indent=2))


def copy_data(options: QuickstartOptions, data: Path) -> None:
    data.mkdir(exist_ok=True)
    for split in SPLITS:
        target = data / f"{split}.jsonl"
        if target.is_file():
            continue
        if options.data_dir is not None:
            text = (Path(options.data_dir) / f"{split}.jsonl").read_text(encoding="utf-8")
        else:
            text = gzip.decompress((EMBEDDED_DATA / f"{split}.jsonl.gz").read_bytes()).decode("utf-8")
        lines = text.splitlines(keepends=True)
        if split == "train" and options.max_train_samples is not None:
            lines = lines[: options.max_train_samples]
        if split == "test":
            lines = lines[: options.eval_samples]
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


def card_arguments(options: QuickstartOptions, settings: ExperimentSettings, rows: list[dict]) -> dict:
    """What the SPMD student's model card says (for `write_model_card`): its NAR result in the model-index, the
    other rows as baselines, the run's data, steps and shape."""
    own = next(r for r in rows if r["name"] == "NAR + SPMD")
    baselines = [{**r, "model_label": r["name"].split(",")[0]} for r in rows if r is not own]
    data_name = "debsum sample" if options.data_dir is None else Path(options.data_dir).name
    source = options.source_columns.split(",")[0]
    test_file = Path(options.output_dir) / "data" / "test.jsonl"
    example = json.loads(test_file.read_text(encoding="utf-8").splitlines()[0])
    shape = settings.shape
    return {
        "model_type": "spmd",
        "results": [own],
        "baselines": baselines,
        "repo_id": options.hub_model_id or "your-name/bang-quickstart-spmd",
        "dataset": {"name": data_name, "split": "test"},
        "training": {
            "data": f"{data_name}: {options.source_columns} -> {options.target_column}",
            "initialisation": "the AR teacher's weights (trained from scratch with bang-quickstart)",
            "steps": f"teacher {settings.teacher_steps}, student {settings.student_steps}",
            "batch size": settings.batch_size,
            "SPMD options": "mixing_strategy=select, self_paced_scheme=hard, one distilled target (beam 4)",
            "shape": f"hidden {shape.hidden_size}, {shape.encoder_layers}+{shape.decoder_layers} layers, "
            f"vocabulary {settings.vocab_size}",
        },
        "example_inputs": [str(example[source])],
        "limitations": [
            "A small model trained for minutes on a few thousand examples: a demonstration of the pipeline, not a "
            "useful summariser.",
        ],
    }


def run_quickstart(options: QuickstartOptions) -> dict:
    """Runs (or resumes) every stage; returns the table rows, the markdown table and the SPMD student's folder."""
    options.check()
    settings = ExperimentSettings.from_options(options)
    prepare_output_dir(options)
    out = Path(options.output_dir)
    data, teacher, distilled = out / "data", out / "teacher", out / "distilled" / "train.jsonl"
    models = {"teacher": teacher, "nar-gold": out / "nar-gold", "nar-spmd": out / "nar-spmd"}

    copy_data(options, data)
    fit_tokenizer(settings, data / "train.jsonl", out / "tokenizer")
    train_teacher(settings, data / "train.jsonl", data / "validation.jsonl", out / "tokenizer", teacher)
    distill(settings, teacher, data / "train.jsonl", distilled)
    for variant in ("nar-gold", "nar-spmd"):
        train_student(settings, variant, teacher, distilled, data / "validation.jsonl", models[variant])
    rows = []
    for name, model, evaluation, decoding in EVALUATIONS:  # one example at a time: the latency a user sees
        print(f"evaluation: {name}", flush=True)
        rows.append({"name": name, **evaluate(settings, models[model], data / "test.jsonl", decoding, evaluation, 1)})

    write_model_card(models["nar-spmd"], overwrite=True, **card_arguments(options, settings, rows))
    table = results_table(rows)
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    (out / "results.md").write_text(table + "\n")
    source = "the debsum sample" if options.data_dir is None else options.data_dir
    print(f"\nTest split of {source}, {rows[0]['samples']} examples, batch size 1, {rows[0]['device']}:\n\n{table}\n")
    print(
        f"The SPMD student is in {models['nar-spmd']}; load it with\n"
        f"    AutoModelForSeq2SeqLM.from_pretrained({str(models['nar-spmd'])!r}, trust_remote_code=True)"
    )
    if options.push_to_hub:
        print(f"Published: {push_model_folder_to_hub(models['nar-spmd'], options.hub_model_id)}")
    return {"rows": rows, "table": table, "model_dir": str(models["nar-spmd"])}


__all__ = ["QuickstartOptions", "card_arguments", "run_quickstart"]
