"""A BANG model from a shape or a saved folder, its tokenizer, and the checkpoint a training run resumes from.

`ModelShape` is the one description of a model shape: a `BangConfig` preset (`tiny` or `bang-base`) and the fields it
overrides. `bang_config(shape, tokenizer, ...)` is the only place where a `BangConfig` is built from a shape, taking
the vocabulary size and the special ids from the tokenizer. `build_bang_model` either loads a saved BANG folder (only
the training settings and `ngram` of a saved model may change) or builds a randomly initialised model of the shape.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from safetensors import SafetensorError
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, PreTrainedTokenizerBase
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_NAME, logging

from modeling_bang import BangConfig, BangForConditionalGeneration, build_default_tokenizer
from modeling_bang.configuration_bang import ARCHITECTURE_FIELDS, DROPOUT_FIELDS
from modeling_bang.modeling_bang import (
    CONFIG_NAME,
    check_checkpoint_files,
    check_finite_weights,
    not_a_local_folder,
    read_json_object,
)

from .run_files import WEIGHT_DIGESTS, remove_stale_temporary_files, write_atomically


logger = logging.get_logger(__name__)

_OVERRIDE = "Override of the preset."
# The fields that only a new model may set: its architecture and its initialisation.
NEW_MODEL_FIELDS = (*ARCHITECTURE_FIELDS, "init_std")


@dataclass
class ModelShape:
    """A BANG model shape: a `BangConfig` preset and its overrides (None keeps the preset's value).

    The architecture fields are `modeling_bang.configuration_bang.ARCHITECTURE_FIELDS`; the training fields
    (`DROPOUT_FIELDS`) and `ngram` may also be set on a saved model; label smoothing is a training argument
    (`label_smoothing_factor`, `bang_spmd.trainers.recipe`). The field names are the command-line flags of the
    training programs (`--config_preset tiny --hidden_size 128 ...`).
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
    init_std: float | None = field(
        default=None,
        metadata={"help": "Standard deviation of a new model's normal initialisation (default: the preset's 0.02, "
                          "the official BANG's `init_bert_params`)."},
    )  # fmt: skip
    dropout: float | None = field(default=None, metadata={"help": "Override of the config."})
    attention_dropout: float | None = field(default=None, metadata={"help": "Override of the config."})
    activation_dropout: float | None = field(default=None, metadata={"help": "Override of the config."})

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
        values = {name: getattr(config, name) for name in (*NEW_MODEL_FIELDS, *DROPOUT_FIELDS)}
        return cls(config_preset=presets[0], ngram=config.ngram, **values)

    def shape_fields(self) -> dict:
        """This object's `ModelShape` fields (also for a subclass that adds others)."""
        return {f.name: getattr(self, f.name) for f in fields(ModelShape)}

    def overrides(self) -> dict:
        """The architecture and training fields that are set (not None)."""
        names = (*NEW_MODEL_FIELDS, *DROPOUT_FIELDS)
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    @property
    def preset(self) -> str:
        """The preset a new model starts from: `config_preset`, else `tiny`."""
        return self.config_preset or "tiny"

    def describes_new_model(self) -> bool:
        """Whether these fields ask for a new model: a preset, an architecture field or `init_std` (the training
        fields and `ngram` may also be set on a saved model)."""
        return self.config_preset is not None or any(name in NEW_MODEL_FIELDS for name in self.overrides())


def bang_config(
    shape: ModelShape, tokenizer: PreTrainedTokenizerBase, min_positions: int = 0, default_ngram: int | None = None
) -> BangConfig:
    """The `BangConfig` of `shape`: its preset with its overrides, and the tokenizer's vocabulary size and special
    ids.

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
    ngram = shape.ngram if shape.ngram is not None else default_ngram
    if ngram is not None:
        settings["ngram"] = ngram
    if "max_position_embeddings" not in overrides:
        preset = BangConfig.from_preset(shape.preset).max_position_embeddings
        settings["max_position_embeddings"] = max(preset, min_positions)
    return BangConfig.from_preset(shape.preset, **settings)


def load_tokenizer(
    tokenizer_name_or_path: str | None, model_name_or_path: str | None, trust_remote_code: bool = False
) -> PreTrainedTokenizerBase:
    """`tokenizer_name_or_path`, else the tokenizer saved with `model_name_or_path`, else the BANG default (loaded
    with `load_pretrained_tokenizer`: no folder code runs unless `trust_remote_code`)."""
    if tokenizer_name_or_path is not None:
        return load_pretrained_tokenizer(tokenizer_name_or_path, "--tokenizer_name_or_path", trust_remote_code)
    if model_name_or_path and (Path(model_name_or_path) / "tokenizer.json").is_file():
        return load_pretrained_tokenizer(model_name_or_path, "--model_name_or_path", trust_remote_code)
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
    structural = sorted(set(overrides) - set(DROPOUT_FIELDS))
    if structural:
        raise ValueError(f"{structural} cannot be changed when starting from --model_name_or_path.")
    model = load_pretrained_model(model_name_or_path, "--model_name_or_path", bang_only=True)
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


def check_training_arguments(training_args) -> None:
    """A ValueError naming the flag for a count or rate that transformers accepts but that trains nothing or
    something else than asked: `--max_steps` 0 or below -1 (transformers would silently train
    `--num_train_epochs` epochs), no epoch, batch sizes or accumulation steps below 1, negative weight
    decay, gradient norm, step intervals, checkpoint limit, workers or seed."""
    args = training_args

    def number(name: str):
        value = getattr(args, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ValueError(f"--{name} must be a number, got {value!r}.")
        return value

    max_steps = number("max_steps")
    if max_steps != -1 and max_steps < 1:
        raise ValueError(
            f"--max_steps must be a positive number of optimizer steps, or -1 (the default) to train "
            f"--num_train_epochs epochs; got {max_steps}."
        )
    if max_steps == -1 and not number("num_train_epochs") > 0:
        raise ValueError(f"--num_train_epochs must be positive (or pass --max_steps), got {args.num_train_epochs}.")
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"):
        if number(name) < 1:
            raise ValueError(f"--{name} must be a positive integer, got {getattr(args, name)}.")
    for name in ("weight_decay", "dataloader_num_workers", "seed"):  # the learning rate: BangRecipeDefaults
        if number(name) < 0:
            raise ValueError(f"--{name} must not be negative, got {getattr(args, name)}.")
    if args.max_grad_norm is not None and number("max_grad_norm") < 0:
        raise ValueError(f"--max_grad_norm must not be negative (0 turns clipping off), got {args.max_grad_norm}.")
    for name in ("logging_steps", "save_steps", "eval_steps", "eval_accumulation_steps", "save_total_limit"):
        value = getattr(args, name, None)
        if value is not None and number(name) < (0 if name == "save_total_limit" else 1e-9):
            raise ValueError(f"--{name} must be positive, got {value}.")


def checkpoint_problem(checkpoint: str | Path) -> str | None:
    """Why the `checkpoint-N` folder `checkpoint` cannot be resumed from, or None when it is complete: no
    `trainer_state.json` (transformers writes it last, so its absence marks a save that did not finish), a state that
    is not JSON, no `config.json`, no weights, or a truncated or garbage safetensors file."""
    checkpoint = Path(checkpoint)
    state = checkpoint / TRAINER_STATE_NAME
    if not state.is_file():
        return f"it has no {TRAINER_STATE_NAME}, which a checkpoint save writes last: the save did not finish"
    try:
        read_json_object(state, "the checkpoint's state")
        check_checkpoint_files(checkpoint, "the checkpoint")
    except ValueError as error:
        return str(error).rstrip(".")
    if not any((checkpoint / name).is_file() for name in (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_NAME)):
        return "it has no model weights"
    return None


def _checkpoints_newest_first(output_dir: Path) -> list[Path]:
    found = [p for p in output_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*") if p.is_dir()]
    steps = {p: int(p.name.rsplit("-", 1)[1]) for p in found if p.name.rsplit("-", 1)[1].isdigit()}
    return sorted(steps, key=steps.get, reverse=True)


def resolve_resume_checkpoint(training_args, overwrite_output_dir: bool) -> str | None:
    """The checkpoint a run resumes from, after checking that it may write into `output_dir`.

    The staging folders and temporary files that runs which have ended left in `output_dir` (an interrupted save,
    `bang_spmd.trainers.staged_saving`) are removed first, and logged. `resume_from_checkpoint="auto"` picks the
    newest complete `checkpoint-*` folder of `output_dir` (`checkpoint_problem`; a fresh start when there is none),
    logging each newer one it skips and why; a checkpoint named explicitly that is incomplete is a ValueError. A
    non-empty `output_dir` is refused unless the run resumes or `overwrite_output_dir` is set, so that a finished
    run is never overwritten by accident.
    """
    output_dir = Path(training_args.output_dir)
    resume = training_args.resume_from_checkpoint
    if output_dir.is_dir():
        remove_stale_temporary_files(output_dir)
    if resume == "auto":
        resume = None
        for checkpoint in _checkpoints_newest_first(output_dir) if output_dir.is_dir() else []:
            problem = checkpoint_problem(checkpoint)
            if problem is None:
                resume = str(checkpoint)
                break
            logger.warning(f"--resume_from_checkpoint auto: skipping {checkpoint}: {problem}.")
        logger.warning(
            f"--resume_from_checkpoint auto: {resume or 'no complete checkpoint in the output directory, fresh start'}"
        )
    elif isinstance(resume, str) and Path(resume).is_dir():
        problem = checkpoint_problem(resume)
        if problem is not None:
            raise ValueError(f"--resume_from_checkpoint {resume} cannot be resumed from: {problem}.")
    if output_dir.is_dir() and any(output_dir.iterdir()) and resume is None and not overwrite_output_dir:
        raise ValueError(
            f"Output directory {output_dir} is not empty; pass --overwrite_output_dir, or "
            "--resume_from_checkpoint auto to continue from its last checkpoint."
        )
    return resume


# ---------------------------------------------------------------------------------------------------------------
# Loading a saved model or tokenizer named by the user, with errors that say what is wrong, and no foreign code
# ---------------------------------------------------------------------------------------------------------------

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?")


def _refuse_foreign_code(folder: Path, file_name: str, what: str, trust_remote_code: bool) -> None:
    """A ValueError when `folder/file_name` has an `auto_map` naming code that transformers does not already have
    (the folder's own Python files) and `trust_remote_code` is off: loading it would run that code."""
    path = folder / file_name
    if trust_remote_code or not path.is_file():
        return
    config = read_json_object(path, what)
    auto_map = config.get("auto_map")
    if not auto_map:
        return
    if file_name == "config.json":
        model_type = config.get("model_type")
        if model_type in CONFIG_MAPPING:  # BANG (registered by `import modeling_bang`) or a transformers model
            return
        kind = f"model_type {model_type!r}" if model_type else "no model_type"
    else:
        kind = "a tokenizer class"
    references = auto_map.values() if isinstance(auto_map, dict) else [auto_map]
    code = sorted({str(r[0] if isinstance(r, list | tuple) else r).split(".")[0] + ".py" for r in references})
    raise ValueError(
        f"{what} {folder} has {kind} whose code is the folder's own Python file(s) {code} ({file_name} auto_map); "
        "loading it would run that code. Pass --trust_remote_code if you trust it."
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def record_weight_digests(folder: str | Path) -> Path:
    """Writes `folder/.weights.sha256`: the sha256 of each of its safetensors files, so that a later load
    (`check_model_folder`) notices a weight file changed or damaged after it was saved (overwritten bytes load
    silently otherwise). The training programs call it after saving their model."""
    folder = Path(folder)
    digests = {path.name: _sha256(path) for path in sorted(folder.glob("*.safetensors"))}
    path = folder / WEIGHT_DIGESTS
    write_atomically(path, json.dumps(digests, indent=2) + "\n")
    return path


def _check_weight_digests(folder: Path, what: str) -> None:
    record = folder / WEIGHT_DIGESTS
    if not record.is_file():
        return
    digests = read_json_object(record, what)
    for name, expected in sorted(digests.items()):
        path = folder / name
        if not path.is_file():
            raise ValueError(f"{what}: {path} is missing (it is recorded in {record}).")
        if _sha256(path) != expected:
            raise ValueError(
                f"{what}: {path} differs from the file that was saved (its sha256 does not match {record}): it was "
                "changed or damaged since; copy or save it again."
            )


def check_model_folder(
    name_or_path: str, what: str = "--model", trust_remote_code: bool = False, bang_only: bool = False
) -> str:
    """Checks a model named by the user before anything is loaded; returns it (a shipped model's name resolved).

    A ValueError says what is wrong: a path that does not exist, a file instead of a folder, a folder without
    `config.json` (or whose `config.json` is not JSON) and a truncated or damaged safetensors file (the checks of
    `BangPreTrainedModel.from_pretrained`, `modeling_bang.modeling_bang.check_checkpoint_files`), a model whose code
    is the folder's own Python files while `trust_remote_code` is off (nothing of it is imported), a non-BANG model
    where `bang_only`, and a safetensors file whose sha256 differs from the one recorded when it was saved
    (`record_weight_digests`). A name that is no local path but has the form of a Hub id (`owner/name`) is returned
    unchecked: `from_pretrained` resolves it (and transformers refuses its remote code without `trust_remote_code`).
    """
    resolved = str(name_or_path)
    folder = Path(resolved).expanduser()
    if folder.is_file():
        raise ValueError(f"{what} {name_or_path} is a file; give the model's folder (the one holding config.json).")
    if not folder.is_dir():
        if _HUB_ID.fullmatch(str(resolved)) and ".." not in str(resolved) and not str(resolved).startswith("."):
            return str(resolved)
        raise ValueError(
            f"{what} {name_or_path} does not exist (neither a folder nor a Hub id of the form owner/name)."
        )
    config = check_checkpoint_files(folder, what)  # config.json, and whole safetensors files
    if bang_only and config.get("model_type") != BangConfig.model_type:
        raise ValueError(
            f"{what} {name_or_path} holds a {config.get('model_type')!r} model, not a BANG model (model_type 'bang'), "
            "which is what this program takes."
        )
    _refuse_foreign_code(folder, CONFIG_NAME, what, trust_remote_code)
    _check_weight_digests(folder, what)
    return str(resolved)


def load_pretrained_model(
    name_or_path: str, what: str = "--model", trust_remote_code: bool = False, bang_only: bool = False
):
    """`AutoModelForSeq2SeqLM.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)` after
    `check_model_folder`; a loading failure is a ValueError naming `what` and the model (a name that is no local
    folder and that the Hub could not provide says both, `not_a_local_folder`), and so are non-finite weights. BANG
    folders load through the classes `import modeling_bang` registers, without remote code; a BANG checkpoint that
    lacks weights the model needs is refused there (`BangPreTrainedModel.from_pretrained`)."""
    resolved = check_model_folder(name_or_path, what, trust_remote_code, bang_only)
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(resolved, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError, SafetensorError) as error:
        if isinstance(error, OSError) and not Path(resolved).expanduser().is_dir():
            raise ValueError(f"{what} {not_a_local_folder(name_or_path, error)}") from error
        raise ValueError(f"{what} {name_or_path} could not be loaded: {error}") from error
    check_finite_weights(model, f"{what} {name_or_path}")  # BANG checks it when loading; other models here
    return model


def load_pretrained_tokenizer(name_or_path: str, what: str = "--model", trust_remote_code: bool = False):
    """`AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)`: a folder without tokenizer
    files, or whose tokenizer is the folder's own code while `trust_remote_code` is off, and a loading failure are
    ValueErrors naming `what` and the folder (a name that is no local folder and that the Hub could not provide says
    both, `not_a_local_folder`)."""
    resolved = str(name_or_path)
    folder = Path(resolved).expanduser()
    if folder.is_dir():
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise ValueError(f"{what} {name_or_path} has no tokenizer files (one of {list(TOKENIZER_FILES)}).")
        _refuse_foreign_code(folder, "tokenizer_config.json", what, trust_remote_code)
        _refuse_foreign_code(folder, "config.json", what, trust_remote_code)
    elif folder.exists():
        raise ValueError(f"{what} {name_or_path} is a file; give the tokenizer's folder.")
    elif not _HUB_ID.fullmatch(str(resolved)) or ".." in str(resolved) or str(resolved).startswith("."):
        raise ValueError(
            f"{what} {name_or_path} does not exist (neither a folder nor a Hub id of the form owner/name)."
        )
    try:
        return AutoTokenizer.from_pretrained(resolved, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as error:
        if isinstance(error, OSError) and not folder.is_dir():
            raise ValueError(f"{what} {not_a_local_folder(name_or_path, error)}") from error
        raise ValueError(f"{what} {name_or_path}: the tokenizer could not be loaded: {error}") from error


__all__ = [
    "ModelShape",
    "bang_config",
    "build_bang_model",
    "check_finite_weights",
    "checkpoint_problem",
    "check_training_arguments",
    "check_model_folder",
    "load_pretrained_model",
    "load_pretrained_tokenizer",
    "load_tokenizer",
    "record_weight_digests",
    "resolve_resume_checkpoint",
]
