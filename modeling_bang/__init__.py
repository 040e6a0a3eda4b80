"""BANG for transformers: configuration, model and default tokenizer.

Importing this package registers `BangConfig` and the models with the Auto classes, and marks them for
`register_for_auto_class` so that `save_pretrained` writes an `auto_map` and copies this folder's modeling files:
the saved folder then loads anywhere with `AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True)`.
"""

from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM

from .configuration_bang import BANG_BASE_PRESET, BANG_TINY_PRESET, DECODER_MODES, BangConfig
from .modeling_bang import (
    BangForConditionalGeneration,
    BangGenerateOutput,
    BangModel,
    BangPreTrainedModel,
    BangSeq2SeqLMOutput,
    BangSeq2SeqModelOutput,
    label_smoothed_token_loss,
    multi_reference_token_loss,
)
from .tokenization_bang import build_default_tokenizer, train_wordpiece_tokenizer


AutoConfig.register(BangConfig.model_type, BangConfig, exist_ok=True)
AutoModel.register(BangConfig, BangModel, exist_ok=True)
AutoModelForSeq2SeqLM.register(BangConfig, BangForConditionalGeneration, exist_ok=True)
BangConfig.register_for_auto_class()
BangModel.register_for_auto_class("AutoModel")
BangForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")

__all__ = [
    "BANG_BASE_PRESET",
    "BANG_TINY_PRESET",
    "DECODER_MODES",
    "BangConfig",
    "BangForConditionalGeneration",
    "BangGenerateOutput",
    "BangModel",
    "BangPreTrainedModel",
    "BangSeq2SeqLMOutput",
    "BangSeq2SeqModelOutput",
    "build_default_tokenizer",
    "label_smoothed_token_loss",
    "multi_reference_token_loss",
    "train_wordpiece_tokenizer",
]
