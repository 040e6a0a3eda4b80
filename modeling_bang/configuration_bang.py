"""Configuration of BANG (Qi et al., ICML 2021, arXiv 2012.15525).

The fields follow the official fairseq architecture `bang_ar_nar_mixed_base` (microsoft/BANG,
`bang/bang/bang_AR_NAR_mixed.py`): post-LayerNorm encoder-decoder, one embedding matrix shared by the encoder input,
the decoder input and the output projection, learned absolute positions (first real token at position 1, padding at
0), and T5-style unidirectional relative-position logits in the decoder self-attention.
"""

import dataclasses
import difflib
from collections.abc import Sequence
from typing import Any

from transformers import GenerationConfig, PreTrainedConfig
from transformers.activations import ACT2FN
from transformers.utils import logging


logger = logging.get_logger(__name__)


DECODER_MODES = ("ar", "nar", "ngram")

# The fields that define the architecture of a model (besides the vocabulary, which a tokenizer gives, and `ngram`,
# which may change on a saved model): what a model built from a preset may override and a saved model cannot change.
ARCHITECTURE_FIELDS = (
    "hidden_size",
    "encoder_layers",
    "decoder_layers",
    "encoder_attention_heads",
    "decoder_attention_heads",
    "encoder_ffn_dim",
    "decoder_ffn_dim",
    "max_position_embeddings",
)
DROPOUT_FIELDS = ("dropout", "attention_dropout", "activation_dropout")
# The fields that only change training behaviour, so they may be changed on a saved model.
TRAINING_FIELDS = (*DROPOUT_FIELDS, "label_smoothing")

# Shape of the released checkpoint `checkpoint_base_9gram_ck35.pt` (architecture `bang_ar_nar_mixed_base`).
# `ngram` is 1 because the official fine-tuning code only supports one predicting stream; the 9 streams of
# pretraining share the same weights (microsoft/BANG `bang/bang/bang_AR_NAR_mixed.py`: every predicting stream reads
# the one `ngram_input_embed` row the loader keeps and runs through the same decoder layers), so the same checkpoint
# runs with any `ngram`.
BANG_BASE_PRESET: dict[str, Any] = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "encoder_layers": 6,
    "decoder_layers": 6,
    "encoder_attention_heads": 12,
    "decoder_attention_heads": 12,
    "encoder_ffn_dim": 3072,
    "decoder_ffn_dim": 3072,
    "activation_function": "gelu",
    "dropout": 0.1,
    "attention_dropout": 0.1,
    "activation_dropout": 0.1,
    "max_position_embeddings": 512,
    "ngram": 1,
    "num_buckets": 32,
    "relative_max_distance": 128,
    "cls_token_id": 101,
}

# The shape the test-suite uses: small enough that a forward pass takes milliseconds on a CPU.
BANG_TINY_PRESET: dict[str, Any] = {
    "vocab_size": 99,
    "hidden_size": 16,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 37,
    "decoder_ffn_dim": 37,
    "max_position_embeddings": 64,
    "ngram": 2,
    "num_buckets": 8,
    "relative_max_distance": 16,
    "pad_token_id": 0,
    "eos_token_id": 2,
    "decoder_start_token_id": 2,
    "cls_token_id": 1,
}

PRESETS = {"bang-base": BANG_BASE_PRESET, "tiny": BANG_TINY_PRESET}

# The keys a config may hold besides its fields that `PreTrainedConfig` itself reads or writes (a saved config.json
# holds `model_type` and `auto_map`; `from_pretrained` passes `name_or_path`, ...) or that transformers 4 configs
# carry (`tie_encoder_decoder`): never reported as misspelt, nor are `PreTrainedConfig`'s own attributes and
# properties (`use_return_dict`, ...).
CONFIG_EXTRA_KEYS = frozenset(
    {
        "model_type",
        "tie_encoder_decoder",
        "auto_map",
        "name_or_path",
        "torch_dtype",
        "num_labels",
        "output_attentions",
        "attn_implementation",
        "experts_implementation",
        "per_layer_config",
        "custom_pipelines",
        "tokenizer_class",
        "base_model_tp_plan",
        "base_model_pp_plan",
    }
)

# How close (difflib's similarity ratio) an unknown key must be to a field name to be reported as a likely
# misspelling of it: `hidden_sise` (0.91 to `hidden_size`), `ngrams` (0.91 to `ngram`) and `layer_norm_epsilon`
# (0.88 to `layer_norm_eps`) are; another model's names such as `rms_norm_eps` (0.77) or `norm_eps` (0.73), and
# project notes such as `colour`, are not. Other special ids (`sep_token_id`, `mask_token_id`: every `*_token_id`,
# which transformers checks as a special id of the vocabulary) are never reported.
MISSPELLING_SIMILARITY = 0.8

# The special ids a model build needs inside the vocabulary (padding row of the embedding, decoder start, end of
# sequence, the `[CLS]` that NAR post-processing drops).
SPECIAL_TOKEN_ID_FIELDS = ("pad_token_id", "eos_token_id", "decoder_start_token_id", "cls_token_id")


class BangConfig(PreTrainedConfig):
    r"""
    Configuration of a [`BangModel`] / [`BangForConditionalGeneration`].

    Defaults give the BANG-base shape (see `BANG_BASE_PRESET`); `BangConfig.from_preset("tiny")` gives the
    test shape.

    Args:
        vocab_size: size of the shared vocabulary (30522 for bert-base-uncased WordPiece).
        hidden_size: model width, shared by encoder and decoder (the embedding matrix is shared).
        encoder_layers / decoder_layers: number of Transformer layers.
        encoder_attention_heads / decoder_attention_heads: heads per attention layer.
        encoder_ffn_dim / decoder_ffn_dim: inner width of the feed-forward blocks.
        activation_function: feed-forward activation (official: exact erf `gelu`).
        dropout: dropout on embeddings and on each residual branch.
        attention_dropout: dropout on attention probabilities.
        activation_dropout: dropout after the feed-forward activation.
        max_position_embeddings: longest source and target sequence. The encoder position table has
            `max_position_embeddings + 1` rows (row 0 is padding), the decoder table `max_position_embeddings + 2`
            because the predicting streams read position `p + 1` (513 and 514 rows for BANG-base).
        ngram: number of predicting streams used by `mode="ngram"` (cross-stream visible n-stream attention).
        num_buckets / relative_max_distance: T5-style unidirectional relative-position buckets of the decoder
            self-attention (first `num_buckets // 2` distances exact, then logarithmic up to the max distance).
        label_smoothing: epsilon of the label-smoothed cross-entropy that `labels` give. 0.0 by default, transformers'
            convention (plain cross-entropy unless smoothing is asked for, as ProphetNet's `eps`); the official
            fine-tuning recipe uses 0.1, which this package's training programs set explicitly. A saved config keeps
            the value it was saved with.
        layer_norm_eps: epsilon of every LayerNorm.
        init_std: standard deviation of the normal initialisation (BERT-style, as `init_bert_params`).
        default_mode: decoder information flow used when `forward` gets no `mode` (`"ar"`, `"nar"` or `"ngram"`).
        pad_token_id / eos_token_id / decoder_start_token_id: `[PAD]` = 0, `[SEP]` = 102 as end of sequence and
            as the main stream's start token; non-negative integers, inside the vocabulary (see below).
        cls_token_id: `[CLS]` (101 in bert-base-uncased), which NAR post-processing drops; None drops nothing.
        tie_word_embeddings: the output projection is the shared embedding matrix (true for every BANG checkpoint,
            the official architecture). False gives the output projection its own matrix (`lm_head.weight`), as in
            other transformers models; the encoder and the decoder input always share `shared.weight` (this
            package's choice: that sharing is BANG's architecture, not an output-tying option).

    Special ids and the vocabulary: a special id outside `[0, vocab_size)` is a ValueError naming the id, its value
    and the vocabulary size (`check_special_token_ids`), raised

    * when the config is built, for every special id given a value of its own (one that differs from its default);
    * when a model is built from the config, for every special id, defaults included;
    * by `resize_token_embeddings`, before anything is resized, when the new vocabulary would not hold one;
    * where the ids are used (`generate`, the decoder input built from `labels`).

    Attributes set after construction (`config.vocab_size = 4`, then `config.pad_token_id = 3`) are not checked one
    by one, so that they may be set in any order; the model build checks the result. The defaults are the ids of
    BANG-base's bert-base-uncased vocabulary (`[SEP]` = 102), so `BangConfig(vocab_size=99)` builds and its ids are
    set afterwards (as transformers' `test_model_forward_default_config_values` does), while a model built from it
    without new ids is refused.

    Other keywords: as every transformers config, one that is no field is kept as an attribute, saved to config.json
    and reloaded (a config written by a newer version of this package, or edited by a user, still loads). The model
    does not read it: when it is within a letter or two of a field name (`hidden_sise`), a warning names the field
    it probably means. Keys that `PreTrainedConfig` handles (`CONFIG_EXTRA_KEYS`), generation parameters, other
    special ids (`sep_token_id`) and private `_` keys are never reported.
    """

    model_type = "bang"
    keys_to_ignore_at_inference = ["cache"]
    attribute_map = {"num_attention_heads": "encoder_attention_heads", "num_hidden_layers": "encoder_layers"}

    vocab_size: int = 30522
    hidden_size: int = 768
    encoder_layers: int = 6
    decoder_layers: int = 6
    encoder_attention_heads: int = 12
    decoder_attention_heads: int = 12
    encoder_ffn_dim: int = 3072
    decoder_ffn_dim: int = 3072
    activation_function: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.1
    max_position_embeddings: int = 512
    ngram: int = 1
    num_buckets: int = 32
    relative_max_distance: int = 128
    label_smoothing: float = 0.0
    layer_norm_eps: float = 1e-5
    init_std: float = 0.02
    default_mode: str = "ar"
    use_cache: bool = True
    pad_token_id: int | None = 0
    bos_token_id: int | None = None
    eos_token_id: int | None = 102
    decoder_start_token_id: int | None = 102
    cls_token_id: int | None = None
    is_encoder_decoder: bool = True
    tie_word_embeddings: bool = True

    def __post_init__(self, **kwargs):
        self._warn_about_misspelt_keys(kwargs)
        super().__post_init__(**kwargs)
        self._validate()

    @classmethod
    def _warn_about_misspelt_keys(cls, kwargs: dict) -> None:
        """A warning for each keyword that is no field but close to one (`MISSPELLING_SIMILARITY`), naming the field.

        Such a keyword is still kept as an attribute (transformers' contract); keys that `PreTrainedConfig` handles
        (`CONFIG_EXTRA_KEYS`, its attributes), generation parameters, other special ids (`*_token_id`) and private
        `_` keys are left alone.
        """
        generation_keys = getattr(GenerationConfig, "_get_default_generation_params", dict)()
        known = CONFIG_EXTRA_KEYS | set(generation_keys) | set(cls.attribute_map) | set(dir(PreTrainedConfig))
        names = sorted({f.name for f in dataclasses.fields(cls)} | set(cls.attribute_map))
        for key in kwargs:
            if key in known or key.startswith("_") or key.endswith("_token_id"):
                continue
            close = difflib.get_close_matches(key, names, n=1, cutoff=MISSPELLING_SIMILARITY)
            if close:
                logger.warning(
                    f"BangConfig got `{key}`, which is not one of its fields: did you mean `{close[0]}`? "
                    f"`{key}` is kept as an attribute (and saved with the config), but the model does not read it."
                )

    def _validate(self) -> None:
        for name in ("vocab_size", *ARCHITECTURE_FIELDS, "ngram", "num_buckets"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        for name in ("encoder_attention_heads", "decoder_attention_heads"):
            heads = getattr(self, name)
            if self.hidden_size % heads != 0:
                raise ValueError(f"`hidden_size` ({self.hidden_size}) must be divisible by `{name}` ({heads}).")
        for name in DROPOUT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"`{name}` must be a probability in [0, 1), got {value!r}.")
        if not isinstance(self.label_smoothing, (int, float)) or not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1), got {self.label_smoothing!r}.")
        if self.activation_function not in ACT2FN:
            raise ValueError(
                f"`activation_function` {self.activation_function!r} is unknown; choose one of {sorted(ACT2FN)}."
            )
        if self.num_buckets < 2:
            raise ValueError(f"`num_buckets` must be at least 2, got {self.num_buckets}.")
        max_exact = self.num_buckets // 2
        if not isinstance(self.relative_max_distance, int) or self.relative_max_distance <= max_exact:
            raise ValueError(
                f"`relative_max_distance` must be an integer larger than num_buckets // 2 = {max_exact}, "
                f"got {self.relative_max_distance!r}."
            )
        if self.ngram >= self.max_position_embeddings:
            raise ValueError(
                f"`ngram` ({self.ngram}) must be smaller than `max_position_embeddings` "
                f"({self.max_position_embeddings})."
            )
        if self.default_mode not in DECODER_MODES:
            raise ValueError(f"`default_mode` must be one of {DECODER_MODES}, got {self.default_mode!r}.")
        if not self.layer_norm_eps > 0:
            raise ValueError(f"`layer_norm_eps` must be positive, got {self.layer_norm_eps!r}.")
        if not self.init_std > 0:
            raise ValueError(f"`init_std` must be positive, got {self.init_std!r}.")
        for name in ("pad_token_id", "eos_token_id", "decoder_start_token_id"):
            value = getattr(self, name)
            if value is None or isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"`{name}` must be a non-negative integer token id, got {value!r}.")
        if self.cls_token_id is not None and (
            isinstance(self.cls_token_id, bool) or not isinstance(self.cls_token_id, int) or self.cls_token_id < 0
        ):
            raise ValueError(f"`cls_token_id` must be None or a non-negative token id, got {self.cls_token_id!r}.")
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        self.check_special_token_ids(
            names=[name for name in SPECIAL_TOKEN_ID_FIELDS if getattr(self, name) != defaults[name]]
        )

    def check_special_token_ids(
        self, vocab_size: int | None = None, names: Sequence[str] = SPECIAL_TOKEN_ID_FIELDS
    ) -> None:
        """Raises a ValueError naming a special token id that lies outside the vocabulary.

        Args:
            vocab_size: the vocabulary to check against (default: `self.vocab_size`); `resize_token_embeddings`
                passes the size it is about to give the model.
            names: the special-id fields to check (default: all of `SPECIAL_TOKEN_ID_FIELDS`).

        See the class docstring for where it is called.
        """
        vocab_size = self.vocab_size if vocab_size is None else vocab_size
        for name in names:
            value = getattr(self, name)
            if value is not None and not 0 <= value < vocab_size:
                last = vocab_size - 1
                raise ValueError(
                    f"`{name}` ({value}) is outside the vocabulary of size {vocab_size} (ids 0 to {last})."
                )

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "BangConfig":
        """Builds the `"bang-base"` shape of the released checkpoint or the `"tiny"` test shape."""
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})


__all__ = [
    "ARCHITECTURE_FIELDS",
    "BANG_BASE_PRESET",
    "BANG_TINY_PRESET",
    "CONFIG_EXTRA_KEYS",
    "DECODER_MODES",
    "DROPOUT_FIELDS",
    "MISSPELLING_SIMILARITY",
    "SPECIAL_TOKEN_ID_FIELDS",
    "TRAINING_FIELDS",
    "BangConfig",
]
