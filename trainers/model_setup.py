"""A BANG model from a shape or a saved folder, its tokenizer, and the checkpoint a training run resumes from.

`ModelShape` is the one description of a model shape: a `BangConfig` preset (`tiny` or `bang-base`) and the fields it
overrides. `bang_config(shape, tokenizer, ...)` is the only place where a `BangConfig` is built from a shape, taking
the vocabulary size and the special ids from the tokenizer. `build_bang_model` either loads a saved BANG folder (only
the training settings and `ngram` of a saved model may change) or builds a randomly initialised model of the shape.
"""

from dataclasses import dataclass, field, fields
from pathlib import Path

from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, PreTrainedTokenizerBase
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import logging

from modeling_bang import BangConfig, BangForConditionalGeneration, build_default_tokenizer
from modeling_bang.configuration_bang import ARCHITECTURE_FIELDS, TRAINING_FIELDS


logger = logging.get_logger(__name__)

# The label smoothing of the models the training programs build: the official fine-tuning recipe (microsoft/BANG,
# `--label-smoothing 0.1`). `BangConfig` itself defaults to 0, transformers' convention for `labels`.
TRAINING_LABEL_SMOOTHING = 0.1

_OVERRIDE = "Override of the preset."


@dataclass
class ModelShape:
    """A BANG model shape: a `BangConfig` preset and its overrides (None keeps the preset's value).

    The architecture fields are `modeling_bang.configuration_bang.ARCHITECTURE_FIELDS`; the training fields
    (`TRAINING_FIELDS`: dropouts and label smoothing) and `ngram` may also be set on a saved model. The field names
    are the command-line flags of the training programs (`--config_preset tiny --hidden_size 128 ...`).
    """

    config_preset: str | None = field(
        default=None,
        metadata={"help": "`tiny` or `bang-base`: build a new, randomly initialised model (default preset: tiny)."},
    )
    ngram: int | None = field(default=None, metadata={"help": "Number of predicting streams (`ngram` mode)."})
    hidden_size: int | None = field(default=None, metadata={"help": _OVERRIDE})
    encoder_layers: int | None = field(default=None, metadata={"help": _OVERRIDE})
    decoder_layers: int | None = field(default=None, metadata={"help": _OVERRIDE})
    encoder_attention_heads: int | None = field(default=None, metadata={"help": _OVERRIDE})
    decoder_attention_heads: int | None = field(default=None, metadata={"help": _OVERRIDE})
    encoder_ffn_dim: int | None = field(default=None, metadata={"help": _OVERRIDE})
    decoder_ffn_dim: int | None = field(default=None, metadata={"help": _OVERRIDE})
    max_position_embeddings: int | None = field(
        default=None, metadata={"help": "Override of the preset; default: at least the longest sequence used."}
    )
    dropout: float | None = field(default=None, metadata={"help": "Override of the config."})
    attention_dropout: float | None = field(default=None, metadata={"help": "Override of the config."})
    activation_dropout: float | None = field(default=None, metadata={"help": "Override of the config."})
    label_smoothing: float | None = field(
        default=None,
        metadata={"help": "Override of the config; a model built from a preset gets 0.1 (the official recipe)."},
    )

    @classmethod
    def symmetric(
        cls, hidden_size: int, layers: int, attention_heads: int, ffn_dim: int, ngram: int | None = None, **others
    ) -> "ModelShape":
        """The shape with the same layers, heads and feed-forward width on the encoder and the decoder side."""
        return cls(
            hidden_size=hidden_size,
            encoder_layers=layers,
            decoder_layers=layers,
            encoder_attention_heads=attention_heads,
            decoder_attention_heads=attention_heads,
            encoder_ffn_dim=ffn_dim,
            decoder_ffn_dim=ffn_dim,
            ngram=ngram,
            **others,
        )

    @classmethod
    def like(cls, config: BangConfig) -> "ModelShape":
        """The shape of an existing model's `config` (architecture, streams and training fields), for a new model
        of that shape from random weights (e.g. the from-scratch baseline of a pretrained model). The preset is the
        one whose relative-position buckets the config has; a config matching no preset is a ValueError."""
        buckets = (config.num_buckets, config.relative_max_distance)
        presets = [
            name
            for name in ("bang-base", "tiny")
            if (BangConfig.from_preset(name).num_buckets, BangConfig.from_preset(name).relative_max_distance)
            == buckets
        ]
        if not presets:
            raise ValueError(f"No preset has the relative buckets (num_buckets, max distance) {buckets} of the model.")
        values = {name: getattr(config, name) for name in (*ARCHITECTURE_FIELDS, *TRAINING_FIELDS)}
        return cls(config_preset=presets[0], ngram=config.ngram, **values)

    def shape_fields(self) -> dict:
        """This object's `ModelShape` fields (also for a subclass that adds others)."""
        return {f.name: getattr(self, f.name) for f in fields(ModelShape)}

    def overrides(self) -> dict:
        """The architecture and training fields that are set (not None)."""
        names = (*ARCHITECTURE_FIELDS, *TRAINING_FIELDS)
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    @property
    def preset(self) -> str:
        """The preset a new model starts from: `config_preset`, else `tiny`."""
        return self.config_preset or "tiny"

    def describes_new_model(self) -> bool:
        """Whether these fields ask for a new model: a preset, or an architecture field (the training fields and
        `ngram` may also be set on a saved model)."""
        return self.config_preset is not None or any(name in ARCHITECTURE_FIELDS for name in self.overrides())


def bang_config(
    shape: ModelShape, tokenizer: PreTrainedTokenizerBase, min_positions: int = 0, default_ngram: int | None = None
) -> BangConfig:
    """The `BangConfig` of `shape`: its preset with its overrides, the tokenizer's vocabulary size and special ids,
    and label smoothing `TRAINING_LABEL_SMOOTHING` unless the shape sets it.

    Args:
        min_positions: the longest source or target the model will be fed; the model gets at least this many
            positions unless `shape.max_position_embeddings` is set.
        default_ngram: predicting streams when `shape.ngram` is None (default: the preset's).
    """
    overrides = shape.overrides()
    settings = {
        **overrides,
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.sep_token_id,
        "decoder_start_token_id": tokenizer.sep_token_id,
        "cls_token_id": tokenizer.cls_token_id,
    }
    settings.setdefault("label_smoothing", TRAINING_LABEL_SMOOTHING)
    ngram = shape.ngram if shape.ngram is not None else default_ngram
    if ngram is not None:
        settings["ngram"] = ngram
    if "max_position_embeddings" not in overrides:
        preset = BangConfig.from_preset(shape.preset).max_position_embeddings
        settings["max_position_embeddings"] = max(preset, min_positions)
    return BangConfig.from_preset(shape.preset, **settings)


def load_tokenizer(tokenizer_name_or_path: str | None, model_name_or_path: str | None) -> PreTrainedTokenizerBase:
    """`tokenizer_name_or_path`, else the tokenizer saved with `model_name_or_path`, else the BANG default."""
    if tokenizer_name_or_path is not None:
        return AutoTokenizer.from_pretrained(tokenizer_name_or_path)
    if model_name_or_path and (Path(model_name_or_path) / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(model_name_or_path)
    return build_default_tokenizer()


def build_bang_model(
    shape: ModelShape,
    tokenizer: PreTrainedTokenizerBase,
    min_positions: int,
    default_ngram: int | None = None,
    model_name_or_path: str | None = None,
) -> BangForConditionalGeneration:
    """Loads `model_name_or_path` (only training settings and `ngram` may change) or builds the model of `shape`.

    `min_positions` and `default_ngram` are those of `bang_config`. Raises a ValueError for an architecture
    override of a saved model and for a saved model whose vocabulary differs from the tokenizer's.
    """
    if model_name_or_path is None:
        return BangForConditionalGeneration(bang_config(shape, tokenizer, min_positions, default_ngram))
    overrides = shape.overrides()
    structural = sorted(set(overrides) - set(TRAINING_FIELDS))
    if structural:
        raise ValueError(f"{structural} cannot be changed when starting from --model_name_or_path.")
    model = AutoModelForSeq2SeqLM.from_pretrained(model_name_or_path)
    for name, value in overrides.items():
        setattr(model.config, name, value)
    if shape.ngram is not None:
        model.config.ngram = shape.ngram
    model.config._validate()
    if model.config.vocab_size != len(tokenizer):
        raise ValueError(
            f"The model's vocabulary ({model.config.vocab_size}) differs from the tokenizer's ({len(tokenizer)})."
        )
    return model


def resolve_resume_checkpoint(training_args, overwrite_output_dir: bool) -> str | None:
    """The checkpoint a run resumes from, after checking that it may write into `output_dir`.

    `resume_from_checkpoint="auto"` picks the last `checkpoint-*` folder of `output_dir` (a fresh start when there is
    none). A non-empty `output_dir` is refused unless the run resumes or `overwrite_output_dir` is set, so that a
    finished run is never overwritten by accident.
    """
    output_dir = Path(training_args.output_dir)
    resume = training_args.resume_from_checkpoint
    if resume == "auto":
        resume = get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None
        logger.warning(
            f"--resume_from_checkpoint auto: {resume or 'no checkpoint in the output directory, fresh start'}"
        )
    if output_dir.is_dir() and any(output_dir.iterdir()) and resume is None and not overwrite_output_dir:
        raise ValueError(
            f"Output directory {output_dir} is not empty; pass --overwrite_output_dir, or "
            "--resume_from_checkpoint auto to continue from its last checkpoint."
        )
    return resume


__all__ = [
    "TRAINING_LABEL_SMOOTHING",
    "ModelShape",
    "bang_config",
    "build_bang_model",
    "load_tokenizer",
    "resolve_resume_checkpoint",
]
