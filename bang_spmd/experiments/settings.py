"""What the models of one experiment share (`ExperimentSettings`), the NAR student variants, and the command line
that reproduces a step of the pipeline.

Every model of an experiment starts from one saved BANG (`init_model`, by default the shipped pretrained BANG-mini,
`bang_spmd.pretrained`) with its tokenizer: the AR teacher and every NAR student, as in the papers, where teacher and
students are fine-tuned from pretrained BANG. `from_scratch=True` gives the same models the same shape, tokenizer and
budget from random weights instead (the baseline that measures what pretraining buys).
"""

import dataclasses
import shlex
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from bang_spmd.data.tasks import TASKS, get_task
from bang_spmd.pretrained import DEFAULT_MODEL, resolve_model_name


# The NAR variants (`SPMDTrainingArguments` fields). `nar-gold` is BANG's NAR fine-tuning; `nar-distilled`
# sequence-level KD (Kim & Rush 2016); `nar-mixed` mixed distillation alone (per sample the gold or distilled
# reference with the lower NAR loss); `nar-spmd` adds self-paced hard weights ranked by the loss; the `-overlap`
# variants select the reference the student's own NAR prediction is nearest to, and `nar-spmd-agreement` also paces
# by that agreement (this package's readings of "the same modality", see `bang_spmd.trainers.spmd_objectives`);
# `nar-spmd-linear` swaps hard for linear self-paced weights; `nar-schedule` trains on distilled targets first and
# moves linearly to the gold ones (a gold/distilled ratio schedule).
STUDENT_OPTIONS: dict[str, dict[str, Any]] = {
    "nar-gold": {"mixing_strategy": "gold", "self_paced_scheme": "none"},
    "nar-distilled": {"mixing_strategy": "distilled", "self_paced_scheme": "none"},
    "nar-mixed": {"mixing_strategy": "select", "self_paced_scheme": "none"},
    "nar-spmd": {"mixing_strategy": "select", "self_paced_scheme": "hard"},
    "nar-mixed-overlap": {
        "mixing_strategy": "select", "selection_rule": "prediction_overlap", "self_paced_scheme": "none",
    },
    "nar-spmd-overlap": {
        "mixing_strategy": "select", "selection_rule": "prediction_overlap", "self_paced_scheme": "hard",
    },
    "nar-spmd-agreement": {
        "mixing_strategy": "select", "selection_rule": "prediction_overlap", "self_paced_scheme": "hard",
        "pace_by": "agreement",
    },
    "nar-spmd-linear": {"mixing_strategy": "select", "self_paced_scheme": "linear"},
    "nar-schedule": {
        "mixing_strategy": "random_mix", "distilled_ratio": 1.0, "mix_schedule": "linear", "distilled_ratio_end": 0.0,
        "self_paced_scheme": "none",
    },
}  # fmt: skip


# Where the NAR students start: from `init_model`, as the teacher does (the papers fine-tune teacher and students from
# pretrained BANG), or from the fine-tuned AR teacher's weights, which already map the task's sources to targets
# (AR-to-NAR transfer as in FCL-NAT, Guo et al. 2020; this package's option for small pretraining budgets).
STUDENT_STARTS = ("init_model", "teacher")


@dataclass(frozen=True)
class ExperimentSettings:
    """What the teacher and the students of one replicate share: the task, the start, the budget and the seed."""

    task: str  # a key of bang_spmd.data.tasks.TASKS, or "custom" (then the columns and lengths below are required)
    teacher_steps: int
    student_steps: int
    source_columns: str | None = None  # default: the task's
    target_column: str | None = None
    max_source_length: int | None = None
    max_target_length: int | None = None  # also the NAR canvas
    init_model: str = DEFAULT_MODEL  # a saved BANG folder, a Hub id or a shipped name, with its tokenizer
    from_scratch: bool = False  # random weights of init_model's shape, with its tokenizer
    teacher_mode: str = "ar"  # `ngram` trains the model's streams, so the teacher also decodes semi-NAR
    ngram: int | None = None  # predicting streams of the teacher (default: the model's)
    student_start: str = "init_model"  # the students' start: init_model (as the teacher) or the trained "teacher"
    batch_size: int = 64
    learning_rate: float | None = None  # None: the recipe's (bang_spmd.trainers.recipe.BangRecipeDefaults)
    num_beams: int = 4
    seed: int = 1
    eval_batch_size: int = 64

    def __post_init__(self):
        if self.task != "custom":
            task = get_task(self.task)
            for name in ("source_columns", "target_column", "max_source_length", "max_target_length"):
                if getattr(self, name) is None:
                    object.__setattr__(self, name, getattr(task, name))
        missing = [n for n in ("source_columns", "target_column", "max_source_length", "max_target_length")
                   if getattr(self, n) is None]  # fmt: skip
        if missing:
            raise ValueError(f"task 'custom' needs {', '.join(missing)}.")
        for name in ("teacher_steps", "student_steps", "batch_size", "num_beams", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.teacher_mode not in ("ar", "ngram"):
            raise ValueError(f"teacher_mode must be 'ar' or 'ngram', got {self.teacher_mode!r}.")
        if self.student_start not in STUDENT_STARTS:
            raise ValueError(f"student_start must be one of {STUDENT_STARTS}, got {self.student_start!r}.")
        if self.ngram is not None and self.ngram < 1:
            raise ValueError(f"ngram must be at least 1, got {self.ngram}.")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}.")

    @property
    def where(self) -> str | None:
        """The rows of the task (`Task.where`), None for a custom task."""
        return TASKS[self.task].where if self.task in TASKS else None

    @property
    def metrics(self) -> tuple[str, ...]:
        """The task's metrics, the first of which selects models (ROUGE-L for a custom task)."""
        return TASKS[self.task].metrics if self.task in TASKS else ("rougeL_f1", "bleu4")

    @property
    def init_path(self) -> str:
        """`init_model` with a shipped model's name resolved to its folder."""
        return resolve_model_name(self.init_model)

    def source_column_list(self) -> list[str]:
        return [c.strip() for c in self.source_columns.split(",")]

    def to_dict(self) -> dict:
        """The settings as a flat record, as runs record and compare them."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def replace(self, **changes) -> "ExperimentSettings":
        return dataclasses.replace(self, **changes)


def _flags(part: Any) -> list[str]:
    """A dataclass's fields that differ from their defaults (a nested dataclass's too), or a dict's items, as
    command-line flags named like the fields."""
    if dataclasses.is_dataclass(part):
        values = {}
        for f in fields(part):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if getattr(part, f.name) != default:
                values[f.name] = getattr(part, f.name)
    else:
        values = part
    argv = []
    for name, value in values.items():
        if dataclasses.is_dataclass(value):
            argv += _flags(value)
        elif value is True:
            argv.append(f"--{name}")
        elif isinstance(value, list | tuple):
            argv += [f"--{name}", *map(str, value)]
        elif value is not None and value is not False:
            argv += [f"--{name}", str(value)]
    return argv


def command_line(command: str, *parts: Any) -> str:
    """`command` with the flags that reproduce `parts` (argument dataclasses, or dicts of flags)."""
    return shlex.join([command, *(flag for part in parts for flag in _flags(part))])


def announce(command: str, *parts: Any, log: Path | None = None) -> str:
    """Prints the command line of a step before it runs (so that any result can be reproduced from a shell),
    appends it to `log` when given, and returns it."""
    line = command_line(command, *parts)
    print(f"\n$ {line}", flush=True)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    return line


__all__ = ["STUDENT_OPTIONS", "STUDENT_STARTS", "ExperimentSettings", "announce", "command_line"]
