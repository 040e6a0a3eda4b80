"""The steps of an SPMD experiment: tokenizer, AR teacher, distillation, NAR students, evaluation.

`bang-quickstart` and `bang-evidence` run them. Each step builds the typed arguments of one library function
(`bang_spmd.recipes.finetune`, `distill`, `train_spmd`, `bang_spmd.evaluation.evaluate_split`) from the
`ExperimentSettings` and calls it; it first prints the `bang-*` command line that does the same, so any result can be
reproduced step by step from a shell.

Every step is resumable: it skips itself when its final output exists (a training step's `eval_results.json`, the
distilled file, an evaluation's metrics file), and training steps resume from their last checkpoint. The teacher and
the students share one model shape (`ExperimentSettings.shape`). The students start from the teacher's weights: this
package's choice for experiments without a pretrained BANG checkpoint (the paper starts every model from pretrained
BANG; here the task-trained teacher stands in for it, so every NAR variant starts from the same point).
"""

import json
from pathlib import Path

from transformers import TrainingArguments

from bang_spmd import evaluation, recipes
from bang_spmd.data.jsonl import iter_jsonl_file
from bang_spmd.evaluation import Decoding, SplitEvaluation
from bang_spmd.recipes import DataArguments, DistillArguments, FinetuneModelArguments, SPMDModelArguments
from bang_spmd.trainers.distillation import DistillationConfig
from bang_spmd.trainers.spmd_trainer import SPMDTrainingArguments
from modeling_bang import train_wordpiece_tokenizer

from .settings import STUDENT_OPTIONS, ExperimentSettings, announce


def fit_tokenizer(settings: ExperimentSettings, train_file: Path, folder: Path) -> None:
    """A WordPiece vocabulary fitted to the training split's source and target columns (`bang-train-tokenizer`
    does the same for the two shared data sets at once)."""
    if (folder / "tokenizer.json").is_file():
        return
    columns = [*settings.source_column_list(), settings.target_column]
    rows = [record for _, record in iter_jsonl_file(train_file)]
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        raise ValueError(f"Column(s) {missing} are not in {train_file} (columns: {sorted(rows[0])}).")
    texts = (str(row[c]) for row in rows for c in columns if row.get(c) is not None)
    tokenizer = train_wordpiece_tokenizer(texts, vocab_size=settings.vocab_size)
    tokenizer.save_pretrained(folder)
    print(f"tokenizer: {len(tokenizer)} WordPiece pieces fitted to {train_file} -> {folder}", flush=True)


def pair_data(settings: ExperimentSettings, train_file: Path, validation_file: Path) -> DataArguments:
    """The data of every training step: the validation check at the end reads at most 500 rows (the test split is
    scored by `evaluate`)."""
    return DataArguments(
        source_columns=settings.source_columns,
        target_column=settings.target_column,
        max_source_length=settings.max_source_length,
        max_target_length=settings.max_target_length,
        truncate_targets=True,
        train_file=str(train_file),
        validation_file=str(validation_file),
        max_eval_samples=500,
    )


def trainer_settings(settings: ExperimentSettings, folder: Path, steps: int) -> dict:
    """The Trainer settings every training step shares: a checkpoint every quarter of the run (to resume)."""
    return {
        "output_dir": str(folder),
        "max_steps": steps,
        "per_device_train_batch_size": settings.batch_size,
        "per_device_eval_batch_size": settings.eval_batch_size,
        "learning_rate": settings.learning_rate,
        "warmup_steps": max(1, steps // 10),
        "seed": settings.seed,
        "report_to": "none",
        "logging_steps": max(1, steps // 10),
        "save_strategy": "steps",
        "save_steps": max(1, steps // 4),
        "save_total_limit": 1,
        "dataloader_num_workers": 0,
        "resume_from_checkpoint": "auto",
    }


def teacher_model(settings: ExperimentSettings, tokenizer: Path) -> FinetuneModelArguments:
    """From random initialisation with the settings' shape and `tokenizer`, or from `settings.init_model` (a
    pretrained or converted BANG folder with its tokenizer, whose shape wins; only the streams are set)."""
    if settings.init_model is not None:
        return FinetuneModelArguments(
            mode=settings.teacher_mode, ngram=settings.shape.ngram, model_name_or_path=settings.init_model
        )
    return FinetuneModelArguments.from_shape(
        settings.shape, mode=settings.teacher_mode, tokenizer_name_or_path=str(tokenizer)
    )


def train_teacher(
    settings: ExperimentSettings, train_file: Path, validation_file: Path, tokenizer: Path, folder: Path
) -> None:
    """BANG fine-tuned in AR mode (or `ngram` mode: AR plus semi-NAR), see `teacher_model`."""
    if (folder / "eval_results.json").is_file():
        return
    model = teacher_model(settings, tokenizer)
    data = pair_data(settings, train_file, validation_file)
    training = trainer_settings(settings, folder, settings.teacher_steps)
    announce("bang-finetune", model, data, training)
    recipes.finetune(model, data, TrainingArguments(**training))


def distill(settings: ExperimentSettings, teacher: Path, train_file: Path, output_file: Path) -> None:
    """The teacher's best beam for every training source (K = 1), in the students' (= the teacher's) vocabulary."""
    if output_file.is_file():
        return
    args = DistillArguments(
        teacher=str(teacher),
        data_file=str(train_file),
        cache_dir=str(output_file.parent / "distillation_cache"),
        output_file=str(output_file),
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
    announce("bang-distill", args, config)
    recipes.distill(args, config)


def train_student(
    settings: ExperimentSettings,
    variant: str,
    teacher: Path,
    train_file: Path,
    validation_file: Path,
    folder: Path,
) -> None:
    """One NAR variant of `STUDENT_OPTIONS`, initialised from the teacher, evaluated on validation by NAR decoding."""
    if variant not in STUDENT_OPTIONS:
        raise ValueError(f"Unknown student variant {variant!r}; choose from {sorted(STUDENT_OPTIONS)}.")
    if (folder / "eval_results.json").is_file():
        return
    model = SPMDModelArguments(model_name_or_path=str(teacher))
    data = pair_data(settings, train_file, validation_file)
    training = {
        **trainer_settings(settings, folder, settings.student_steps),
        **STUDENT_OPTIONS[variant],
        "predict_with_generate": True,
    }
    announce("bang-train", model, data, training)
    recipes.train_spmd(model, data, SPMDTrainingArguments(**training))


def evaluate(
    settings: ExperimentSettings,
    model: Path,
    data_file: Path,
    decoding: dict,
    name: str,
    batch_size: int | None = None,
    max_samples: int | None = None,
) -> dict:
    """`bang_spmd.evaluation.evaluate_split` of `model` with the `Decoding` options `decoding` (its length is the
    settings' target length); predictions go to `model/<name>.jsonl` and the metrics to `model/<name>.metrics.json`,
    which is read back instead of decoding again when it exists."""
    metrics_file = model / f"{name}.metrics.json"
    if metrics_file.is_file():
        return json.loads(metrics_file.read_text())
    split = SplitEvaluation(
        model=str(model),
        data_file=str(data_file),
        source_columns=settings.source_columns,
        target_column=settings.target_column,
        max_source_length=settings.max_source_length,
        decoding=Decoding(max_new_tokens=settings.max_target_length, **decoding),
        batch_size=batch_size or settings.eval_batch_size,
        max_samples=max_samples,
        output_file=model / f"{name}.jsonl",
    )
    announce("bang-evaluate", split)
    result = evaluation.evaluate_split(split)
    print(json.dumps(result))
    metrics_file.write_text(json.dumps(result, indent=2))
    return result


__all__ = ["distill", "evaluate", "fit_tokenizer", "train_student", "train_teacher"]
