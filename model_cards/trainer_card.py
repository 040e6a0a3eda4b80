"""The card of a model a `transformers.Trainer` has just trained, written with `write_model_card`.

`write_trainer_model_card(trainer, ...)` reads from the trainer what every training run has (its arguments, state,
data set and the model saved in `output_dir`) and takes from the caller what belongs to the trainer's method: the
model type, the objective and the options shown in the training table (`SPMDTrainer` declares these as class
attributes, as TRL's trainers declare their `_tag_names` and `_paper`). This package's choices:

* results: `results` if given, else the last evaluation in `state.log_history` that logged a metric of
  `KNOWN_METRICS` (`eval_rougeL_f1`, ...), decoded in `generation_config.decoding_mode`; without any, the card says
  that no evaluation was recorded;
* data set: `dataset` (keys `id`, `name`, `split`, `config`, `task`), else the Trainer's `dataset_tags` (Hub id),
  `dataset_name` (name) and `dataset_args` (config);
* training table: the trainer's class, the objective, the run's steps and batch settings, the options, updated with
  `training`;
* repository: the Trainer's `hub_model_id`, else `model_name`, else the name of `output_dir`; `license` defaults to
  "mit", `language` to "en".
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from transformers.utils import logging

from .render import results_from_log_history, write_model_card


logger = logging.get_logger(__name__)

NO_RESULTS = (
    "No evaluation results were recorded by the training run that wrote this card; evaluate the model "
    "(e.g. with `bang-evaluate`) before relying on it."
)


def _first(value):
    return (value[0] if value else None) if isinstance(value, list | tuple) else value


def trainer_dataset(dataset_tags=None, dataset_name=None, dataset_args=None) -> dict[str, str]:
    """The card's data set from the Trainer's card arguments (each a string or a list whose first item is used)."""
    dataset = {"id": _first(dataset_tags), "name": _first(dataset_name), "config": _first(dataset_args)}
    dataset = {k: v for k, v in dataset.items() if v}
    dataset.setdefault("name", dataset.get("id") or "an unnamed data set")
    return dataset


def trainer_training_rows(trainer, objective: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The training table: the trainer's class and `objective`, the run's steps and batch settings, `options`."""
    args, model = trainer.args, trainer.accelerator.unwrap_model(trainer.model)
    try:
        train_size = len(trainer.train_dataset)
    except TypeError:  # an iterable data set
        train_size = None
    return {
        "trainer": f"{type(trainer).__module__}.{type(trainer).__qualname__}",
        "objective": objective,
        "optimizer steps": trainer.state.global_step,
        "epochs": round(float(trainer.state.epoch or 0), 3),
        "training examples": train_size,
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "processes": args.world_size,
        "learning_rate": args.learning_rate,
        "lr_scheduler_type": getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type),
        "warmup_steps": args.warmup_steps,
        "weight_decay": args.weight_decay,
        "label smoothing (config.label_smoothing)": getattr(model.config, "label_smoothing", None),
        "precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",
        "seed": args.seed,
        **options,
    }


def write_trainer_model_card(
    trainer,
    *,
    model_type: str,
    objective: str,
    options: Mapping[str, Any],
    tags: Sequence[str] = (),
    results: list[dict[str, Any]] | None = None,
    dataset: dict[str, str] | None = None,
    training: Mapping[str, Any] | None = None,
    dataset_tags: str | list[str] | None = None,
    dataset_name: str | list[str] | None = None,
    dataset_args: str | list[str] | None = None,
    model_name: str | None = None,
    base_model: str | None = None,
    license: str | None = None,
    language: str | None = None,
    **card_kwargs: Any,
) -> Path:
    """Writes the card of the model saved in `trainer.args.output_dir` as its `README.md` (module docstring).

    Other keyword arguments (`baselines`, `example_inputs`, `limitations`, ...) go to `render_model_card`. Returns
    the path written.
    """
    args, model = trainer.args, trainer.accelerator.unwrap_model(trainer.model)
    if results is None:
        decoding_mode = getattr(model.generation_config, "decoding_mode", None) or "nar"
        results = results_from_log_history(trainer.state.log_history, decoding_mode)
    if not results:
        logger.warning("No evaluation metric was logged: the model card says that it has no results.")
    return write_model_card(
        args.output_dir,
        overwrite=True,
        model_type=model_type,
        results=results,
        missing_results_reason=None if results else NO_RESULTS,
        repo_id=trainer.hub_model_id or args.hub_model_id or model_name or Path(args.output_dir).name,
        dataset=dataset if dataset is not None else trainer_dataset(dataset_tags, dataset_name, dataset_args),
        training={**trainer_training_rows(trainer, objective, options), **(training or {})},
        base_model=base_model,
        license=license or "mit",
        language=language or "en",
        tags=list(tags),
        **card_kwargs,
    )


__all__ = ["NO_RESULTS", "trainer_dataset", "trainer_training_rows", "write_trainer_model_card"]
