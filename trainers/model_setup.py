"""Command-line model arguments shared by the training scripts, and the tokenizer/model they describe.

A script either starts from a saved BANG folder (`--model_name_or_path`, continued pretraining or fine-tuning) or
builds a randomly initialised model from a `BangConfig` preset with overrides (`--config_preset tiny --hidden_size
128 ...`), taking the vocabulary size and the special ids from the tokenizer.
"""

from dataclasses import dataclass, field, fields
from pathlib import Path

from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, PreTrainedTokenizerBase
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import logging

from modeling_bang import BangConfig, BangForConditionalGeneration, build_default_tokenizer
from modeling_bang.configuration_bang import ARCHITECTURE_FIELDS, TRAINING_FIELDS


logger = logging.get_logger(__name__)


# Settings that only change training behaviour (may change on a saved model), and those that define the architecture
# of a model built from a preset: the lists of `modeling_bang.configuration_bang`.
RUNTIME_FIELDS = TRAINING_FIELDS
STRUCTURAL_FIELDS = ARCHITECTURE_FIELDS


@dataclass
class BangModelArguments:
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A saved BANG folder to start from (overrides --config_preset)."}
    )
    config_preset: str = field(default="tiny", metadata={"help": "`tiny` or `bang-base` (random initialisation)."})
    tokenizer_name_or_path: str | None = field(
        default=None, metadata={"help": "Tokenizer folder; default: the model folder's, else the BANG tokenizer."}
    )
    ngram: int | None = field(default=None, metadata={"help": "Number of predicting streams (`ngram` mode)."})
    hidden_size: int | None = field(default=None, metadata={"help": "Override of the preset."})
    encoder_layers: int | None = field(default=None, metadata={"help": "Override of the preset."})
    decoder_layers: int | None = field(default=None, metadata={"help": "Override of the preset."})
    encoder_attention_heads: int | None = field(default=None, metadata={"help": "Override of the preset."})
    decoder_attention_heads: int | None = field(default=None, metadata={"help": "Override of the preset."})
    encoder_ffn_dim: int | None = field(default=None, metadata={"help": "Override of the preset."})
    decoder_ffn_dim: int | None = field(default=None, metadata={"help": "Override of the preset."})
    max_position_embeddings: int | None = field(
        default=None, metadata={"help": "Override of the preset; default: at least the longest sequence used."}
    )
    dropout: float | None = field(default=None, metadata={"help": "Override of the config."})
    attention_dropout: float | None = field(default=None, metadata={"help": "Override of the config."})
    activation_dropout: float | None = field(default=None, metadata={"help": "Override of the config."})
    label_smoothing: float | None = field(default=None, metadata={"help": "Override of the config (default 0.1)."})

    def overrides(self) -> dict:
        names = (*STRUCTURAL_FIELDS, *RUNTIME_FIELDS)
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name in names and getattr(self, f.name) is not None
        }


def load_tokenizer(args: BangModelArguments) -> PreTrainedTokenizerBase:
    """`--tokenizer_name_or_path`, else the tokenizer saved with `--model_name_or_path`, else the BANG default."""
    if args.tokenizer_name_or_path is not None:
        return AutoTokenizer.from_pretrained(args.tokenizer_name_or_path)
    if args.model_name_or_path and (Path(args.model_name_or_path) / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(args.model_name_or_path)
    return build_default_tokenizer()


def build_bang_model(
    args: BangModelArguments, tokenizer: PreTrainedTokenizerBase, min_positions: int, default_ngram: int | None = None
) -> BangForConditionalGeneration:
    """Loads `--model_name_or_path` (only runtime settings and `ngram` may change) or builds the preset model.

    Args:
        min_positions: the longest source or target the script will feed; a preset model gets at least this many
            positions unless `--max_position_embeddings` is given.
        default_ngram: streams of a preset model when `--ngram` is not given (default: the preset's).
    """
    overrides = args.overrides()
    if args.model_name_or_path is not None:
        structural = sorted(set(overrides) - set(RUNTIME_FIELDS))
        if structural:
            raise ValueError(f"{structural} cannot be changed when starting from --model_name_or_path.")
        model = AutoModelForSeq2SeqLM.from_pretrained(args.model_name_or_path)
        for name, value in overrides.items():
            setattr(model.config, name, value)
        if args.ngram is not None:
            model.config.ngram = args.ngram
        model.config._validate()
        if model.config.vocab_size != len(tokenizer):
            raise ValueError(
                f"The model's vocabulary ({model.config.vocab_size}) differs from the tokenizer's ({len(tokenizer)})."
            )
        return model
    settings = {
        **overrides,
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.sep_token_id,
        "decoder_start_token_id": tokenizer.sep_token_id,
        "cls_token_id": tokenizer.cls_token_id,
    }
    ngram = args.ngram if args.ngram is not None else default_ngram
    if ngram is not None:
        settings["ngram"] = ngram
    if "max_position_embeddings" not in overrides:
        preset = BangConfig.from_preset(args.config_preset).max_position_embeddings
        settings["max_position_embeddings"] = max(preset, min_positions)
    return BangForConditionalGeneration(BangConfig.from_preset(args.config_preset, **settings))


def resolve_resume_checkpoint(training_args, overwrite_output_dir: bool) -> str | None:
    """The checkpoint a script resumes from, after checking that it may write into `output_dir`.

    `--resume_from_checkpoint auto` picks the last `checkpoint-*` folder of `output_dir` (a fresh start when there is
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


__all__ = ["BangModelArguments", "build_bang_model", "load_tokenizer", "resolve_resume_checkpoint"]
