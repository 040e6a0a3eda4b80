"""Quickstart: fine-tune the shipped pretrained BANG into an AR teacher and two NAR students, compare them, show
what they write, and save a Hub-ready model.

`run_quickstart(QuickstartOptions(...))` (`bang-quickstart` on the command line). Stages, in order (each skips itself
when its result exists and the training stages resume from their last checkpoint, so running the same command again
after an interruption continues where it stopped; `overwrite` starts again):

1. data: the embedded sample of the task (`bang_spmd/quickstart_data/<task>_sample`, default debtrans: English ->
   French Debian package synopses; source and licence in its README) or `data_dir`, copied to `OUTPUT/data/`.
2. teacher: the start model (`init_model`, the shipped pretrained BANG-mini) fine-tuned in AR mode
   (`bang-finetune --mode ar`).
3. distillation: the teacher's output for the first `distill_samples` training sources (`bang-distill`; greedy
   unless `distill_num_beams` > 1).
4. students: two NAR models with the same start, data, steps and seed (`bang-train`): `nar-gold`, BANG's NAR
   fine-tuning on the gold targets, and `nar-spmd`, Self-Paced Mixed Distillation with the student variant
   `student_variant` (`bang_spmd.experiments.settings.STUDENT_OPTIONS`). Both start from the trained teacher's weights
   (`student_start="teacher"`, this package's choice, `bang_spmd.experiments.settings.STUDENT_STARTS`: from BANG-mini
   a NAR student needs about twice the steps for the same validation BLEU, examples/results/quickstart/README.md);
   `student_start="init_model"` starts them from `init_model` as in the papers.
5. evaluation on the test split (`bang-evaluate`): the task's metrics against the references and the number of
   distinct outputs (decoded in batches of 64), and the milliseconds per sample of the first `latency_samples` test
   inputs decoded one at a time (batch size 1, the latency a user sees), with as many threads as the machine has idle
   cores when the timing starts (`idle_cores`, recorded), for the teacher (AR greedy, AR beam 4) and the two
   students (one NAR pass), next to two trivial baselines (the source copied; the most frequent training target for
   every input). The table and a few example inputs with every model's output are printed and saved as
   `OUTPUT/results.md` and `OUTPUT/results.json`, with the wall time of every stage, the CPU and the library
   versions. Every seed is fixed (data order, dropout, distillation is deterministic), so the same command on the
   same machine gives the same quality numbers; only the timing columns change from run to run.

The SPMD student in `OUTPUT/nar-spmd` gets a model card (README.md) and loads with
`AutoModelForSeq2SeqLM.from_pretrained("OUTPUT/nar-spmd", trust_remote_code=True)`; `push_to_hub` with
`hub_model_id` publishes it (`bang-push` does the same later).
"""

import collections
import dataclasses
import gzip
import importlib.metadata
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from bang_spmd.benchmarks.common import cpu_model
from bang_spmd.data.tasks import TASKS
from bang_spmd.evaluation.metrics import compute_generation_metrics
from bang_spmd.hub.publish import push_model_folder_to_hub
from bang_spmd.model_cards import write_model_card

from .pipeline import distill, evaluate, train_student, train_teacher
from .settings import STUDENT_OPTIONS, STUDENT_STARTS, ExperimentSettings


EMBEDDED_DATA = Path(__file__).resolve().parents[1] / "quickstart_data"
SPLITS = ("train", "validation", "test")
# The table's models: (row name, model folder, evaluation name, `Decoding` options); the timing of an evaluation
# `test-X` is `latency-X`.
EVALUATIONS = (
    ("AR teacher, greedy", "teacher", "test-ar-greedy", {"decoding_mode": "ar", "num_beams": 1}),
    ("AR teacher, beam 4", "teacher", "test-ar-beam4", {"decoding_mode": "ar", "num_beams": 4}),
    ("NAR baseline (gold targets)", "nar-gold", "test-nar", {"decoding_mode": "nar"}),
    ("NAR + SPMD", "nar-spmd", "test-nar", {"decoding_mode": "nar"}),
)
LIBRARIES = ("torch", "transformers", "tokenizers", "datasets", "accelerate", "sacrebleu")
METRIC_TITLES = {"bleu4": "BLEU", "chrf": "chrF", "rouge1_f1": "ROUGE-1", "rouge2_f1": "ROUGE-2",
                 "rougeL_f1": "ROUGE-L", "meteor": "METEOR"}  # fmt: skip
# The options that may change when a finished run is run again (to publish it).
PUBLISHING_OPTIONS = ("overwrite", "hub_model_id", "push_to_hub")
EXAMPLES = 5  # test inputs printed with every model's output


@dataclass(kw_only=True)
class QuickstartOptions:
    """The quickstart's options: `bang-quickstart`'s flags, with their defaults (their wall time on 2 CPU cores and
    the trade-off between minutes and BLEU: examples/results/quickstart/README.md)."""

    output_dir: Path = Path("outputs/quickstart")  # the folder of every stage
    overwrite: bool = False  # delete output_dir and start again
    task: str = "debtrans"  # a task with an embedded sample (debtrans, debsum), or any task with data_dir
    data_dir: Path | None = None  # a folder with train/validation/test .jsonl (default: the embedded sample)
    init_model: str = "bang-mini"  # the pretrained BANG teacher and students start from
    student_variant: str = "nar-spmd"  # the SPMD student (a key of STUDENT_OPTIONS)
    max_train_samples: int | None = None  # the first N training rows (default: all)
    student_start: str = "teacher"  # the students' start: the trained "teacher" or "init_model"
    distill_samples: int = 6000  # training rows distilled; the students train on them
    distill_num_beams: int = 1  # the teacher's beam size when it distils (1: greedy)
    eval_samples: int = 400  # test rows scored
    latency_samples: int = 100  # the first test rows timed one at a time
    teacher_steps: int = 1200
    student_steps: int = 600
    batch_size: int = 64
    learning_rate: float | None = None  # None: the training recipe's (bang_spmd.trainers.recipe)
    seed: int = 42
    hub_model_id: str | None = None  # the repo id written into the card (and pushed to)
    push_to_hub: bool = False

    def check(self) -> None:
        """Raises SystemExit with the reason for an option out of range or data that cannot be found."""
        for name in ("distill_samples", "distill_num_beams", "eval_samples", "latency_samples", "teacher_steps",
                     "student_steps", "batch_size"):  # fmt: skip
            if getattr(self, name) < 1:
                raise SystemExit(f"--{name} must be at least 1, got {getattr(self, name)}.")
        if self.max_train_samples is not None and self.max_train_samples < 1:
            raise SystemExit(f"--max_train_samples must be at least 1, got {self.max_train_samples}.")
        if self.task not in TASKS:
            raise SystemExit(f"--task must be one of {sorted(TASKS)}, got {self.task!r}.")
        if self.student_variant not in STUDENT_OPTIONS or self.student_variant == "nar-gold":
            choices = sorted(set(STUDENT_OPTIONS) - {"nar-gold"})
            raise SystemExit(f"--student_variant must be one of {choices}, got {self.student_variant!r}.")
        if self.student_start not in STUDENT_STARTS:
            raise SystemExit(f"--student_start must be one of {list(STUDENT_STARTS)}, got {self.student_start!r}.")
        if self.push_to_hub and not self.hub_model_id:
            raise SystemExit("--push_to_hub needs --hub_model_id (e.g. your-name/bang-debtrans-spmd).")
        folder = self.data_folder()
        missing = [
            s for s in SPLITS if not (folder / f"{s}.jsonl").is_file() and not (folder / f"{s}.jsonl.gz").is_file()
        ]
        if missing:
            hint = "" if self.data_dir is not None else f" (task {self.task} has no embedded sample: pass --data_dir)"
            raise SystemExit(f"{folder} lacks {', '.join(f'{s}.jsonl' for s in missing)}{hint}.")

    def data_folder(self) -> Path:
        return Path(self.data_dir) if self.data_dir is not None else EMBEDDED_DATA / f"{self.task}_sample"

    def settings(self) -> ExperimentSettings:
        return ExperimentSettings(
            task=self.task,
            teacher_steps=self.teacher_steps,
            student_steps=self.student_steps,
            init_model=self.init_model,
            student_start=self.student_start,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            num_beams=self.distill_num_beams,
            seed=self.seed,
        )


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


def read_split(folder: Path, split: str) -> str:
    plain = folder / f"{split}.jsonl"
    return (
        plain.read_text(encoding="utf-8")
        if plain.is_file()
        else gzip.decompress((folder / f"{split}.jsonl.gz").read_bytes()).decode("utf-8")
    )


def copy_data(options: QuickstartOptions, settings: ExperimentSettings, data: Path) -> None:
    """The task's rows of each split (the first `max_train_samples` / `eval_samples` where given), once."""
    data.mkdir(exist_ok=True)
    for split in SPLITS:
        target = data / f"{split}.jsonl"
        if target.is_file():
            continue
        lines = read_split(options.data_folder(), split).splitlines(keepends=True)
        if settings.where is not None:
            column, value = settings.where.split("=", 1)
            lines = [line for line in lines if str(json.loads(line).get(column)) == value]
        limit = {"train": options.max_train_samples, "test": options.eval_samples}.get(split)
        lines = lines[:limit] if limit is not None else lines
        target.with_suffix(".tmp").write_text("".join(lines), encoding="utf-8")
        target.with_suffix(".tmp").replace(target)
        print(f"data: {len(lines)} {split} rows -> {target}")


def trivial_baselines(settings: ExperimentSettings, data: Path) -> list[dict]:
    """The scores a model must clear to be more than a trick: the source copied as the output, and the most frequent
    training target for every input."""
    rows = lambda split: [json.loads(line) for line in (data / f"{split}.jsonl").read_text().splitlines()]  # noqa: E731
    test, train = rows("test"), rows("train")
    references = [" ".join(str(r[settings.target_column]).split()) for r in test]
    source = settings.source_column_list()[0]
    most_frequent = collections.Counter(" ".join(str(r[settings.target_column]).split()) for r in train).most_common(1)
    outputs = {
        "copy the source": [" ".join(str(r[source]).split()) for r in test],
        f"most frequent training target ({most_frequent[0][0]!r})": [most_frequent[0][0]] * len(test),
    }
    return [
        {"name": name, **compute_generation_metrics(texts, references, with_meteor=False),
         "distinct_outputs": len(set(texts)), "samples": len(texts)}
        for name, texts in outputs.items()
    ]  # fmt: skip


def results_table(rows: list[dict], metrics: tuple[str, ...]) -> str:
    """A markdown table: the task's metrics and distinct outputs (quality: the same on every run), then the
    milliseconds per sample and the speed-up over AR beam 4 (timings: they vary from run to run)."""
    reference = next(r["ms_per_sample"] for r in rows if r["name"] == "AR teacher, beam 4")
    header = ["Model, decoding", *(METRIC_TITLES.get(m, m) for m in metrics), "distinct outputs",
              "ms / sample (timing)", "speed-up vs AR beam 4 (timing)"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["name"], *(f"{row[m]:.2f}" for m in metrics), f"{row['distinct_outputs']} / {row['samples']}"]
        if "ms_per_sample" in row:
            cells += [f"{row['ms_per_sample']:.2f}", f"{reference / row['ms_per_sample']:.1f}x"]
        else:
            cells += ["", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def example_outputs(settings: ExperimentSettings, data: Path, models: dict[str, Path], count: int) -> list[dict]:
    """The first `count` test inputs with their reference and every evaluated model's output."""
    test = [json.loads(line) for line in (data / "test.jsonl").read_text().splitlines()[:count]]
    outputs = {}
    for name, folder, evaluation, _ in EVALUATIONS:
        lines = (models[folder] / f"{evaluation}.jsonl").read_text().splitlines()[:count]
        outputs[name] = [json.loads(line)["prediction"] for line in lines]
    source = settings.source_column_list()[0]
    return [
        {"input": row[source], "reference": row[settings.target_column],
         **{name: texts[i] for name, texts in outputs.items()}}
        for i, row in enumerate(test)
    ]  # fmt: skip


def examples_text(examples: list[dict]) -> str:
    lines = []
    for number, example in enumerate(examples, 1):
        lines.append(f"{number}. input:     {example['input']}")
        lines.append(f"   reference: {example['reference']}")
        for name in (e[0] for e in EVALUATIONS):
            lines.append(f"   {name + ':':<29}{example[name]}")
    return "\n".join(lines)


def card_arguments(options: QuickstartOptions, settings: ExperimentSettings, rows: list[dict]) -> dict:
    """What the SPMD student's model card says (for `write_model_card`): its NAR result in the model-index, the
    other rows as baselines, the run's data, steps and start."""
    own = next(r for r in rows if r["name"] == "NAR + SPMD")
    baselines = [{**r, "model_label": r["name"].split(",")[0]} for r in rows if r is not own and "ms_per_sample" in r]
    data_name = f"{options.task} sample" if options.data_dir is None else Path(options.data_dir).name
    test_file = Path(options.output_dir) / "data" / "test.jsonl"
    example = json.loads(test_file.read_text(encoding="utf-8").splitlines()[0])
    variant = STUDENT_OPTIONS[options.student_variant]
    return {
        "model_type": "spmd",
        "results": [own],
        "baselines": baselines,
        "repo_id": options.hub_model_id or f"your-name/bang-{options.task}-spmd",
        "dataset": {"name": data_name, "split": "test"},
        "base_model": None,
        "training": {
            "data": f"{data_name}: {settings.source_columns} -> {settings.target_column}",
            "initialisation": f"{options.init_model} (the pretrained BANG shipped with bang-spmd)"
            + (", the student from the fine-tuned AR teacher" if options.student_start == "teacher" else ""),
            "steps": f"teacher {settings.teacher_steps} (AR), student {settings.student_steps} (NAR)",
            "batch size": settings.batch_size,
            "distilled targets": f"teacher beam {settings.num_beams}, first {options.distill_samples} training rows",
            "SPMD options": ", ".join(f"{k}={v}" for k, v in variant.items()),
        },
        "example_inputs": [str(example[settings.source_column_list()[0]])],
        "limitations": [
            "A 2.5M-parameter model fine-tuned for minutes on a few thousand examples: a demonstration of BANG and "
            "SPMD, not a production translator.",
        ],
    }


def idle_cores(seconds: float = 0.5) -> int:
    """The cores no other process keeps busy: the idle share of every CPU over `seconds` (/proc/stat), times the
    number of CPUs this process may run on, at least 1 (the number of those CPUs where /proc/stat is missing)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

    def idle_and_total() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return fields[3] + fields[4], sum(fields[:8])  # idle + iowait, every state but guest time

    try:
        idle_before, total_before = idle_and_total()
        time.sleep(seconds)
        idle_after, total_after = idle_and_total()
    except (OSError, ValueError, IndexError):
        return cpus
    idle_share = (idle_after - idle_before) / max(total_after - total_before, 1)
    return max(1, min(cpus, round(idle_share * (os.cpu_count() or cpus))))


def machine_record(timing_threads: int) -> dict:
    """The CPU, the library versions and the threads of the timings, for results.json."""
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{name: importlib.metadata.version(name) for name in LIBRARIES},
        "training_threads": torch.get_num_threads(),
        "timing_threads": timing_threads,
    }


def evaluate_models(options: QuickstartOptions, settings: ExperimentSettings, models: dict, data: Path, log):
    """The table's rows: each model's quality on the test rows (batches of `eval_batch_size`) and its latency on
    the first `latency_samples` of them, one at a time with `idle_cores()` threads (recorded with each timing)."""
    rows = []
    for name, model, evaluation, decoding in EVALUATIONS:
        print(f"evaluation: {name}", flush=True)
        rows.append({"name": name, **evaluate(settings, models[model], data / "test.jsonl", decoding, evaluation,
                                              log=log)})  # fmt: skip
    threads, training_threads = idle_cores(), torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for row, (name, model, evaluation, decoding) in zip(rows, EVALUATIONS, strict=True):
            print(f"timing: {name}, {options.latency_samples} inputs one at a time, {threads} threads", flush=True)
            timed = evaluate(settings, models[model], data / "test.jsonl", decoding,
                             evaluation.replace("test-", "latency-"), 1, options.latency_samples, log)  # fmt: skip
            row.update(ms_per_sample=timed["ms_per_sample"], latency_samples=timed["samples"],
                       timing_threads=timed["threads"])  # fmt: skip
    finally:
        torch.set_num_threads(training_threads)
    return rows


def run_quickstart(options: QuickstartOptions) -> dict:
    """Runs (or resumes) every stage; returns the table rows, the examples, the markdown table and the SPMD
    student's folder."""
    options.check()
    settings = options.settings()
    prepare_output_dir(options)
    out = Path(options.output_dir)
    data, teacher, distilled = out / "data", out / "teacher", out / "distilled" / "train.jsonl"
    models = {"teacher": teacher, "nar-gold": out / "nar-gold", "nar-spmd": out / "nar-spmd"}
    log = out / "commands.txt"
    stages: dict[str, float] = {}

    def timed(stage: str, work, *arguments) -> None:
        began = time.perf_counter()
        work(*arguments)
        stages[stage] = round(time.perf_counter() - began, 1)

    copy_data(options, settings, data)
    timed("teacher", train_teacher, settings, data / "train.jsonl", data / "validation.jsonl", teacher, log)
    subset = data / "distill-rows.jsonl"
    if not subset.is_file():
        lines = (data / "train.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        subset.write_text("".join(lines[: options.distill_samples]), encoding="utf-8")
    timed("distillation", distill, settings, teacher, subset, distilled, log)
    for folder, variant in (("nar-gold", "nar-gold"), ("nar-spmd", options.student_variant)):
        timed(folder, train_student, settings, variant, distilled, data / "validation.jsonl", models[folder],
              teacher, log)  # fmt: skip
    began = time.perf_counter()
    rows = evaluate_models(options, settings, models, data, log)
    threads = rows[0]["timing_threads"]
    stages["evaluation"] = round(time.perf_counter() - began, 1)
    rows += trivial_baselines(settings, data)
    examples = example_outputs(settings, data, models, EXAMPLES)

    write_model_card(models["nar-spmd"], overwrite=True, **card_arguments(options, settings, rows))
    table = results_table(rows, settings.metrics)
    text = examples_text(examples)
    record = {"rows": rows, "examples": examples, "stage_seconds": stages, "machine": machine_record(threads)}
    (out / "results.json").write_text(json.dumps(record, indent=2, ensure_ascii=False))
    (out / "results.md").write_text(f"{table}\n\n```\n{text}\n```\n", encoding="utf-8")
    source = f"the {options.task} sample" if options.data_dir is None else options.data_dir
    print(
        f"\nTest split of {source}, {rows[0]['samples']} examples (quality: batches of {settings.eval_batch_size}; "
        f"timing: the first {rows[0]['latency_samples']} one at a time on {threads} threads, {rows[0]['device']}):"
        f"\n\n{table}\n"
    )
    print(f"What the models write (first {len(examples)} test inputs):\n\n{text}\n")
    print(f"Stage wall times (s): {json.dumps(stages)}")
    print(
        f"The SPMD student is in {models['nar-spmd']}; load it with\n"
        f"    AutoModelForSeq2SeqLM.from_pretrained({str(models['nar-spmd'])!r}, trust_remote_code=True)"
    )
    if options.push_to_hub:
        print(f"Published: {push_model_folder_to_hub(models['nar-spmd'], options.hub_model_id)}")
    return {"rows": rows, "examples": examples, "table": table, "model_dir": str(models["nar-spmd"])}


__all__ = ["QuickstartOptions", "card_arguments", "run_quickstart"]
