"""Converts a Hugging Face ProphetNet model into BANG.

BANG's AR mode is ProphetNet with one predicting stream (microsoft/BANG, `bang/bang/bang_AR_NAR_mixed.py`, whose
decoder is ProphetNet's `NgramTransformerDecoder`), so a [`ProphetNetForConditionalGeneration`] with any `ngram` maps
one to one onto [`BangForConditionalGeneration`]: the main stream and the first predicting stream share all weights
with BANG's main stream and predicting stream. The parameter names follow transformers'
`models/prophetnet/modeling_prophetnet.py`:

* `prophetnet.word_embeddings` (tied to `encoder.word_embeddings`, `decoder.word_embeddings`, `lm_head`) ->
  `model.shared`;
* `{encoder,decoder}.position_embeddings` -> `embed_positions`, `embeddings_layer_norm` -> `embed_layer_norm`;
* attention `query_proj` / `key_proj` / `value_proj` / `out_proj` -> `q_proj` / `k_proj` / `v_proj` / `out_proj`,
  decoder `self_attn.relative_pos_embeddings` -> `self_attn.relative_linear`, `cross_attn` -> `encoder_attn`;
* `feed_forward.intermediate` / `feed_forward.output` -> `feed_forward.fc1` / `feed_forward.fc2`,
  `feed_forward_layer_norm` -> `final_layer_norm`, `cross_attn_layer_norm` -> `encoder_attn_layer_norm`;
* `decoder.ngram_embeddings`: ProphetNet's predicting stream i reads row `i - 1` (`ngram_embeddings[ngram - 1]` in
  `ProphetNetDecoder.forward`), so stream 0 reads the LAST row; that row becomes BANG's `predict_input_embedding`.
  The other rows feed ProphetNet's streams 1..ngram-1, which BANG does not have; they are dropped (and logged).

Positions: ProphetNet numbers real tokens from `pad_token_id + 1` in tables of P = `max_position_embeddings` rows
(encoder and decoder alike), BANG from 1 in tables of `max + 1` (encoder) and `max + 2` (decoder) rows. So BANG gets
`max_position_embeddings = P - pad_token_id - 2`, the decoder table is ProphetNet's rows `pad_token_id .. P - 1`
(the whole table when the pad id is 0) and the encoder table the same rows but the last: ProphetNet's last encoder
position cannot be represented and is lost (one source position, plus the rows below the pad id, which ProphetNet
never reads).

Usage:

    python -m modeling_bang.convert_prophetnet_to_bang microsoft/prophetnet-large-uncased prophetnet-as-bang
"""

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase, ProphetNetConfig, ProphetNetForConditionalGeneration
from transformers.utils import logging

from .configuration_bang import BangConfig
from .convert_bang_original_checkpoint import (
    SourceStateDict,
    TargetStateDict,
    add_common_arguments,
    build_model,
    check_override_names,
    enable_cli_logging,
    official_generation_config,
    parse_overrides,
    prepare_output_dir,
    save_hub_folder,
    take_tied_embedding,
)
from .modeling_bang import BangForConditionalGeneration
from .tokenization_bang import build_default_tokenizer


logger = logging.get_logger(__name__)

# Files whose presence marks a saved tokenizer (`ProphetNetTokenizer` saves `prophetnet.tokenizer`).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "prophetnet.tokenizer")

# ProphetNetConfig field -> BangConfig field.
PROPHETNET_TO_BANG_CONFIG = {
    "vocab_size": "vocab_size",
    "hidden_size": "hidden_size",
    "num_encoder_layers": "encoder_layers",
    "num_decoder_layers": "decoder_layers",
    "num_encoder_attention_heads": "encoder_attention_heads",
    "num_decoder_attention_heads": "decoder_attention_heads",
    "encoder_ffn_dim": "encoder_ffn_dim",
    "decoder_ffn_dim": "decoder_ffn_dim",
    "activation_function": "activation_function",
    "dropout": "dropout",
    "attention_dropout": "attention_dropout",
    "activation_dropout": "activation_dropout",
    "num_buckets": "num_buckets",
    "relative_max_distance": "relative_max_distance",
    "eps": "label_smoothing",
    "init_std": "init_std",
    "pad_token_id": "pad_token_id",
    "bos_token_id": "bos_token_id",
    "eos_token_id": "eos_token_id",
    "decoder_start_token_id": "decoder_start_token_id",
}

# Per-layer renames (ProphetNet suffix -> BANG suffix), `ProphetNetEncoderLayer` / `ProphetNetDecoderLayer`.
_ATTENTION = {"query_proj": "q_proj", "key_proj": "k_proj", "value_proj": "v_proj", "out_proj": "out_proj"}
_FEED_FORWARD = {
    "feed_forward.intermediate": "feed_forward.fc1",
    "feed_forward.output": "feed_forward.fc2",
    "feed_forward_layer_norm": "final_layer_norm",
}
ENCODER_LAYER_RENAMES = {
    **{f"self_attn.{a}": f"self_attn.{b}" for a, b in _ATTENTION.items()},
    "self_attn_layer_norm": "self_attn_layer_norm",
    **_FEED_FORWARD,
}
DECODER_LAYER_RENAMES = {
    **{f"self_attn.{a}": f"self_attn.{b}" for a, b in _ATTENTION.items()},
    "self_attn.relative_pos_embeddings": "self_attn.relative_linear",
    "self_attn_layer_norm": "self_attn_layer_norm",
    **{f"cross_attn.{a}": f"encoder_attn.{b}" for a, b in _ATTENTION.items()},
    "cross_attn_layer_norm": "encoder_attn_layer_norm",
    **_FEED_FORWARD,
}


def bang_config_from_prophetnet(
    prophet_config: ProphetNetConfig, overrides: Mapping[str, Any] | None = None
) -> BangConfig:
    """BangConfig with ProphetNet's sizes, activation, dropouts, buckets, special ids and `eps` as label smoothing.

    `max_position_embeddings` becomes `P - pad_token_id - 2` (see the module docstring). `ngram` keeps BANG's default
    (1) unless overridden: ProphetNet's extra streams predict later tokens, which BANG's streams do not.
    """
    overrides = dict(overrides or {})
    check_override_names(overrides)
    if not prophet_config.is_encoder_decoder or not getattr(prophet_config, "add_cross_attention", True):
        raise ValueError("Only encoder-decoder ProphetNet models (with cross-attention) can be converted to BANG.")
    settings: dict[str, Any] = {}
    for source_name, field in PROPHETNET_TO_BANG_CONFIG.items():
        value = getattr(prophet_config, source_name)
        if isinstance(value, (list, tuple)):
            if len(value) != 1:
                raise ValueError(f"ProphetNet `{source_name}` is {value!r}; BANG needs a single value.")
            value = value[0]
        settings[field] = value
    pad = prophet_config.pad_token_id
    if not isinstance(pad, int) or pad < 0:
        raise ValueError(f"ProphetNet `pad_token_id` must be a non-negative integer, got {pad!r}.")
    settings["max_position_embeddings"] = prophet_config.max_position_embeddings - pad - 2
    if settings["max_position_embeddings"] < 1:
        raise ValueError(
            f"ProphetNet's {prophet_config.max_position_embeddings} positions leave no room for BANG (which needs "
            f"pad_token_id + 2 = {pad + 2} fewer)."
        )
    for field in ("vocab_size", "hidden_size", "encoder_layers", "decoder_layers", "max_position_embeddings"):
        if field in overrides and overrides[field] != settings[field]:
            raise ValueError(
                f"Override {field}={overrides[field]} contradicts the ProphetNet model ({settings[field]})."
            )
    settings.update(overrides)
    return BangConfig(**settings)


def convert_prophetnet_state_dict(
    state_dict: Mapping[str, torch.Tensor], prophet_config: ProphetNetConfig, config: BangConfig
) -> TargetStateDict:
    """Maps a `ProphetNetForConditionalGeneration` state dict onto BANG's names; every key is consumed or an error."""
    source = SourceStateDict(state_dict, "The ProphetNet state dict")
    target = TargetStateDict()

    take_tied_embedding(
        source,
        target,
        "prophetnet.word_embeddings.weight",
        ("prophetnet.encoder.word_embeddings.weight", "prophetnet.decoder.word_embeddings.weight", "lm_head.weight"),
    )

    pad, max_positions = prophet_config.pad_token_id, config.max_position_embeddings
    for side, rows in (("encoder", max_positions + 1), ("decoder", max_positions + 2)):
        key = f"prophetnet.{side}.position_embeddings.weight"
        table = source.take(key)
        if table is not None:
            if table.shape[0] != prophet_config.max_position_embeddings:
                raise ValueError(
                    f"`{key}` has {table.shape[0]} rows, not max_position_embeddings="
                    f"{prophet_config.max_position_embeddings}."
                )
            target.put(f"model.{side}.embed_positions.weight", table[pad : pad + rows], f"`{key}`[{pad}:{pad + rows}]")
        for kind in ("weight", "bias"):
            key = f"prophetnet.{side}.embeddings_layer_norm.{kind}"
            target.put(f"model.{side}.embed_layer_norm.{kind}", source.take(key), f"`{key}`")

    key = "prophetnet.decoder.ngram_embeddings.weight"
    ngram_embeddings = source.take(key)
    if ngram_embeddings is not None:
        if ngram_embeddings.dim() != 2 or ngram_embeddings.shape[0] != prophet_config.ngram:
            raise ValueError(
                f"`{key}` has shape {tuple(ngram_embeddings.shape)}; expected {prophet_config.ngram} rows."
            )
        row = prophet_config.ngram - 1  # stream 0 reads `ngram_embeddings[0 - 1]`
        target.put("model.decoder.predict_input_embedding", ngram_embeddings[row], f"`{key}`[{row}]")
        if row:
            logger.info(f"Dropped rows 0..{row - 1} of `{key}` (ProphetNet's predicting streams 1..{row}).")

    for side, layers, renames in (
        ("encoder", config.encoder_layers, ENCODER_LAYER_RENAMES),
        ("decoder", config.decoder_layers, DECODER_LAYER_RENAMES),
    ):
        for i in range(layers):
            for old, new in renames.items():
                for kind in ("weight", "bias"):
                    key = f"prophetnet.{side}.layers.{i}.{old}.{kind}"
                    target.put(f"model.{side}.layers.{i}.{new}.{kind}", source.take(key), f"`{key}`")

    source.check_consumed()
    return target


def convert_prophetnet_to_bang(
    model_or_path: ProphetNetForConditionalGeneration | str | os.PathLike,
    config_overrides: Mapping[str, Any] | None = None,
) -> BangForConditionalGeneration:
    """Returns a [`BangForConditionalGeneration`] (eval mode) holding the weights of a ProphetNet model.

    Args:
        model_or_path: a `ProphetNetForConditionalGeneration`, or a local folder / Hub id loaded with
            `ProphetNetForConditionalGeneration.from_pretrained`.
        config_overrides: BangConfig fields to set on top of the mapped configuration (e.g. `{"ngram": 2}`).

    The BANG model's AR-mode logits are ProphetNet's first-stream logits (with the official relative-position
    ordering, see `tests/test_convert_prophetnet.py`); its generation config holds the official BANG AR decoding
    settings (beam 4, length penalty 1.2) with the model's special token ids.
    """
    if isinstance(model_or_path, (str, os.PathLike)):
        path = Path(model_or_path)
        looks_local = isinstance(model_or_path, os.PathLike) or str(model_or_path).startswith((".", "/", "~"))
        if not path.exists() and (looks_local or str(model_or_path).count("/") > 1):
            raise ValueError(f"The ProphetNet model {model_or_path} does not exist (neither a folder nor a Hub id).")
        if path.exists() and not (path / "config.json").is_file():
            raise ValueError(f"{model_or_path} has no config.json, so it is not a saved ProphetNet model folder.")
        prophet = ProphetNetForConditionalGeneration.from_pretrained(model_or_path)
    elif isinstance(model_or_path, ProphetNetForConditionalGeneration):
        prophet = model_or_path
    else:
        raise TypeError(
            f"Expected a ProphetNetForConditionalGeneration or a path, got {type(model_or_path).__name__}."
        )
    config = bang_config_from_prophetnet(prophet.config, config_overrides)
    target = convert_prophetnet_state_dict(prophet.state_dict(), prophet.config, config)
    model = build_model(config, target)
    model.generation_config = official_generation_config(config)
    return model


def _load_tokenizer(choice: str, source: str) -> PreTrainedTokenizerBase | None:
    if choice == "none":
        return None
    if choice == "bang":
        return build_default_tokenizer()
    local = Path(source)
    if local.is_dir() and not any((local / name).is_file() for name in TOKENIZER_FILES):
        logger.warning(f"{source} holds no tokenizer files; the converted folder will have no tokenizer.")
        return None
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError, TypeError) as error:
        logger.warning(f"No tokenizer could be loaded from {source} ({error}); the converted folder will have none.")
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m modeling_bang.convert_prophetnet_to_bang",
        description=(
            "Convert a Hugging Face ProphetNetForConditionalGeneration (any ngram) into a Hub-ready BANG folder. "
            "The main stream and the first predicting stream map one to one; BANG gets max_position_embeddings = "
            "P - pad_token_id - 2 and loses ProphetNet's last encoder position."
        ),
    )
    parser.add_argument("source", help="Local folder or Hub id of a ProphetNetForConditionalGeneration.")
    add_common_arguments(parser)
    parser.add_argument(
        "--tokenizer",
        choices=("source", "bang", "none"),
        default="source",
        help="Tokenizer to write: the source's (default; skipped with a warning when it has none), BANG's "
        "bert-base-uncased tokenizer, or none.",
    )
    options = parser.parse_args(argv)
    enable_cli_logging()
    try:
        prepare_output_dir(options.output_dir, options.overwrite)
        model = convert_prophetnet_to_bang(options.source, parse_overrides(options.overrides))
        tokenizer = _load_tokenizer(options.tokenizer, options.source)
        save_hub_folder(model, options.output_dir, tokenizer, model.generation_config, overwrite=options.overwrite)
    except ValueError as error:  # a user error: one line and exit status 2, as every bang-* program
        parser.exit(2, f"{parser.prog}: error: {' '.join(str(error).split())}\n")
    print(f"Converted {options.source} -> {Path(options.output_dir)} ({model.num_parameters():,} parameters).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
