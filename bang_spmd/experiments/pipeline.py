"""The steps of an SPMD experiment: AR teacher, distillation, NAR students, evaluation.

`bang-quickstart` and `bang-evidence` run them. Each step builds the typed arguments of one library function
(`bang_spmd.recipes.finetune`, `distill`, `train_spmd`, `bang_spmd.evaluation.evaluate_split`) from the
`ExperimentSettings` and calls it; it first prints (and appends to `commands.txt` of the replicate) the `bang-*`
command line that does the same, so any result can be reproduced step by step from a shell.

Every step is resumable: it skips itself when its final output exists (a training step's `eval_results.json`, the
distilled file, an evaluation's metrics file; a distilled file of an earlier version, without `distilled_sha256`, is
written again from its cache, decoding nothing), and training steps resume from their last checkpoint; checkpoints are
deleted once a model is saved, so a finished model folder holds only what is published. Teacher and students start
from `settings.init_model` (the shipped pretrained BANG-mini by default), or with `from_scratch` from random weights
of its shape and tokenizer.
"""

import dataclasses
import json
import shutil
from pathlib import Path

from transformers import AutoConfig

from bang_spmd import evaluation, recipes
from bang_spmd.evaluation import Decoding, SplitEvaluation
from bang_spmd.recipes import DataArguments, DistillArguments, FinetuneModelArguments, SPMDModelArguments
from bang_spmd.trainers.distillation import DISTILLED_HASH_COLUMN, DistillationConfig
from bang_spmd.trainers.model_setup import ModelShape
from bang_spmd.trainers.recipe import BangTrainingArguments
from bang_spmd.trainers.spmd_trainer import SPMDTrainingArguments

from .settings import STUDENT_OPTIONS, ExperimentSettings, announce


def pair_data(settings: ExperimentSettings, train_file: Path, validation_file: Path) -> DataArguments:
    """The data of every training step: the task's rows and columns; the validation check at the end reads at most
    500 rows and scores the task's first metric (the test split is scored by `evaluate`)."""
    return DataArguments(
        source_columns=settings.source_columns,
        target_column=settings.target_column,
        max_source_length=settings.max_source_length,
        max_target_length=settings.max_target_length,
        truncate_targets=True,
        where=settings.where,
        validation_metric=settings.metrics[0],
        train_file=str(train_file),
        validation_file=str(validation_file),
        max_eval_samples=500,
    )


def trainer_settings(settings: ExperimentSettings, folder: Path, steps: int) -> dict:
    """The Trainer settings every training step shares: the recipe of the training programs
    (`bang_spmd.trainers.recipe.BangRecipeDefaults`, with the settings' learning rate when given), a checkpoint every
    quarter of the run (to resume), one seed for data order and dropout, and no pinned memory or worker processes on
    a CPU."""
    recipe = {} if settings.learning_rate is None else {"learning_rate": settings.learning_rate}
    return {
        "output_dir": str(folder),
        "max_steps": steps,
        "per_device_train_batch_size": settings.batch_size,
        "per_device_eval_batch_size": settings.eval_batch_size,
        **recipe,
        "seed": settings.seed,
        "report_to": "none",
        "logging_steps": max(1, steps // 10),
        "save_strategy": "steps",
        "save_steps": max(1, steps // 4),
        "save_total_limit": 1,
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": False,
        "resume_from_checkpoint": "auto",
    }


def start_model(settings: ExperimentSettings, model_class, **others):
    """The model arguments of a step: from `init_model`, or (`from_scratch`) a new model of its shape with its
    tokenizer."""
    if settings.from_scratch:
        shape = ModelShape.like(AutoConfig.from_pretrained(settings.init_path))
        if others.get("ngram") is not None:
            shape = dataclasses.replace(shape, ngram=others["ngram"])
        others = {k: v for k, v in others.items() if k != "ngram"}
        return model_class.from_shape(shape, tokenizer_name_or_path=settings.init_path, **others)
    return model_class(model_name_or_path=settings.init_path, **others)


def remove_checkpoints(folder: Path) -> None:
    """Deletes the `checkpoint-*` folders of a finished training step (optimizer states: not part of a model)."""
    for checkpoint in folder.glob("checkpoint-*"):
        shutil.rmtree(checkpoint)


def train_teacher(settings: ExperimentSettings, train_file: Path, validation_file: Path, folder: Path, log=None):
    """BANG fine-tuned in AR mode (or `ngram` mode: AR plus semi-NAR) from `init_model`."""
    if (folder / "eval_results.json").is_file():
        return
    model = start_model(settings, FinetuneModelArguments, mode=settings.teacher_mode, ngram=settings.ngram)
    data = pair_data(settings, train_file, validation_file)
    training = trainer_settings(settings, folder, settings.teacher_steps)
    announce("bang-finetune", model, data, training, log=log)
    recipes.finetune(model, data, BangTrainingArguments(**training))
    remove_checkpoints(folder)


def distill(settings: ExperimentSettings, teacher: Path, train_file: Path, output_file: Path, log=None) -> None:
    """The teacher's best beam for every training source of the task (K = 1), in the students' (= the teacher's)
    vocabulary. A file written by an earlier version (its rows without `distilled_sha256`, which training requires)
    is written again: the distillation cache next to it holds its targets, so nothing is decoded again."""
    if output_file.is_file() and _has_row_hashes(output_file):
        return
    args = DistillArguments(
        teacher=str(teacher),
        data_file=str(train_file),
        where=settings.where,
        cache_dir=str(output_file.parent / "distillation_cache"),
        output_file=str(output_file),
        overwrite=output_file.is_file(),
    )
    config = DistillationConfig(
        source_columns=settings.source_column_list(),
        target_column=settings.target_column,
        max_source_length=settings.max_source_length,
        num_distilled=1,
        num_beams=settings.num_beams,
        max_new_tokens=settings.max_target_length - 1,
        batch_size=settings.eval_batch_size,
    )
    announce("bang-distill", args, config, log=log)
    recipes.distill(args, config)


def _has_row_hashes(distilled_file: Path) -> bool:
    """Whether the first row of `distilled_file` carries `distilled_sha256` (bang-distill writes it in every row)."""
    with open(distilled_file, encoding="utf-8") as f:
        first = f.readline()
    return bool(first.strip()) and DISTILLED_HASH_COLUMN in json.loads(first)


def train_student(
    settings: ExperimentSettings,
    variant: str,
    train_file: Path,
    validation_file: Path,
    folder: Path,
    teacher: Path | None = None,
    log=None,
) -> None:
    """One NAR variant of `STUDENT_OPTIONS`, trained on the distilled file (which holds the gold targets too),
    evaluated on validation by NAR decoding. It starts from `init_model`, or with `student_start="teacher"` from the
    saved `teacher` folder."""
    if variant not in STUDENT_OPTIONS:
        raise ValueError(f"Unknown student variant {variant!r}; choose from {sorted(STUDENT_OPTIONS)}.")
    if (folder / "eval_results.json").is_file():
        return
    if settings.student_start == "teacher":
        if teacher is None or not (teacher / "config.json").is_file():
            raise ValueError(f"student_start='teacher' needs the trained teacher's folder, got {teacher}.")
        model = SPMDModelArguments(model_name_or_path=str(teacher))
    else:
        model = start_model(settings, SPMDModelArguments)
    data = pair_data(settings, train_file, validation_file)
    data = DataArguments(**{**vars(data), "where": None})  # the distilled file holds only the task's rows
    training = {
        **trainer_settings(settings, folder, settings.student_steps),
        **STUDENT_OPTIONS[variant],
        "predict_with_generate": True,
    }
    announce("bang-train", model, data, training, log=log)
    recipes.train_spmd(model, data, SPMDTrainingArguments(**training))
    remove_checkpoints(folder)


def evaluate(
    settings: ExperimentSettings,
    model: Path,
    data_file: Path,
    decoding: dict,
    name: str,
    batch_size: int | None = None,
    max_samples: int | None = None,
    log=None,
) -> dict:
    """`bang_spmd.evaluation.evaluate_split` of `model` with the `Decoding` options `decoding` (its length is the
    settings' target length) on the task's rows; predictions go to `model/<name>.jsonl` and the metrics (with the
    command that reproduces them) to `model/<name>.metrics.json`, which is read back instead of decoding again when
    it exists."""
    metrics_file = model / f"{name}.metrics.json"
    if metrics_file.is_file():
        return json.loads(metrics_file.read_text())
    split = SplitEvaluation(
        model=str(model),
        data_file=str(data_file),
        source_columns=settings.source_columns,
        target_column=settings.target_column,
        max_source_length=settings.max_source_length,
        where=settings.where,
        decoding=Decoding(max_new_tokens=settings.max_target_length, **decoding),
        batch_size=batch_size or settings.eval_batch_size,
        max_samples=max_samples,
        output_file=model / f"{name}.jsonl",
    )
    command = announce("bang-evaluate", split, log=log)
    result = {**evaluation.evaluate_split(split), "command": command}
    print(json.dumps(result))
    metrics_file.write_text(json.dumps(result, indent=2))
    return result


__all__ = ["distill", "evaluate", "pair_data", "remove_checkpoints", "train_student", "train_teacher"]
