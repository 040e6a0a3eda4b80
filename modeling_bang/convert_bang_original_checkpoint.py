"""Converts the official fairseq BANG checkpoint (microsoft/BANG) into a Hub-ready transformers folder.

The released checkpoint `checkpoint_base_9gram_ck35.pt` is a fairseq 0.9 checkpoint: a pickled dict with the model's
state dict under `"model"` and the training `argparse.Namespace` under `"args"` (a bare state dict is accepted too).
Its parameter names come from the official model definition:

* `bang/bang/bang_AR_NAR_mixed.py`: `TransformerEncoder` (`encoder.embed_tokens`, `encoder.embed_positions`,
  `encoder.emb_layer_norm`, `encoder.version`, layers of `TransformerEncoderLayer` with `self_attn`,
  `self_attn_layer_norm`, `fc1`, `fc2`, `final_layer_norm`) and `NgramTransformerDecoder` (`decoder.embed_tokens`,
  `decoder.embed_positions`, `decoder.ngram_input_embed`, `decoder.emb_layer_norm`, `decoder.version`, optional
  `decoder.embed_out` when the output projection is not shared, layers of `NgramTransformerDecoderARNARMixedLayer`
  with `ngram_self_attn`, `self_attn_layer_norm`, `encoder_attn`, `encoder_attn_layer_norm`, `fc1`, `fc2`,
  `final_layer_norm`). The loader in `BANGARNarMixedModel.build_model` keeps row 1 of a 2-row `ngram_input_embed`.
* `bang/bang/ngram_multihead_attention_AR_NAR_mixed.py`: the decoder self-attention packs q|k|v into
  `in_proj_weight` / `in_proj_bias` (separate `q_proj_weight` / `k_proj_weight` / `v_proj_weight` when the dimensions
  differ, bias still packed), plus `out_proj` and `relative_linear` (`Linear(hidden, num_buckets * heads)`).
* `bang/bang/learned_positional_embedding.py`: the position tables have `max_source_positions + 1` (encoder) and
  `max_target_positions + 2` (decoder) rows, row 0 being padding.
* fairseq's `fairseq/modules/multihead_attention.py` for the encoder self-attention and the decoder encoder-attention:
  up to fairseq 0.8 the same packed `in_proj_weight` / `in_proj_bias` layout; from fairseq 0.9 on, separate
  `q_proj.weight`, `k_proj.weight`, `v_proj.weight` (+ `.bias`), old checkpoints being upgraded on load.
  All three layouts are accepted.

Every source tensor is either mapped to exactly one place in [`BangForConditionalGeneration`] or explicitly listed as
ignored (`encoder.version`, `decoder.version`); every shape is checked against the target model; anything else stops
the conversion with a `ValueError` naming the key. The file is read with `torch.load(weights_only=True)` and only
`argparse.Namespace` allowed as an extra global: no other pickled object is ever unpickled.

Usage:

    python -m modeling_bang.convert_bang_original_checkpoint checkpoint_base_9gram_ck35.pt bang-base
"""

import argparse
import json
import logging as std_logging
import os
import pickle
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import GenerationConfig, PreTrainedTokenizerBase
from transformers.activations import ACT2FN
from transformers.utils import logging

from .configuration_bang import BANG_BASE_PRESET, BangConfig
from .modeling_bang import BangForConditionalGeneration
from .tokenization_bang import build_default_tokenizer


logger = logging.get_logger(__name__)

# Source keys that carry no weights: fairseq's `register_buffer('version', torch.Tensor([3]))` in the official
# `TransformerEncoder` and `NgramTransformerDecoder` (`bang_AR_NAR_mixed.py`).
IGNORED_OFFICIAL_KEYS = ("encoder.version", "decoder.version")

# fairseq `--activation-fn` (`fairseq.utils.get_activation_fn`) -> transformers ACT2FN name. fairseq's "gelu" is the
# exact erf form (HF "gelu"); "gelu_accurate" / "gelu_fast" are the tanh approximation (HF "gelu_new").
FAIRSEQ_ACTIVATIONS = {
    "relu": "relu",
    "gelu": "gelu",
    "gelu_accurate": "gelu_new",
    "gelu_fast": "gelu_new",
    "tanh": "tanh",
    "linear": "linear",
}

# fairseq `args` attribute -> BangConfig field, for the settings that no tensor shape reveals.
# (`bang_ar_nar_mixed_base` in `bang_AR_NAR_mixed.py` and the fine-tuning criterion's `--label-smoothing`.)
ARGS_TO_CONFIG = {
    "encoder_attention_heads": "encoder_attention_heads",
    "decoder_attention_heads": "decoder_attention_heads",
    "dropout": "dropout",
    "attention_dropout": "attention_dropout",
    "activation_dropout": "activation_dropout",
    "ngram": "ngram",
    "num_buckets": "num_buckets",
    "relative_max_distance": "relative_max_distance",
    "label_smoothing": "label_smoothing",
}

# Official AR decoding settings (microsoft/BANG README, "Inference with fairseq-generate": BEAM=4, LENPEN=1.2).
OFFICIAL_NUM_BEAMS = 4
OFFICIAL_LENGTH_PENALTY = 1.2


# ---------------------------------------------------------------------------------------------------------------
# Helpers shared with `convert_prophetnet_to_bang`
# ---------------------------------------------------------------------------------------------------------------


def _shape(tensor: torch.Tensor) -> tuple[int, ...]:
    return tuple(tensor.shape)


class SourceStateDict:
    """A source state dict consumed key by key, so that nothing is silently dropped.

    `take(key)` removes and returns a tensor, recording the key as missing when it is absent; `ignore(keys)` removes
    keys that carry no weights. `check_consumed()` raises a `ValueError` naming every missing and every unconsumed key.
    """

    def __init__(self, state_dict: Mapping[str, Any], description: str):
        self.description = description
        self.tensors: dict[str, torch.Tensor] = {}
        for key, value in state_dict.items():
            if not isinstance(key, str):
                raise ValueError(f"{description}: state dict key {key!r} is not a string.")
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"{description}: `{key}` holds a {type(value).__name__}, not a tensor.")
            self.tensors[key] = value
        self.missing: list[str] = []
        self.ignored: list[str] = []

    def has(self, key: str) -> bool:
        return key in self.tensors

    def peek(self, key: str) -> torch.Tensor | None:
        return self.tensors.get(key)

    def take(self, key: str) -> torch.Tensor | None:
        if key not in self.tensors:
            self.missing.append(key)
            return None
        return self.tensors.pop(key)

    def ignore(self, keys: Iterable[str]) -> None:
        for key in keys:
            if key in self.tensors:
                del self.tensors[key]
                self.ignored.append(key)

    def check_consumed(self) -> None:
        problems = []
        if self.missing:
            problems.append("missing keys: " + ", ".join(f"`{k}`" for k in self.missing))
        if self.tensors:
            problems.append(
                "unknown keys (not mapped and not ignored): "
                + ", ".join(f"`{k}` {_shape(v)}" for k, v in sorted(self.tensors.items()))
            )
        if problems:
            raise ValueError(f"{self.description} does not have the expected parameters; " + "; ".join(problems) + ".")
        if self.ignored:
            logger.info(f"Ignored source entries without weights: {', '.join(self.ignored)}.")


class TargetStateDict:
    """The converted state dict, with the source of every tensor for error messages."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self.sources: dict[str, str] = {}

    def put(self, target_key: str, tensor: torch.Tensor | None, source: str) -> None:
        if tensor is None:  # the source key is missing; SourceStateDict already recorded it
            return
        if target_key in self.tensors:
            raise ValueError(f"Internal error: `{target_key}` would be written twice ({source}).")
        self.tensors[target_key] = tensor
        self.sources[target_key] = source


# Where BANG's one embedding matrix lives in [`BangForConditionalGeneration`] (all four are the same tensor).
TIED_EMBEDDING_KEYS = (
    "model.shared.weight",
    "model.encoder.embed_tokens.weight",
    "model.decoder.embed_tokens.weight",
    "lm_head.weight",
)


def take_tied_embedding(
    source: SourceStateDict, target: TargetStateDict, embed_key: str, copies: Iterable[str]
) -> None:
    """Takes the embedding matrix `embed_key` and puts it at every `TIED_EMBEDDING_KEYS` place.

    Each key of `copies` that the source has (the source model's other references to the matrix, e.g. its output
    projection) is consumed and must hold the same values: BANG shares one matrix, so a checkpoint whose copies
    differ cannot be converted (ValueError naming both keys).
    """
    embedding = source.take(embed_key)
    if embedding is None:  # recorded as missing
        return
    for other in copies:
        if other == embed_key or not source.has(other):
            continue
        value = source.take(other)
        if value.shape != embedding.shape or not torch.equal(value, embedding):
            raise ValueError(
                f"`{other}` {_shape(value)} differs from `{embed_key}` {_shape(embedding)}; BANG shares one "
                "embedding matrix between the encoder, the decoder and the output projection."
            )
    for target_key in TIED_EMBEDDING_KEYS:
        target.put(target_key, embedding, f"`{embed_key}`")


def check_against_model(target: TargetStateDict, model: torch.nn.Module) -> None:
    """Checks that `target` gives every parameter of `model` exactly once, with the model's shape."""
    expected = model.state_dict()
    for key, tensor in target.tensors.items():
        if key not in expected:
            raise ValueError(
                f"Internal error: converted key `{key}` (from {target.sources[key]}) is not in the model."
            )
        if _shape(tensor) != _shape(expected[key]):
            raise ValueError(
                f"Shape mismatch: {target.sources[key]} has shape {_shape(tensor)} but `{key}` in the BANG model "
                f"needs {_shape(expected[key])}."
            )
        if not tensor.is_floating_point():
            raise ValueError(f"{target.sources[key]} has dtype {tensor.dtype}; a floating-point tensor is needed.")
    absent = sorted(set(expected) - set(target.tensors))
    if absent:
        raise ValueError(f"Internal error: no source for the BANG parameters {absent}.")


def build_model(config: BangConfig, target: TargetStateDict) -> BangForConditionalGeneration:
    """Creates the BANG model for `config`, checks `target` against it and loads it strictly."""
    model = BangForConditionalGeneration(config)
    check_against_model(target, model)
    dtypes = sorted({str(t.dtype) for t in target.tensors.values()} - {"torch.float32"})
    if dtypes:
        logger.warning(f"Source tensors of dtype {', '.join(dtypes)} are stored as float32.")
    model.load_state_dict(target.tensors, strict=True)
    shared = model.model.shared.weight
    for name in TIED_EMBEDDING_KEYS[1:]:
        if model.get_parameter(name).data_ptr() != shared.data_ptr():
            raise ValueError(f"Internal error: `{name}` is not tied to `model.shared.weight`.")
    return model.eval()


def official_generation_config(config: BangConfig) -> GenerationConfig:
    """AR decoding settings of the official README (beam 4, length penalty 1.2; fairseq's beam search stops once
    `num_beams` hypotheses are finished: `early_stopping=True`) with the model's special tokens."""
    return GenerationConfig(
        num_beams=OFFICIAL_NUM_BEAMS,
        length_penalty=OFFICIAL_LENGTH_PENALTY,
        early_stopping=True,
        pad_token_id=config.pad_token_id,
        eos_token_id=config.eos_token_id,
        decoder_start_token_id=config.decoder_start_token_id,
    )


def check_tokenizer(tokenizer: PreTrainedTokenizerBase, config: BangConfig) -> None:
    """Raises a ValueError when the tokenizer's vocabulary or special ids do not match the model."""
    if len(tokenizer) != config.vocab_size:
        raise ValueError(
            f"The tokenizer has {len(tokenizer)} tokens but the model's vocabulary has {config.vocab_size}; pass a "
            "matching vocabulary file, or write no tokenizer (`--no-tokenizer`)."
        )
    for name in ("pad_token_id", "eos_token_id"):
        if getattr(tokenizer, name) != getattr(config, name):
            raise ValueError(
                f"The tokenizer's {name} is {getattr(tokenizer, name)} but the model's is {getattr(config, name)}."
            )


def prepare_output_dir(output_dir: str | os.PathLike, overwrite: bool) -> Path:
    """Refuses an existing non-empty folder unless `overwrite`; returns the folder path (not created yet)."""
    output_dir = Path(output_dir)
    if output_dir.exists():
        if not output_dir.is_dir():
            raise ValueError(f"The output path {output_dir} exists and is not a folder.")
        if any(output_dir.iterdir()) and not overwrite:
            raise ValueError(
                f"The output folder {output_dir} is not empty; pass `--overwrite` (overwrite=True) to write into it."
            )
    return output_dir


def save_hub_folder(
    model: BangForConditionalGeneration,
    output_dir: str | os.PathLike,
    tokenizer: PreTrainedTokenizerBase | None,
    generation_config: GenerationConfig,
    overwrite: bool = False,
) -> Path:
    """Writes config.json, model.safetensors, the remote-code files, generation_config.json and the tokenizer, then
    reloads the folder and checks that every parameter comes back with no missing or unexpected key."""
    output_dir = prepare_output_dir(output_dir, overwrite)
    if tokenizer is not None:
        check_tokenizer(tokenizer, model.config)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.generation_config = generation_config
    model.save_pretrained(output_dir)
    if tokenizer is not None:
        tokenizer.save_pretrained(output_dir)
    verify_saved_folder(output_dir, model)
    logger.info(f"Wrote the converted BANG model to {output_dir}.")
    return output_dir


def verify_saved_folder(output_dir: str | os.PathLike, model: BangForConditionalGeneration) -> None:
    """Reloads `output_dir` and checks for missing, unexpected or mismatched keys and for changed values."""
    reloaded, info = BangForConditionalGeneration.from_pretrained(output_dir, output_loading_info=True)
    problems = {name: sorted(info.get(name) or ()) for name in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    problems = {name: keys for name, keys in problems.items() if keys}
    if problems or info.get("error_msgs"):
        raise ValueError(f"The saved folder {output_dir} does not reload cleanly: {problems} {info.get('error_msgs')}")
    expected = model.state_dict()
    for key, tensor in reloaded.state_dict().items():
        if not torch.equal(tensor, expected[key]):
            raise ValueError(f"The saved folder {output_dir} reloads `{key}` with different values.")


def enable_cli_logging() -> None:
    """For the command lines: this package's INFO messages on stderr, transformers itself at warnings, no bars."""
    logging.set_verbosity_warning()
    logging.disable_progress_bar()
    package_logger = std_logging.getLogger(__name__.split(".")[0])
    if not any(isinstance(h, _CurrentStderrHandler) for h in package_logger.handlers):
        handler = _CurrentStderrHandler()
        handler.setFormatter(std_logging.Formatter("[%(levelname)s] %(message)s"))
        package_logger.addHandler(handler)
    package_logger.setLevel(std_logging.INFO)


class _CurrentStderrHandler(std_logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record is emitted (main() may run several times in one process)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """Parses `KEY=VALUE` strings; VALUE is read as JSON when possible (numbers, true/false, null), else as text."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"Config override {pair!r} is not of the form KEY=VALUE.")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def check_override_names(overrides: Mapping[str, Any]) -> None:
    known = set(BangConfig().to_dict())
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"Unknown BangConfig fields in the overrides: {unknown}.")


# ---------------------------------------------------------------------------------------------------------------
# Reading the official checkpoint
# ---------------------------------------------------------------------------------------------------------------


def load_official_checkpoint(
    checkpoint_path: str | os.PathLike,
) -> tuple[dict[str, torch.Tensor], argparse.Namespace | None]:
    """Reads a fairseq checkpoint (`{"model": state_dict, "args": Namespace, ...}`) or a bare state dict.

    The file is loaded with `torch.load(weights_only=True)` and `argparse.Namespace` as the only extra allowed global:
    a file that pickles any other object is refused with a ValueError. Other top-level entries of a fairseq
    checkpoint (`optimizer_history`, `extra_state`, `last_optimizer_state`) are not used.

    Returns:
        The model state dict and the training arguments (None for a bare state dict or when `args` is None).
    """
    checkpoint_path = Path(checkpoint_path)
    if not checkpoint_path.is_file():
        raise ValueError(f"Checkpoint file {checkpoint_path} does not exist.")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        message = str(error)
        found = re.search(r"Unsupported global: GLOBAL (\S+)", message)
        if found:
            raise ValueError(
                f"{checkpoint_path} contains pickled objects other than argparse.Namespace "
                f"(found `{found.group(1)}`); this converter loads with weights_only=True and will not unpickle them. "
                "Re-save the checkpoint as "
                "{'model': state_dict, 'args': argparse.Namespace(...)} holding only tensors and plain values."
            ) from error
        detail = re.search(r"WeightsUnpickler error:\s*(.*?)\n\n", message, flags=re.S)
        raise ValueError(
            f"{checkpoint_path} could not be read as a PyTorch checkpoint with weights_only=True"
            + (f": {detail.group(1).strip()}" if detail else ".")
        ) from error
    except (KeyError, IndexError, EOFError, RuntimeError, UnicodeDecodeError) as error:  # e.g. a text file: KeyError
        raise ValueError(
            f"{checkpoint_path} is not a PyTorch checkpoint (torch.load failed: {type(error).__name__} {error}); "
            "give the official BANG checkpoint file (a fairseq .pt)."
        ) from error

    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"{checkpoint_path} holds a {type(checkpoint).__name__}, not a checkpoint dict.")
    if "model" in checkpoint:
        state_dict, args = checkpoint["model"], checkpoint.get("args")
        if not isinstance(state_dict, Mapping):
            raise ValueError(f"{checkpoint_path}: `model` holds a {type(state_dict).__name__}, not a state dict.")
        if args is not None and not isinstance(args, argparse.Namespace):
            raise ValueError(f"{checkpoint_path}: `args` holds a {type(args).__name__}, not an argparse.Namespace.")
        unused = sorted(str(k) for k in checkpoint if k not in ("model", "args"))
        if unused:
            logger.info(f"Not used from the checkpoint (training state): {', '.join(unused)}.")
    elif all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        state_dict, args = checkpoint, None
    else:
        raise ValueError(
            f"{checkpoint_path} is neither a fairseq checkpoint (a dict with `model`) nor a bare state dict of "
            f"tensors (top-level keys: {sorted(map(str, checkpoint))[:10]})."
        )
    return dict(state_dict), args


# ---------------------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------------------


def _count_layers(state_dict: Mapping[str, torch.Tensor], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    indices = {int(m.group(1)) for key in state_dict if (m := pattern.match(key))}
    if not indices:
        raise ValueError(f"The state dict has no `{prefix}N.*` parameters.")
    if indices != set(range(len(indices))):
        raise ValueError(f"The `{prefix}N` indices are not contiguous from 0: {sorted(indices)}.")
    return len(indices)


def _shape_of(state_dict: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...]:
    if key not in state_dict:
        raise ValueError(f"The state dict has no `{key}`, needed to infer the model shape.")
    return _shape(state_dict[key])


def bang_config_from_official(
    state_dict: Mapping[str, torch.Tensor],
    args: argparse.Namespace | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> BangConfig:
    """Derives the BangConfig of an official checkpoint.

    Sizes (vocabulary, hidden size, layers, FFN widths, maximum positions) come from the tensor shapes; `args`
    (encoder_embed_dim, encoder/decoder_layers, encoder/decoder_ffn_embed_dim) must agree with them. The other
    settings come from `overrides`, else from `args` (heads, activation_fn, dropouts, ngram (default 1), num_buckets,
    relative_max_distance, label_smoothing), else from the BANG-base defaults (`bang_ar_nar_mixed_base`: 12 heads,
    gelu, dropout 0.1, 32 buckets, max distance 128). Without `args` the heads cannot be inferred from shapes: pass
    them in `overrides` for a model that is not BANG-base. `num_buckets`, when not given, is the `relative_linear`
    width divided by the decoder heads.
    """
    overrides = dict(overrides or {})
    check_override_names(overrides)
    args_dict = vars(args) if args is not None else {}
    shapes = _shapes_from_tensors(state_dict)
    _check_shapes_against_args(shapes, args_dict)
    for field, value in shapes.items():
        if field in overrides and overrides[field] != value:
            raise ValueError(f"Override {field}={overrides[field]} contradicts the tensor shapes ({field}={value}).")
    if args is None:
        logger.info("The checkpoint has no args: heads, dropouts and buckets default to BANG-base unless overridden.")
    settings = {**_settings_from_args(args_dict), **overrides, **shapes}
    _set_num_buckets(settings, state_dict)
    if settings["activation_function"] not in ACT2FN:
        raise ValueError(f"Unknown activation_function {settings['activation_function']!r}.")
    return BangConfig(**settings)


def _shapes_from_tensors(state_dict: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """Vocabulary, hidden size, layers, FFN widths and maximum positions, read from the tensor shapes."""
    embed_key = "encoder.embed_tokens.weight" if "encoder.embed_tokens.weight" in state_dict else None
    embed_key = embed_key or "decoder.embed_tokens.weight"
    vocab_size, hidden_size = _shape_of(state_dict, embed_key)
    encoder_positions = _shape_of(state_dict, "encoder.embed_positions.weight")[0]
    decoder_positions = _shape_of(state_dict, "decoder.embed_positions.weight")[0]
    if encoder_positions - 1 != decoder_positions - 2 or encoder_positions < 2:
        raise ValueError(
            "The position tables do not fit one `max_position_embeddings`: BANG needs "
            "`encoder.embed_positions.weight` to have max + 1 rows and `decoder.embed_positions.weight` max + 2 rows, "
            "but they have shapes "
            f"{_shape_of(state_dict, 'encoder.embed_positions.weight')} and "
            f"{_shape_of(state_dict, 'decoder.embed_positions.weight')}."
        )
    return {
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "encoder_layers": _count_layers(state_dict, "encoder.layers."),
        "decoder_layers": _count_layers(state_dict, "decoder.layers."),
        "encoder_ffn_dim": _shape_of(state_dict, "encoder.layers.0.fc1.weight")[0],
        "decoder_ffn_dim": _shape_of(state_dict, "decoder.layers.0.fc1.weight")[0],
        "max_position_embeddings": encoder_positions - 1,
    }


# fairseq `args` attribute -> BangConfig field, for the settings that the tensor shapes also give.
SHAPE_ARGS_TO_CONFIG = {
    "encoder_embed_dim": "hidden_size",
    "decoder_embed_dim": "hidden_size",
    "encoder_layers": "encoder_layers",
    "decoder_layers": "decoder_layers",
    "encoder_ffn_embed_dim": "encoder_ffn_dim",
    "decoder_ffn_embed_dim": "decoder_ffn_dim",
}


def _check_shapes_against_args(shapes: Mapping[str, int], args_dict: Mapping[str, Any]) -> None:
    """A ValueError where `args` contradict the tensor shapes; a warning where their position limits differ."""
    for arg_name, field in SHAPE_ARGS_TO_CONFIG.items():
        if arg_name in args_dict and args_dict[arg_name] != shapes[field]:
            raise ValueError(
                f"The checkpoint args say {arg_name}={args_dict[arg_name]} but the tensors give "
                f"{field}={shapes[field]}."
            )
    for arg_name in ("max_source_positions", "max_target_positions"):
        if arg_name in args_dict and args_dict[arg_name] != shapes["max_position_embeddings"]:
            logger.warning(
                f"The checkpoint args say {arg_name}={args_dict[arg_name]}, but the position tables hold "
                f"{shapes['max_position_embeddings']} positions; the tables' size is used."
            )


def _settings_from_args(args_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The settings no tensor shape reveals: from `args` (`ARGS_TO_CONFIG`, `activation_fn`), else BANG-base's."""
    settings: dict[str, Any] = {
        key: BANG_BASE_PRESET[key]
        for key in (
            "encoder_attention_heads",
            "decoder_attention_heads",
            "activation_function",
            "dropout",
            "attention_dropout",
            "activation_dropout",
            "ngram",
            "relative_max_distance",
        )
    }
    for arg_name, field in ARGS_TO_CONFIG.items():
        if args_dict.get(arg_name) is not None:
            settings[field] = args_dict[arg_name]
    if args_dict.get("activation_fn") is not None:
        activation = args_dict["activation_fn"]
        if activation not in FAIRSEQ_ACTIVATIONS:
            raise ValueError(f"Unknown fairseq activation_fn {activation!r}; known: {sorted(FAIRSEQ_ACTIVATIONS)}.")
        settings["activation_function"] = FAIRSEQ_ACTIVATIONS[activation]
    return settings


def _set_num_buckets(settings: dict[str, Any], state_dict: Mapping[str, torch.Tensor]) -> None:
    """Infers `num_buckets` from the `relative_linear` width when it is not set, else checks it against that width."""
    relative_key = "decoder.layers.0.ngram_self_attn.relative_linear.weight"
    relative_rows = _shape_of(state_dict, relative_key)[0]
    heads = settings["decoder_attention_heads"]
    if "num_buckets" not in settings:
        if relative_rows % heads:
            raise ValueError(
                f"`{relative_key}` has {relative_rows} rows, not a multiple of decoder_attention_heads={heads}; "
                "set the heads (and num_buckets) explicitly."
            )
        settings["num_buckets"] = relative_rows // heads
    elif settings["num_buckets"] * heads != relative_rows:
        raise ValueError(
            f"`{relative_key}` has {relative_rows} rows but num_buckets={settings['num_buckets']} times "
            f"decoder_attention_heads={heads} is {settings['num_buckets'] * heads}."
        )


# ---------------------------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------------------------


def _take_projections(source: SourceStateDict, target: TargetStateDict, prefix: str, target_prefix: str) -> None:
    """q/k/v projections of a fairseq attention module in any of its three layouts.

    * packed (`ngram_multihead_attention_AR_NAR_mixed.py`, fairseq <= 0.8 `MultiheadAttention`): `in_proj_weight`
      (3 * hidden, hidden) and `in_proj_bias` (3 * hidden), rows in q | k | v order (`in_proj_qkv` chunks in 3);
    * separate weights (same files, when kdim/vdim differ): `q_proj_weight`, `k_proj_weight`, `v_proj_weight`, bias
      still packed in `in_proj_bias`;
    * fairseq >= 0.9 `MultiheadAttention`: `q_proj.weight`, `q_proj.bias`, ... (its `upgrade_state_dict_named` splits
      the packed form the same way).
    """
    packed, separate, modern = (
        source.has(prefix + "in_proj_weight"),
        source.has(prefix + "q_proj_weight"),
        source.has(prefix + "q_proj.weight"),
    )
    if packed + separate + modern > 1:
        raise ValueError(f"`{prefix}*` mixes the packed in_proj and the separate q/k/v projection layouts.")
    names = ("q", "k", "v")
    if modern:
        for name in names:
            for kind in ("weight", "bias"):
                key = f"{prefix}{name}_proj.{kind}"
                target.put(f"{target_prefix}{name}_proj.{kind}", source.take(key), f"`{key}`")
        return
    if separate:
        for name in names:
            key = f"{prefix}{name}_proj_weight"
            target.put(f"{target_prefix}{name}_proj.weight", source.take(key), f"`{key}`")
    else:
        key = prefix + "in_proj_weight"
        _put_packed(target, source.take(key), key, target_prefix, "weight")
    key = prefix + "in_proj_bias"
    _put_packed(target, source.take(key), key, target_prefix, "bias")


def _put_packed(target: TargetStateDict, packed: torch.Tensor | None, key: str, target_prefix: str, kind: str) -> None:
    if packed is None:
        return
    if packed.dim() < 1 or packed.shape[0] % 3:
        raise ValueError(f"`{key}` has shape {_shape(packed)}; its first dimension should be 3 * hidden (q|k|v).")
    size = packed.shape[0] // 3
    for index, name in enumerate(("q", "k", "v")):
        rows = f"{index * size}:{(index + 1) * size}"
        target.put(f"{target_prefix}{name}_proj.{kind}", packed[index * size : (index + 1) * size], f"`{key}`[{rows}]")


def _take_linear(source: SourceStateDict, target: TargetStateDict, key: str, target_key: str) -> None:
    for kind in ("weight", "bias"):
        target.put(f"{target_key}.{kind}", source.take(f"{key}.{kind}"), f"`{key}.{kind}`")


def _take_attention(source: SourceStateDict, target: TargetStateDict, key: str, target_key: str) -> None:
    """q/k/v projections (any layout) and the output projection of one attention module."""
    _take_projections(source, target, key + ".", target_key + ".")
    _take_linear(source, target, key + ".out_proj", target_key + ".out_proj")


def _take_feed_forward(source: SourceStateDict, target: TargetStateDict, layer: str, target_layer: str) -> None:
    """`fc1`, `fc2` and `final_layer_norm` of one layer (prefixes end with a dot)."""
    _take_linear(source, target, layer + "fc1", target_layer + "feed_forward.fc1")
    _take_linear(source, target, layer + "fc2", target_layer + "feed_forward.fc2")
    _take_linear(source, target, layer + "final_layer_norm", target_layer + "final_layer_norm")


def convert_official_state_dict(state_dict: Mapping[str, torch.Tensor], config: BangConfig) -> TargetStateDict:
    """Maps the official parameter names onto [`BangForConditionalGeneration`]'s (see the module docstring).

    Raises a ValueError naming the key for any missing, unknown or inconsistent source tensor.
    """
    source = SourceStateDict(state_dict, "The official BANG checkpoint")
    source.ignore(IGNORED_OFFICIAL_KEYS)
    target = TargetStateDict()

    # One embedding matrix (`share_all_embeddings` in `bang_ar_nar_mixed_base`): encoder, decoder, output.
    encoder_key, decoder_key = "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"
    embed_key = decoder_key if not source.has(encoder_key) and source.has(decoder_key) else encoder_key
    take_tied_embedding(source, target, embed_key, (decoder_key, "decoder.embed_out"))

    # Encoder (`TransformerEncoder`, `TransformerEncoderLayer`).
    target.put(
        "model.encoder.embed_positions.weight",
        source.take("encoder.embed_positions.weight"),
        "`encoder.embed_positions.weight`",
    )
    _take_linear(source, target, "encoder.emb_layer_norm", "model.encoder.embed_layer_norm")
    for i in range(config.encoder_layers):
        src, dst = f"encoder.layers.{i}.", f"model.encoder.layers.{i}."
        _take_attention(source, target, src + "self_attn", dst + "self_attn")
        _take_linear(source, target, src + "self_attn_layer_norm", dst + "self_attn_layer_norm")
        _take_feed_forward(source, target, src, dst)

    # Decoder (`NgramTransformerDecoder`, `NgramTransformerDecoderARNARMixedLayer`).
    target.put(
        "model.decoder.embed_positions.weight",
        source.take("decoder.embed_positions.weight"),
        "`decoder.embed_positions.weight`",
    )
    ngram_input = source.take("decoder.ngram_input_embed.weight")
    if ngram_input is not None:
        if ngram_input.dim() != 2 or ngram_input.shape[0] not in (1, 2):
            raise ValueError(
                f"`decoder.ngram_input_embed.weight` has shape {_shape(ngram_input)}; the official loader accepts "
                "1 row or 2 rows (of which it keeps row 1)."
            )
        row = ngram_input.shape[0] - 1  # `build_model`: a 2-row table is cut to `[1:2]`
        target.put(
            "model.decoder.predict_input_embedding", ngram_input[row], f"`decoder.ngram_input_embed.weight`[{row}]"
        )
    _take_linear(source, target, "decoder.emb_layer_norm", "model.decoder.embed_layer_norm")
    for i in range(config.decoder_layers):
        src, dst = f"decoder.layers.{i}.", f"model.decoder.layers.{i}."
        _take_attention(source, target, src + "ngram_self_attn", dst + "self_attn")
        _take_linear(source, target, src + "ngram_self_attn.relative_linear", dst + "self_attn.relative_linear")
        _take_linear(source, target, src + "self_attn_layer_norm", dst + "self_attn_layer_norm")
        _take_attention(source, target, src + "encoder_attn", dst + "encoder_attn")
        _take_linear(source, target, src + "encoder_attn_layer_norm", dst + "encoder_attn_layer_norm")
        _take_feed_forward(source, target, src, dst)

    source.check_consumed()
    return target


def convert_official_to_model(
    state_dict: Mapping[str, torch.Tensor],
    args: argparse.Namespace | None = None,
    config_overrides: Mapping[str, Any] | None = None,
) -> BangForConditionalGeneration:
    """In-memory conversion: official state dict (+ args) -> [`BangForConditionalGeneration`] in eval mode."""
    config = bang_config_from_official(state_dict, args, config_overrides)
    target = convert_official_state_dict(state_dict, config)
    return build_model(config, target)


def convert_bang_original_checkpoint(
    checkpoint_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    config_overrides: Mapping[str, Any] | None = None,
    vocab_file: str | os.PathLike | None = None,
    save_tokenizer: bool = True,
    overwrite: bool = False,
) -> BangForConditionalGeneration:
    """Converts an official fairseq BANG checkpoint into a Hub-ready folder and returns the converted model.

    The folder holds `config.json` (with `auto_map`), `model.safetensors`, the remote-code files
    `configuration_bang.py` / `modeling_bang.py`, `generation_config.json` (beam 4, length penalty 1.2: the official
    AR decoding settings) and, unless `save_tokenizer=False`, the BANG tokenizer
    (`build_default_tokenizer(vocab_file)`, bert-base-uncased WordPiece by default). It loads with
    `AutoModelForSeq2SeqLM.from_pretrained(output_dir, trust_remote_code=True)`.

    Args:
        checkpoint_path: the official `.pt` file (`{"model": ..., "args": ...}`) or a bare state dict file.
        output_dir: destination folder; must be empty or absent unless `overwrite`.
        config_overrides: BangConfig fields to set (e.g. the heads of a checkpoint without args).
        vocab_file: WordPiece vocabulary for the tokenizer (default: the bert-base-uncased vocabulary shipped here).
        save_tokenizer: write the tokenizer files.
        overwrite: allow writing into a non-empty folder.
    """
    prepare_output_dir(output_dir, overwrite)
    state_dict, args = load_official_checkpoint(checkpoint_path)
    if args is not None:
        logger.info(f"Checkpoint architecture: {getattr(args, 'arch', 'unknown')}.")
    model = convert_official_to_model(state_dict, args, config_overrides)
    tokenizer = build_default_tokenizer(vocab_file) if save_tokenizer else None
    save_hub_folder(model, output_dir, tokenizer, official_generation_config(model.config), overwrite=overwrite)
    return model


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output_dir", help="Folder to write the Hub-ready model to.")
    parser.add_argument("--overwrite", action="store_true", help="Write into a non-empty output folder.")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Set a BangConfig field (repeatable); VALUE is parsed as JSON when possible, e.g. --set ngram=2.",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m modeling_bang.convert_bang_original_checkpoint",
        description=(
            "Convert the official fairseq BANG checkpoint (e.g. checkpoint_base_9gram_ck35.pt from microsoft/BANG) "
            "into a Hub-ready transformers folder (config.json, model.safetensors, remote code, tokenizer, "
            "generation_config.json). Settings missing from the checkpoint default to BANG-base: 12 heads, gelu, "
            "dropout 0.1, 32 buckets, relative max distance 128, ngram 1."
        ),
    )
    parser.add_argument("checkpoint", help="The official .pt file ({'model': ..., 'args': ...}) or a bare state dict.")
    add_common_arguments(parser)
    parser.add_argument(
        "--attention-heads", type=int, help="Heads of every attention layer (cannot be inferred from shapes)."
    )
    parser.add_argument("--encoder-attention-heads", type=int, help="Heads of the encoder attention layers.")
    parser.add_argument("--decoder-attention-heads", type=int, help="Heads of the decoder attention layers.")
    parser.add_argument("--ngram", type=int, help="Number of predicting streams of mode='ngram' (default: args or 1).")
    tokenizer = parser.add_mutually_exclusive_group()
    tokenizer.add_argument(
        "--vocab-file", help="WordPiece vocab.txt for the tokenizer (default: bert-base-uncased, as BANG)."
    )
    tokenizer.add_argument("--no-tokenizer", action="store_true", help="Do not write tokenizer files.")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    enable_cli_logging()
    overrides = parse_overrides(options.overrides)
    if options.attention_heads is not None:
        overrides.setdefault("encoder_attention_heads", options.attention_heads)
        overrides.setdefault("decoder_attention_heads", options.attention_heads)
    for name in ("encoder_attention_heads", "decoder_attention_heads", "ngram"):
        if getattr(options, name) is not None:
            overrides[name] = getattr(options, name)
    try:
        model = convert_bang_original_checkpoint(
            options.checkpoint,
            options.output_dir,
            config_overrides=overrides,
            vocab_file=options.vocab_file,
            save_tokenizer=not options.no_tokenizer,
            overwrite=options.overwrite,
        )
    except ValueError as error:  # a user error: one line and exit status 2, as every bang-* program
        parser.exit(2, f"{parser.prog}: error: {' '.join(str(error).split())}\n")
    print(f"Converted {options.checkpoint} -> {options.output_dir} ({model.num_parameters():,} parameters).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
