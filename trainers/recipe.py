"""The training recipe of BANG's programs, as the defaults of their training arguments, and the trainer behaviour it
needs: batches of similar lengths in random order, and the label smoothing of the recipe applied to the model.

`BangTrainingArguments` (`bang-finetune`, `bang-pretrain`) and `SPMDTrainingArguments` (`bang-train`) take their
optimisation defaults from `BangRecipeDefaults`, chosen by measurement on the debtrans synopses from random weights
and from the shipped BANG-mini, two seeds each (examples/results/recipe/README.md has the sweep, its commands and
curves): AdamW with a peak of 2e-3 when training starts from a pretrained checkpoint and 1e-3 for new weights
(`recipe_learning_rate`), reached after 200 linear warm-up steps, then inverse-square-root decay (fairseq's schedule,
which does not depend on the run's length), weight decay 0.01, label smoothing 0.1, batches of similar lengths in
random order. From BANG-mini, 800 AR steps at 2e-3 reach a validation NLL of 42.8 / 44.6 nats per synopsis (two
seeds) against 50.3 / 50.9 at 1e-3. From random weights the programs' former recipe (2e-3, 10 % warm-up, linear decay
to 0, transformers' `group_by_length`) wrote one sentence for all 200 validation inputs after 400 steps with one of
two seeds, and a peak of 2e-3 with this schedule collapsed with both (1 and 5 distinct outputs). Every default is an
ordinary `TrainingArguments` flag, so a user changes any of them as for any Trainer.

The official BANG fine-tuning recipe (microsoft/BANG: Adam, lr 1e-4, inverse-sqrt with 1,000 warm-up steps, label
smoothing 0.1, batches of 3,072 tokens) is for the 110M-parameter BANG-base and tens of thousands of steps; it is not
what a 2.5M-parameter model trained for minutes needs, so these defaults are this package's measured choice.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import datasets
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.utils import logging

from modeling_bang.modeling_bang import listed_weight_names

from .batching import DEFAULT_WINDOW_BATCHES, LengthBucketSampler
from .staged_saving import StagedSavingMixin


logger = logging.get_logger(__name__)

LENGTH_BUCKETS = "length_buckets"
SAMPLING_STRATEGIES = ("random", "sequential", "group_by_length", "batch_rebalance", LENGTH_BUCKETS)


@dataclass
class BangRecipeDefaults:
    """The fields of `TrainingArguments` whose defaults BANG's programs change (a dataclass mixin: put it before the
    `TrainingArguments` class in the bases)."""

    learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "Peak learning rate of AdamW. Default: the BANG recipe's, 2e-3 for a model loaded from a "
            "pretrained checkpoint, 1e-3 for new weights (recipe_learning_rate)."
        },
    )
    lr_scheduler_type: str = field(
        default="inverse_sqrt",
        metadata={"help": "Learning-rate schedule after the warm-up (BANG recipe: inverse_sqrt, fairseq's)."},
    )
    warmup_steps: float = field(
        default=200, metadata={"help": "Linear warm-up steps (an integer), or a fraction of the run below 1."}
    )
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (BANG recipe)."})
    label_smoothing_factor: float = field(
        default=0.1,
        metadata={
            "help": "Label smoothing of BANG's loss; it replaces the model config's `label_smoothing` for the run "
            "and is saved with the model."
        },
    )
    train_sampling_strategy: str = field(
        default=LENGTH_BUCKETS,
        metadata={
            "help": "Training batch order: `length_buckets` (BANG recipe: batches of similar source and target "
            "lengths in random order, as fairseq batches; bang_spmd.trainers.batching) or transformers' samplers.",
            "choices": list(SAMPLING_STRATEGIES),
        },
    )
    length_buckets_window: int = field(
        default=DEFAULT_WINDOW_BATCHES,
        metadata={
            "help": "`length_buckets`: batches sorted by length together; fewer mix more lengths into a batch "
            "(more padding, more varied batches)."
        },
    )

    max_train_minutes: float | None = field(
        default=None,
        metadata={
            "help": "Stop training after this many minutes of optimisation (also at --max_steps); for comparisons at "
            "equal time. The steps reached are in trainer_state.json; a rerun may reach another step."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if self.learning_rate is not None and (
            isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, int | float)
            or not self.learning_rate > 0
        ):  # fmt: skip
            raise ValueError(f"--learning_rate must be a positive number, got {self.learning_rate!r}.")
        if self.max_train_minutes is not None and not self.max_train_minutes > 0:
            raise ValueError(f"--max_train_minutes must be positive, got {self.max_train_minutes!r}.")
        if isinstance(self.length_buckets_window, bool) or not (
            isinstance(self.length_buckets_window, int) and self.length_buckets_window >= 1
        ):
            raise ValueError(
                f"--length_buckets_window must be a positive integer, got {self.length_buckets_window!r}."
            )


# The recipe's peak learning rates (examples/results/recipe/README.md): from a checkpoint, and for new weights.
PRETRAINED_LEARNING_RATE = 2e-3
NEW_WEIGHTS_LEARNING_RATE = 1e-3


def recipe_learning_rate(model) -> float:
    """The recipe's peak learning rate for `model`: `PRETRAINED_LEARNING_RATE` when it was loaded from a checkpoint
    (`from_pretrained` records the checkpoint in `config.name_or_path`), `NEW_WEIGHTS_LEARNING_RATE` for a model built
    from a config (new weights collapse at 2e-3)."""
    return PRETRAINED_LEARNING_RATE if getattr(model.config, "name_or_path", "") else NEW_WEIGHTS_LEARNING_RATE


@dataclass
class BangTrainingArguments(BangRecipeDefaults, TrainingArguments):
    """`TrainingArguments` with BANG's recipe as defaults (`BangRecipeDefaults`)."""


class TrainingTimeBudget(TrainerCallback):
    """Stops training (and saves, as at the last step) once `minutes` of training have passed since the first step
    of this process: `max_train_minutes`."""

    def __init__(self, minutes: float):
        self.seconds, self.started = 60.0 * minutes, None

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if time.perf_counter() - self.started >= self.seconds:
            control.should_training_stop = True
            control.should_save = True


class BangTrainerMixin(StagedSavingMixin):
    """What a Trainer of BANG models adds to `transformers.Trainer` (mix it in before the Trainer class):

    * `train_sampling_strategy="length_buckets"`: the training sampler is a `LengthBucketSampler` over the lengths of
      `input_ids` and `labels` (rows without `labels`, e.g. pretraining chunks, are bucketed by their source);
    * `learning_rate=None` (the default) is the recipe's rate for the model (`recipe_learning_rate`), logged and set
      in the arguments before the optimizer is built;
    * `max_train_minutes` stops training after that time (`TrainingTimeBudget`);
    * `label_smoothing_factor` is BANG's own label smoothing: it is written to the model's `config.label_smoothing`
      (the loss of every BANG flow reads it there, the n-stream loss included) instead of transformers' label
      smoother, which would smooth only the first stream's logits; a change from the loaded config's value is logged;
    * a checkpoint loaded into the model that lacks weights it needs is an error (`_issue_warnings_after_load`);
    * checkpoints and the final model are written into a staging folder and moved into place when complete, and a
      refused write is an OSError naming it (`StagedSavingMixin`, `bang_spmd.trainers.staged_saving`).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        model = self.accelerator.unwrap_model(self.model)
        if self.args.learning_rate is None:
            self.args.learning_rate = recipe_learning_rate(model)
            start = "a pretrained checkpoint" if self.args.learning_rate == PRETRAINED_LEARNING_RATE else "new weights"
            logger.info(f"Learning rate {self.args.learning_rate:g}: the recipe's for training from {start}.")
        config = model.config
        smoothing = float(self.args.label_smoothing_factor)
        if config.label_smoothing != smoothing:
            logger.info(
                f"Label smoothing {smoothing} (label_smoothing_factor) replaces the model config's "
                f"{config.label_smoothing} for this run."
            )
        config.label_smoothing = smoothing
        self.label_smoother = None
        minutes = getattr(self.args, "max_train_minutes", None)
        if minutes is not None:
            self.add_callback(TrainingTimeBudget(minutes))

    def _issue_warnings_after_load(self, load_result) -> None:
        """After transformers loads a checkpoint into the model (`--resume_from_checkpoint`, the best model at the
        end), weights the checkpoint lacks are a ValueError naming them, where transformers only logs them and goes on
        training from their random initialisation; the weights tied to a loaded one (the shared embedding's aliases,
        the tied output projection), which safetensors checkpoints do not store, are re-tied."""
        model = self.accelerator.unwrap_model(self.model)
        tied = set(getattr(model, "all_tied_weights_keys", None) or {})
        missing = [key for key in load_result.missing_keys if key not in tied]
        if missing:
            raise ValueError(
                f"The checkpoint loaded into the model lacks weights it needs: {listed_weight_names(missing)}; the "
                "model would go on partly random. Resume from another checkpoint (or start afresh)."
            )
        if load_result.missing_keys:
            model.tie_weights()
        if load_result.unexpected_keys:
            logger.warning(
                f"The checkpoint loaded into the model has weights it does not use: {load_result.unexpected_keys}."
            )

    def _get_train_sampler(self, train_dataset=None):
        if self.args.train_sampling_strategy != LENGTH_BUCKETS:
            return super()._get_train_sampler(train_dataset)
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        sources, targets = example_lengths(dataset)
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        return LengthBucketSampler(
            sources,
            targets,
            self.args.train_batch_size,
            seed,
            getattr(self.args, "length_buckets_window", DEFAULT_WINDOW_BATCHES),
        )


def example_lengths(dataset) -> tuple[list[int], list[int]]:
    """The lengths of every example's `input_ids` and `labels` (its `input_ids` again without `labels`, e.g. a
    pretraining chunk), from a `datasets.Dataset`'s columns or from a list of examples."""
    if isinstance(dataset, datasets.Dataset):
        columns = dataset.column_names
        if "input_ids" not in columns:
            raise ValueError(f"`train_sampling_strategy='{LENGTH_BUCKETS}'` needs an `input_ids` column: {columns}.")
        sources = [len(ids) for ids in dataset["input_ids"]]
        return sources, [len(ids) for ids in dataset["labels"]] if "labels" in columns else sources
    sources, targets = [], []
    for index in range(len(dataset)):
        example = dataset[index]
        if not isinstance(example, Mapping) or "input_ids" not in example:
            raise ValueError(f"`train_sampling_strategy='{LENGTH_BUCKETS}'` needs `input_ids` in every example.")
        sources.append(len(example["input_ids"]))
        targets.append(len(example["labels"]) if "labels" in example else sources[-1])
    return sources, targets


class BangTrainer(BangTrainerMixin, Trainer):
    """`transformers.Trainer` for BANG fine-tuning (`bang-finetune`): `BangTrainerMixin` over the plain Trainer."""


__all__ = [
    "LENGTH_BUCKETS",
    "SAMPLING_STRATEGIES",
    "BangRecipeDefaults",
    "NEW_WEIGHTS_LEARNING_RATE",
    "PRETRAINED_LEARNING_RATE",
    "recipe_learning_rate",
    "BangTrainer",
    "BangTrainerMixin",
    "BangTrainingArguments",
    "TrainingTimeBudget",
]
