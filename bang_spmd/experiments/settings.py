"""What the models of one experiment share (`ExperimentSettings`), the NAR student variants, and the command line
that reproduces a step of the pipeline.

The model shape is one `bang_spmd.trainers.ModelShape` (`ExperimentSettings.shape`); the teacher is built from it
(`bang_spmd.trainers.bang_config`), and the students start from the teacher's weights.
"""

import dataclasses
import shlex
from dataclasses import dataclass, field, fields
from typing import Any

from bang_spmd.trainers.model_setup import ModelShape


# The NAR variants (`SPMDTrainingArguments` fields). `nar-gold` is BANG's NAR fine-tuning; `nar-distilled`
# sequence-level KD (Kim & Rush 2016); `nar-mixed` mixed distillation alone (per sample the gold or distilled
# reference with the lower NAR loss, this package's reading of the paper's mixing); `nar-spmd` adds self-paced hard
# weights; `nar-spmd-linear` is the self-paced ablation (soft linear weights instead of hard ones).
STUDENT_OPTIONS = {
    "nar-gold": {"mixing_strategy": "gold", "self_paced_scheme": "none"},
    "nar-distilled": {"mixing_strategy": "distilled", "self_paced_scheme": "none"},
    "nar-mixed": {"mixing_strategy": "select", "self_paced_scheme": "none"},
    "nar-spmd": {"mixing_strategy": "select", "self_paced_scheme": "hard"},
    "nar-spmd-linear": {"mixing_strategy": "select", "self_paced_scheme": "linear"},
}

# The shape flags of `bang-quickstart` and `bang-evidence` (one size for both sides of the model) and their
# defaults: `ModelShape.symmetric`'s arguments.
SHAPE_FLAGS = {"hidden_size": 128, "layers": 3, "attention_heads": 4, "ffn_dim": 512, "ngram": 1}
_SIDES = {
    "layers": ("encoder_layers", "decoder_layers"),
    "attention_heads": ("encoder_attention_heads", "decoder_attention_heads"),
    "ffn_dim": ("encoder_ffn_dim", "decoder_ffn_dim"),
}


@dataclass(kw_only=True)
class ExperimentOptions:
    """The options of `bang-quickstart` and `bang-evidence` that size the models: the shape (`SHAPE_FLAGS`, one size
    for both sides; `ExperimentSettings.from_options` makes it a `ModelShape`), the vocabulary and the batch."""

    vocab_size: int = 4000  # WordPiece pieces fitted to the training split
    hidden_size: int = SHAPE_FLAGS["hidden_size"]
    layers: int = SHAPE_FLAGS["layers"]  # encoder layers = decoder layers
    attention_heads: int = SHAPE_FLAGS["attention_heads"]
    ffn_dim: int = SHAPE_FLAGS["ffn_dim"]
    batch_size: int = 32
    learning_rate: float = 1e-3


@dataclass(frozen=True)
class ExperimentSettings:
    """What the teacher and the students of one experiment share."""

    source_columns: str
    target_column: str
    max_source_length: int
    max_target_length: int
    teacher_steps: int
    student_steps: int
    shape: ModelShape = field(default_factory=lambda: ModelShape.symmetric(**SHAPE_FLAGS))
    teacher_mode: str = "ar"  # `ngram` trains shape.ngram streams, so the teacher also decodes semi-NAR
    vocab_size: int = 4000  # of the WordPiece tokenizer fitted to the training split
    batch_size: int = 32
    learning_rate: float = 1e-3
    num_beams: int = 4
    seed: int = 42
    eval_batch_size: int = 64
    init_model: str | None = None  # a saved BANG folder the teacher starts from (its shape and tokenizer win)

    def __post_init__(self):
        for name in ("teacher_steps", "student_steps", "vocab_size", "batch_size", "num_beams"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.ngram < 1:
            raise ValueError(f"ngram must be at least 1, got {self.ngram}.")
        if self.teacher_mode not in ("ar", "ngram"):
            raise ValueError(f"teacher_mode must be 'ar' or 'ngram', got {self.teacher_mode!r}.")
        if self.teacher_mode == "ngram" and self.ngram < 2:
            raise ValueError("teacher_mode='ngram' needs ngram >= 2 (ngram 1 is the AR mode).")

    @property
    def ngram(self) -> int:
        return self.shape.ngram if self.shape.ngram is not None else 1

    def source_column_list(self) -> list[str]:
        return [c.strip() for c in self.source_columns.split(",")]

    def to_dict(self) -> dict:
        """The settings as a flat record (the shape as its command-line flags), as runs record and compare them."""
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "shape"}
        return {**record, **shape_record(self.shape)}

    @classmethod
    def from_options(cls, options, **overrides) -> "ExperimentSettings":
        """The settings named like the attributes of `options` (a command line's namespace or options dataclass;
        None values and other names are ignored); the `SHAPE_FLAGS` among them give the shape."""
        values = {name: value for name, value in vars(options).items() if value is not None}
        values.update(overrides)
        shape = ModelShape.symmetric(**{name: values.get(name, default) for name, default in SHAPE_FLAGS.items()})
        names = {f.name for f in fields(cls)} - {"shape"}
        return cls(shape=shape, **{name: value for name, value in values.items() if name in names})


def shape_record(shape: ModelShape) -> dict:
    """The shape as `SHAPE_FLAGS` (`layers` etc. where both sides agree, else each side), plus any other field set."""
    record = {"ngram": shape.ngram, "hidden_size": shape.hidden_size}
    for flag, sides in _SIDES.items():
        encoder, decoder = (getattr(shape, side) for side in sides)
        record.update({flag: encoder} if encoder == decoder else dict(zip(sides, (encoder, decoder), strict=True)))
    handled = {"hidden_size", *(side for sides in _SIDES.values() for side in sides)}
    record.update({name: value for name, value in shape.overrides().items() if name not in handled})
    if shape.config_preset is not None:
        record["config_preset"] = shape.config_preset
    return record


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


def announce(command: str, *parts: Any) -> None:
    """Prints the command line of a step before it runs, so that any result can be reproduced from a shell."""
    print(f"\n$ {command_line(command, *parts)}", flush=True)


__all__ = [
    "SHAPE_FLAGS",
    "STUDENT_OPTIONS",
    "ExperimentOptions",
    "ExperimentSettings",
    "announce",
    "command_line",
    "shape_record",
]
