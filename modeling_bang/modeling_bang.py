"""BANG: Bridging Autoregressive and Non-autoregressive Generation (Qi et al., ICML 2021, arXiv 2012.15525).

A transformers implementation of the encoder-decoder in the official fairseq code (microsoft/BANG,
`bang/bang/bang_AR_NAR_mixed.py` and `ngram_multihead_attention_AR_NAR_mixed.py`). One set of weights serves three
decoder information flows, chosen per call with `mode`:

* `"ar"`: a main stream `[SEP] y1 .. y_{T-1}` with causal self-attention, plus one predicting stream of mask
  vectors; the predicting stream at position t sees main-stream positions 0..t and itself and predicts y_{t+1}.
  Only the main stream is cached. This is the computation of ProphetNet with `ngram=1`.
* `"nar"`: the decoder input is only the mask vector plus the position embedding of p+1; the masks attend to each
  other causally (so the prediction at t does not depend on how long the canvas is); no main stream.
* `"ngram"`: BANG's cross-stream visible n-stream attention (paper section 3, Figure 1), with `config.ngram` streams.
  Every stream predicts the same target y_{t+1} at position t; stream s does it with the previous s tokens hidden.
  The visibility rule implemented here (0-based stream s, 0-based position t) is

      stream s at t sees: main positions j <= max(t - s, 0),
                          stream s - m at position t - m for 1 <= m <= min(s, t),
                          and itself.

  The masks that stand for the hidden tokens are therefore the lower streams' states on the same diagonal
  (cross-stream visible), each diagonal is a causal chain of masks like NAR mode after the prefix y_0..y_{t-s},
  and stream 0 is exactly AR mode. The clip `max(t - s, 0)` keeps the `[SEP]` start visible to the first
  positions of the higher streams, as the official `ngram_attention_bias` does; those positions are never trained
  (see `BangForConditionalGeneration.forward`). The paper does not publish this rule at this level of detail: it
  is this package's reading of its Figure 1, whose caption it satisfies (the first predicting stream predicts in AR
  manner; the first tokens of the streams, stream s at position s, compose the NAR prediction of y_1..y_n), and it
  is documented and tested as such.

Relative-position logits follow the official code: a `Linear(hidden, num_buckets * heads)` applied to each query's
layer input gives one logit per bucket; main-stream keys are bucketed by the distance `t - j`, predicting-stream
queries see main keys at distance `t - j + 1` and other masks at distance `t - t'`.

Outputs follow transformers' sequence-to-sequence conventions for the main stream, and give the predicting streams
fields of their own (this package's layout, after ProphetNet's `*_ngram_*` fields):

* `decoder_hidden_states`, `decoder_attentions`, `cross_attentions` (with `output_hidden_states` /
  `output_attentions`) hold the main stream only, (batch, T, hidden) and (batch, heads, T, keys) per layer, as in
  any transformers encoder-decoder; `nar` mode has no main stream, so they are None there.
* `predict_hidden_state`, `decoder_predict_hidden_states` ((batch, streams, T, hidden) per layer),
  `decoder_predict_attentions` ((batch, heads, streams * T, keys) per layer, keys = main positions then the
  streams' positions) and `predict_cross_attentions` ((batch, heads, streams * T, source) per layer) hold the
  predicting streams. They are returned with `output_predict_streams=True`, and always in `nar` mode, whose only
  stream they are; `logits` are always the predicting stream's (the streams are what BANG trains and decodes).
* `return_dict=False` (argument or config) gives tuples, the `None` fields left out, as transformers models do.
* Attention weights are computed with the eager kernel whenever `output_attentions=True` (sdpa cannot return them).

The input checks that read tensor values (token ids inside the vocabulary, rows that are all padding, position and
sample indices) run in eager mode only: under `torch.compile`, `torch.export`, ONNX export or CUDA-graph capture they
are skipped, so the traced graph has no data-dependent branch; the checks on shapes become `torch._check`
constraints there.
"""

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import GenerationConfig, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.generation.utils import GenerateEncoderDecoderOutput
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, ModelOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import CONFIG_NAME, GENERATION_CONFIG_NAME, logging
from transformers.utils.deprecation import deprecate_kwarg
from transformers.utils.generic import can_return_tuple
from transformers.utils.versions import require_version

from .configuration_bang import DECODER_MODES, BangConfig
from .generation_bang import (
    BangGenerationOptions,
    check_semi_nar_block_size,
    kept_cache_slots,
    nar_canvas_to_sequences,
    pad_source,
    rows_without_text,
    text_free_token_ids,
    verified_token_counts,
)


# How a semi-NAR block of predicting streams is placed (`BangDecoder.forward(proposal_anchors=...)`).
PROPOSAL_ANCHORS = ("last", "every")


# transformers 5.24 renamed the cache argument and output field from `past_key_values` to `cache`; an older
# generate() would decode without the cache, so an older transformers is refused with an install hint.
require_version("transformers>=5.24.0", "BANG's modeling code needs it: pip install -U 'transformers>=5.24'")

logger = logging.get_logger(__name__)


# ---------------------------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------------------------


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    """Builds the main-stream input `[SEP] y1 .. y_{T-1}` from labels `y1 .. yT` (-100 becomes padding)."""
    shifted = labels.new_zeros(labels.shape)
    shifted[:, 1:] = labels[:, :-1].clone()
    shifted[:, 0] = decoder_start_token_id
    return shifted.masked_fill(shifted == -100, pad_token_id)


# Adapted from transformers.models.prophetnet.modeling_prophetnet.compute_relative_buckets
def compute_relative_buckets(relative_positions: torch.Tensor, num_buckets: int, max_distance: int) -> torch.Tensor:
    """Unidirectional T5-style buckets of `relative_positions` (key position minus query position).

    Keys in the future (positive relative position) fall into bucket 0, like the distance 0; distances below
    `num_buckets // 2` get their own bucket, longer ones share logarithmically wider buckets up to `max_distance`.
    """
    distance = (-relative_positions).clamp(min=0)
    max_exact = num_buckets // 2
    is_small = distance < max_exact
    log_ratio = torch.log(distance.clamp(min=1).float() / max_exact) / math.log(max_distance / max_exact)
    large = (max_exact + log_ratio * (num_buckets - max_exact)).clamp(max=num_buckets - 1).int()
    return torch.where(is_small, distance.int(), large).long()


def build_ngram_visibility(num_positions: int, num_streams: int, device: torch.device | None = None) -> torch.Tensor:
    """Visibility of the cross-stream visible n-stream decoder (see the module docstring for the rule).

    Returns a boolean tensor of shape (num_streams * num_positions, num_positions + num_streams * num_positions):
    row `s * T + t` is stream s at position t; the first T columns are the main-stream keys, then the predicting
    streams' keys in the same stream-major order. True means "may attend".
    """
    t = torch.arange(num_positions, device=device)
    s = torch.arange(num_streams, device=device)
    query_t = t.repeat(num_streams)  # (S*T,)
    query_s = s.repeat_interleave(num_positions)  # (S*T,)
    main_limit = (query_t - query_s).clamp(min=0)
    sees_main = t[None, :] <= main_limit[:, None]  # (S*T, T)
    step_back = query_t[:, None] - query_t[None, :]  # m = t - t'
    stream_back = query_s[:, None] - query_s[None, :]  # s - s'
    sees_stream = (step_back == stream_back) & (step_back >= 0) & (step_back <= query_t[:, None])
    return torch.cat([sees_main, sees_stream], dim=1)


class _LabelSmoothedCrossEntropy(torch.autograd.Function):
    """Label-smoothed cross-entropy of (N, V) float32 logits against R targets per row, (N, R), with its gradient
    written in one pass.

    Forward keeps exp(logits - max) and its row sums instead of a (N, V) log-softmax; backward forms
    `softmax * sum_r(g_loss_r - g_logp_r) - sum_r(g_loss_r) * eps / V` plus each target column's term directly, where
    autograd through log_softmax, gather and sum would build and add several (N, V) tensors. Scoring R targets costs
    one pass over the vocabulary, not R. The values are those of the formula in `label_smoothed_token_loss` (up to
    float rounding); targets whose `counted` is False get 0 and no gradient.
    """

    @staticmethod
    def forward(ctx, logits, labels, counted, epsilon: float):
        peak = logits.amax(-1, keepdim=True)
        shifted_exp = (logits - peak).exp_()  # (N, V)
        row_sum = shifted_exp.sum(-1, keepdim=True)  # (N, 1)
        log_normaliser = peak + row_sum.log()  # (N, 1)
        target_log_probs = logits.gather(-1, labels) - log_normaliser  # (N, R)
        token_loss = -target_log_probs
        if epsilon:  # eps / V * sum_v(-log p_v) = eps * (log_normaliser - mean_v(logits))
            token_loss = (1.0 - epsilon) * token_loss + epsilon * (log_normaliser - logits.mean(-1, keepdim=True))
        zero = logits.new_zeros(())
        ctx.save_for_backward(shifted_exp, row_sum, labels, counted)
        ctx.epsilon = epsilon
        return torch.where(counted, token_loss, zero), torch.where(counted, target_log_probs, zero)

    @staticmethod
    def backward(ctx, grad_loss, grad_log_probs):
        shifted_exp, row_sum, labels, counted = ctx.saved_tensors
        epsilon = ctx.epsilon
        zero = row_sum.new_zeros(())
        grad_loss = zero.expand(labels.shape) if grad_loss is None else torch.where(counted, grad_loss, zero)
        grad_log_probs = (
            zero.expand(labels.shape) if grad_log_probs is None else torch.where(counted, grad_log_probs, zero)
        )
        grad = shifted_exp * ((grad_loss - grad_log_probs).sum(-1, keepdim=True) / row_sum)  # softmax * (g - g_logp)
        if epsilon:
            grad.sub_(grad_loss.sum(-1, keepdim=True) * (epsilon / shifted_exp.shape[-1]))
        grad.scatter_add_(-1, labels, grad_log_probs - (1.0 - epsilon) * grad_loss)
        return grad, None, None, None


def label_smoothed_token_loss(
    logits: torch.Tensor, labels: torch.Tensor, epsilon: float, ignore_index: int = -100
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Label-smoothed cross-entropy per token, with the official formula (`criterion_Ngram_NAR_mixed.py`).

    loss = (1 - eps) * nll + eps / V * sum_v(-log p_v), computed in float32 (`_LabelSmoothedCrossEntropy`: no
    (..., V) log-softmax is kept, which makes it the cheaper half of a training step's work over the vocabulary).

    Args:
        logits: (..., T, V) scores.
        labels: (..., T) target ids, `ignore_index` where no loss is taken.
    Returns:
        token_loss (..., T) with 0 at ignored positions, target_log_probs (..., T) with 0 at ignored positions,
        and the boolean mask (..., T) of counted positions.
    """
    token_loss, target_log_probs, counted = multi_reference_token_loss(
        logits, labels.unsqueeze(-2), epsilon, ignore_index
    )
    return token_loss.squeeze(-2), target_log_probs.squeeze(-2), counted.squeeze(-2)


def multi_reference_token_loss(
    logits: torch.Tensor, references: torch.Tensor, epsilon: float, ignore_index: int = -100
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`label_smoothed_token_loss` of one prediction against R references of the same canvas at once.

    A NAR canvas holds only [MASK] tokens, so its logits do not depend on the target: SPMD scores a source's gold and
    distilled references against one decoder pass, and the vocabulary is normalised once for all R of them.

    Args:
        logits: (..., T, V) scores.
        references: (..., R, T) target ids, `ignore_index` where no loss is taken.
    Returns:
        token_loss, target_log_probs and the counted mask, each (..., R, T), 0 at ignored positions.
    """
    counted = references.ne(ignore_index)
    safe_labels = references.masked_fill(~counted, 0).transpose(-1, -2)  # (..., T, R)
    num_references, vocab = references.shape[-2], logits.shape[-1]
    token_loss, target_log_probs = _LabelSmoothedCrossEntropy.apply(
        logits.float().reshape(-1, vocab),
        safe_labels.reshape(-1, num_references),
        counted.transpose(-1, -2).reshape(-1, num_references),
        float(epsilon),
    )
    shape = safe_labels.shape  # (..., T, R)
    return (
        token_loss.view(shape).transpose(-1, -2),
        target_log_probs.view(shape).transpose(-1, -2),
        counted,
    )


def build_stream_labels(
    labels: torch.Tensor, target_span_index: torch.Tensor | None, num_streams: int
) -> torch.Tensor:
    """Labels of every predicting stream, (batch, num_streams, T): stream s keeps the targets whose index inside their
    span is at least s and ignores (-100) the others, as the official n-gram criterion's `target_idx >= i`.

    `target_span_index` (batch, T) defaults to the position index 0..T-1 (a fine-tuning target is one span).
    """
    if target_span_index is None:
        target_span_index = torch.arange(labels.shape[-1], device=labels.device).expand_as(labels)
    streams = torch.arange(num_streams, device=labels.device)[None, :, None]
    return labels[:, None].masked_fill(target_span_index[:, None] < streams, -100)


def is_traced() -> bool:
    """True while torch.compile / torch.export / ONNX export trace the model or a CUDA graph is being captured.

    The input checks that read tensor values (a device sync and a data-dependent branch) are skipped then.
    """
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return True
    return torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()


def _require(condition, message: str) -> None:
    """A check on shapes: a ValueError in eager mode, a `torch._check` constraint while traced."""
    if is_traced():
        torch._check(condition, lambda: message)
    elif not condition:
        raise ValueError(message)


def _check_token_ids(ids: torch.Tensor, vocab_size: int, what: str, ignore_index: int | None = None) -> None:
    """Raises a ValueError naming the first id outside [0, vocab_size) (a tokenizer that does not match the model).

    Eager mode only (see `is_traced`): an id outside the vocabulary would otherwise fail inside the embedding lookup.
    """
    if is_traced():
        return
    valid = (ids >= 0) & (ids < vocab_size)
    if ignore_index is not None:
        valid |= ids == ignore_index
    if not bool(valid.all()):
        bad = int(ids[~valid][0])
        raise ValueError(
            f"{what} token id {bad} is outside the vocabulary of size {vocab_size}; "
            "does the tokenizer match the model?"
        )


def _check_batch(
    input_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor | None,
    source_rows: int | None,
    encoder_sample_index: torch.Tensor | None,
    span_masking: bool = False,
) -> None:
    """ValueErrors naming the tensor for what would otherwise fail deep inside torch or give a silent result: an
    empty batch, ids that are not integers, `input_ids` / `attention_mask` / `labels` that are not (batch, length)
    or whose rows or lengths disagree, an `attention_mask` holding values other than 0 and 1, and a row of labels
    without any target token (all -100), in every mode: the row's loss would be 0 (its `per_sample_loss` too, which
    SPMD's self-paced weights read as the easiest sample) and train nothing. A span-masking (pretraining) batch
    (`span_masking`: `target_span_index` given) is exempt, since its chunks may be too short to mask, so that their
    loss is 0 by design. The value checks (mask values, all -100) run in eager mode only (`is_traced`)."""
    for name, tensor in (("input_ids", input_ids), ("labels", labels)):
        if tensor is None:
            continue
        if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
            raise ValueError(f"`{name}` must hold integer token ids (torch.long), got a {tensor.dtype} tensor.")
        if tensor.dim() != 2:
            raise ValueError(f"`{name}` must be a (batch, length) tensor, got shape {tuple(tensor.shape)}.")
    if input_ids is not None:
        _require(input_ids.shape[0] > 0, f"`input_ids` is an empty batch (shape {tuple(input_ids.shape)}).")
        if attention_mask is not None:
            _require(
                tuple(attention_mask.shape) == tuple(input_ids.shape),
                f"`attention_mask` has shape {tuple(attention_mask.shape)} but `input_ids` {tuple(input_ids.shape)}; "
                "they must match.",
            )
    # With the source ids only: once per encoder pass, not at every cached generation step (a host sync on GPUs).
    if (
        input_ids is not None
        and attention_mask is not None
        and not is_traced()
        and not bool(((attention_mask == 0) | (attention_mask == 1)).all())
    ):
        raise ValueError(
            "`attention_mask` must hold 1 for the tokens to attend to and 0 for padding; it holds other values "
            f"({sorted(set(attention_mask.flatten().tolist()))[:5]}...)."
        )
    if labels is None:
        return
    rows = encoder_sample_index.shape[0] if encoder_sample_index is not None else source_rows
    if rows is not None:
        _require(
            labels.shape[0] == rows,
            f"`labels` has {labels.shape[0]} rows but the batch has {rows} sources"
            + (" (encoder_sample_index)" if encoder_sample_index is not None else "")
            + "; give one target row per source.",
        )
    _require(labels.shape[0] > 0 and labels.shape[1] > 0, f"`labels` is empty (shape {tuple(labels.shape)}).")
    if span_masking or is_traced():
        return
    empty = labels.eq(-100).all(-1)
    if not bool(empty.any()):
        return
    empty_rows = empty.nonzero().flatten().tolist()
    if len(empty_rows) == labels.shape[0]:
        raise ValueError(
            "`labels` holds no target token (every value is -100, the ignored index): the loss would be 0 and train "
            "nothing; drop such batches or check how the labels were padded."
        )
    raise ValueError(
        f"`labels` row(s) {empty_rows[:8]} of {labels.shape[0]} hold no target token (every value is -100, the "
        "ignored index): their loss would be 0 and train nothing; give each row its target (at least its [SEP]) or "
        "drop the row."
    )


def _padding_bias(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(batch, keys) 1/0 mask -> additive (batch, 1, 1, keys) bias with the dtype's minimum on padding."""
    bias = torch.zeros(attention_mask.shape, dtype=dtype, device=attention_mask.device)
    bias = bias.masked_fill(attention_mask.eq(0), torch.finfo(dtype).min)
    return bias[:, None, None, :]


# ---------------------------------------------------------------------------------------------------------------
# Output types
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class BangDecoderOutput(ModelOutput):
    """
    Output of [`BangDecoder`] (every stream, whatever the caller asked for; [`BangModel`] selects).

    Args:
        last_hidden_state: (batch, T, hidden) main-stream states; None in NAR mode, which has no main stream, and when
            the last layer skipped the main stream (`return_main_stream=False`).
        predict_hidden_state: (batch, num_streams, T, hidden) predicting-stream states (`num_streams` is 1 in `ar`
            and `nar` mode, `config.ngram` in `ngram` mode). Position t predicts target t.
        cache: the main stream's self-attention keys/values and the cross-attention keys/values.
        hidden_states: per layer (embeddings first), the main stream's states (batch, T, hidden); None in NAR mode.
        predict_hidden_states: per layer (embeddings first), the predicting streams' (batch, num_streams, T, hidden).
        attentions: per layer, the main stream's self-attention weights (batch, heads, T, T_past + T).
        predict_attentions: per layer, the predicting queries' self-attention weights
            (batch, heads, num_streams * T, keys), keys = the main positions (cached ones included), then the
            predicting positions in stream-major order.
        cross_attentions: per layer, the main stream's encoder-attention weights (batch, heads, T, S).
        predict_cross_attentions: per layer, the predicting queries' encoder-attention weights
            (batch, heads, num_streams * T, S).
    """

    last_hidden_state: torch.FloatTensor | None = None
    predict_hidden_state: torch.FloatTensor | None = None
    cache: Cache | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    predict_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    predict_attentions: tuple[torch.FloatTensor, ...] | None = None
    cross_attentions: tuple[torch.FloatTensor, ...] | None = None
    predict_cross_attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class BangSeq2SeqModelOutput(ModelOutput):
    """
    Output of [`BangModel`]: transformers' `Seq2SeqModelOutput` fields for the main stream, then the predicting
    streams' fields (see the module docstring).

    Args:
        last_hidden_state: (batch, T, hidden) main-stream states (None in NAR mode).
        cache: cache for incremental AR decoding.
        decoder_hidden_states: per decoder layer (embeddings first), main-stream states (batch, T, hidden).
        decoder_attentions: per decoder layer, main-stream self-attention weights (batch, heads, T, T_past + T).
        cross_attentions: per decoder layer, main-stream encoder-attention weights (batch, heads, T, S).
        encoder_last_hidden_state: (batch, S, hidden).
        encoder_hidden_states: per encoder layer (embeddings first), (batch, S, hidden).
        encoder_attentions: per encoder layer, (batch, heads, S, S).
        predict_hidden_state: (batch, num_streams, T, hidden) predicting-stream states (with
            `output_predict_streams=True`, and always in NAR mode).
        decoder_predict_hidden_states / decoder_predict_attentions / predict_cross_attentions: the predicting
            streams' per-layer states and weights, as in [`BangDecoderOutput`] (with `output_predict_streams=True`
            and `output_hidden_states` / `output_attentions`).
    """

    last_hidden_state: torch.FloatTensor | None = None
    cache: Cache | None = None
    decoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    decoder_attentions: tuple[torch.FloatTensor, ...] | None = None
    cross_attentions: tuple[torch.FloatTensor, ...] | None = None
    encoder_last_hidden_state: torch.FloatTensor | None = None
    encoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    encoder_attentions: tuple[torch.FloatTensor, ...] | None = None
    predict_hidden_state: torch.FloatTensor | None = None
    decoder_predict_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    decoder_predict_attentions: tuple[torch.FloatTensor, ...] | None = None
    predict_cross_attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class BangSeq2SeqLMOutput(ModelOutput):
    """
    Output of [`BangForConditionalGeneration`]: transformers' `Seq2SeqLMOutput` fields, then BANG's own.

    Args:
        loss: scalar, cross-entropy (label-smoothed when `config.label_smoothing` > 0) summed over counted target
            tokens (all streams in `ngram` mode) and divided by their number (or by `num_items_in_batch` when the
            Trainer passes it).
        logits: (batch, T, vocab) scores of the first predicting stream (the AR stream, or the NAR masks).
        cache: cache for incremental AR decoding.
        decoder_hidden_states / decoder_attentions / cross_attentions / encoder_last_hidden_state /
            encoder_hidden_states / encoder_attentions: as in [`BangSeq2SeqModelOutput`] (main stream).
        per_sample_loss: (batch,) each sample's mean loss over its counted target tokens (all streams in `ngram`
            mode); 0 for a sample with no counted token. Used by self-paced training.
        stream_losses: (num_streams,) mean loss of each predicting stream (`ngram` mode only).
        predict_logits: (batch, num_streams, T, vocab) scores of every stream (`ngram` mode only).
        token_log_probs: log-probability of each label token, (batch, T) or (batch, num_streams, T) in `ngram`
            mode, 0 where the label is ignored; returned when `return_token_log_probs=True`.
        decoder_predict_hidden_states / decoder_predict_attentions / predict_cross_attentions: as in
            [`BangSeq2SeqModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    cache: Cache | None = None
    decoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    decoder_attentions: tuple[torch.FloatTensor, ...] | None = None
    cross_attentions: tuple[torch.FloatTensor, ...] | None = None
    encoder_last_hidden_state: torch.FloatTensor | None = None
    encoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    encoder_attentions: tuple[torch.FloatTensor, ...] | None = None
    per_sample_loss: torch.FloatTensor | None = None
    stream_losses: torch.FloatTensor | None = None
    predict_logits: torch.FloatTensor | None = None
    token_log_probs: torch.FloatTensor | None = None
    decoder_predict_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    decoder_predict_attentions: tuple[torch.FloatTensor, ...] | None = None
    predict_cross_attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class BangGenerateOutput(GenerateEncoderDecoderOutput):
    """
    `generate`'s dict output (`return_dict_in_generate=True`) of `decoding_mode="semi_nar",
    semi_nar_acceptance="verify"`: transformers' `GenerateEncoderDecoderOutput` and the acceptance statistics.

    Args:
        decoder_passes: (batch,) the decoder passes each row took part in (its last one included); the call ran
            `decoder_passes.max()` passes.
        tokens_per_pass: (batch,) float, each row's new tokens (its `[SEP]` included) divided by its decoder
            passes: the mean tokens accepted per pass, from 1 (every proposal rejected: greedy AR's one token per
            pass) to `semi_nar_block_size` (every proposal accepted).
    """

    decoder_passes: torch.LongTensor | None = None
    tokens_per_pass: torch.FloatTensor | None = None


# ---------------------------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------------------------


# Adapted from transformers.models.bart.modeling_bart.eager_attention_forward
def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling  # (B, H, Tq, Tk)
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value).transpose(1, 2).contiguous()  # (B, Tq, H, hd)
    return attn_output, attn_weights


def _split_heads(module: nn.Module, states: torch.Tensor) -> torch.Tensor:
    """(B, T, hidden) -> (B, heads, T, head_dim)."""
    return states.view(states.shape[0], states.shape[1], module.num_heads, module.head_dim).transpose(1, 2)


def _attend(
    module: nn.Module, query, key, value, bias, scaling: float, dropout: float, output_attentions: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Runs the kernel chosen by `config._attn_implementation` (the eager one when the weights are asked for).

    Inputs (B, H, T, hd); returns the output (B, Tq, H * hd) and the weights (B, H, Tq, Tk) or None.
    """
    if output_attentions:
        attention_interface: Callable = eager_attention_forward
    else:
        attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
            module.config._attn_implementation, eager_attention_forward
        )
    output, weights = attention_interface(
        module, query, key, value, bias, dropout=dropout if module.training else 0.0, scaling=scaling, is_causal=False
    )
    return output.reshape(output.shape[0], output.shape[1], -1), weights if output_attentions else None


class BangAttention(nn.Module):
    """Multi-head attention of the encoder and the decoder's encoder attention (fairseq `MultiheadAttention`)."""

    def __init__(self, config: BangConfig, num_heads: int, is_cross_attention: bool, layer_idx: int | None = None):
        super().__init__()
        self.config = config
        self.num_heads = num_heads
        self.head_dim = config.hidden_size // num_heads
        self.scaling = self.head_dim**-0.5
        self.dropout = config.attention_dropout
        self.is_cross_attention = is_cross_attention
        self.is_causal = False
        self.layer_idx = layer_idx
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_bias: torch.Tensor | None,
        key_value_states: torch.Tensor | None = None,
        cache: EncoderDecoderCache | None = None,
        output_attentions: bool = False,
        query_split: int | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor | None, ...]]:
        """Returns the output (B, Tq, hidden) and a tuple of attention weights (None entries unless
        `output_attentions`): one (B, H, Tq, Tk) tensor, or, with `query_split` n, those of the queries before n (the
        main stream; None when n is 0) and of the queries from n on (the predicting streams), computed separately so
        that each stream's weights are the tensors its output is computed from."""
        query = _split_heads(self, self.q_proj(hidden_states))  # (B, H, Tq, hd)
        source = key_value_states if self.is_cross_attention else hidden_states
        cross_cache = cache.cross_attention_cache if cache is not None else None
        if cross_cache is not None and cache.is_updated.get(self.layer_idx):
            key = cross_cache.layers[self.layer_idx].keys
            value = cross_cache.layers[self.layer_idx].values
        else:
            key = _split_heads(self, self.k_proj(source))
            value = _split_heads(self, self.v_proj(source))
            if cross_cache is not None:
                key, value = cross_cache.update(key, value, self.layer_idx)
                cache.is_updated[self.layer_idx] = True
        if not output_attentions or query_split is None:
            output, weights = _attend(
                self, query, key, value, attention_bias, self.scaling, self.dropout, output_attentions
            )
            return self.out_proj(output), (weights,) if query_split is None else (None, None)
        parts, weights = [], []
        for part in (query[:, :, :query_split], query[:, :, query_split:]):
            if part.shape[2] == 0:
                weights.append(None)
                continue
            output, part_weights = _attend(self, part, key, value, attention_bias, self.scaling, self.dropout, True)
            parts.append(output)
            weights.append(part_weights)
        output = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        return self.out_proj(output), tuple(weights)


@dataclass
class StreamMasks:
    """Relative-position buckets and visibility of the decoder self-attention, shared by all layers.

    `main_*` are those of the main-stream queries over the main keys (None in NAR mode); `predict_*` those of the
    predicting queries over the main keys followed by the predicting keys. Buckets are (B|1, Tq, Tk) integers,
    visibility (B|1, Tq, Tk) booleans (True: may attend).
    """

    main_buckets: torch.Tensor | None
    main_visible: torch.Tensor | None
    predict_buckets: torch.Tensor
    predict_visible: torch.Tensor


class BangDecoderSelfAttention(nn.Module):
    """Self-attention of the multi-stream decoder (official `NgramMultiheadAttentionARNARMixed`).

    The main stream attends only to itself (causally, cached); the predicting queries attend to the main stream
    and to each other as the visibility masks built by [`BangDecoder`] allow. Both use the same projections; the
    relative-position logits come from `relative_linear` applied to each query's layer input.
    """

    def __init__(self, config: BangConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.num_heads = config.decoder_attention_heads
        self.head_dim = config.hidden_size // self.num_heads
        self.scaling = self.head_dim**-0.5
        self.dropout = config.attention_dropout
        self.num_buckets = config.num_buckets
        self.is_causal = False
        self.layer_idx = layer_idx
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.relative_linear = nn.Linear(config.hidden_size, config.num_buckets * self.num_heads)

    def _attention_bias(self, queries: torch.Tensor, buckets: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """Relative-position logits plus the visibility mask, (B, H, Tq, Tk)."""
        batch, length = queries.shape[:2]
        per_bucket = self.relative_linear(queries).view(batch, length, self.num_buckets, self.num_heads)
        per_bucket = per_bucket.permute(0, 3, 1, 2)  # (B, H, Tq, buckets)
        index = buckets[:, None].expand(batch, self.num_heads, length, buckets.shape[-1])
        bias = per_bucket.gather(-1, index)  # (B, H, Tq, Tk)
        return bias.masked_fill(~visible[:, None], torch.finfo(bias.dtype).min)

    def forward(
        self,
        hidden_states: torch.Tensor,
        num_main: int,
        masks: StreamMasks,
        cache: EncoderDecoderCache | None = None,
        main_output: bool = True,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Returns the attention output of every query, (B, Tm + Q, hidden), or of the predicting queries only,
        (B, Q, hidden), when `main_output` is False (the main stream's keys and values are still computed); then the
        main and the predicting queries' attention weights (None unless `output_attentions`)."""
        main_states, predict_states = hidden_states[:, :num_main], hidden_states[:, num_main:]
        key = _split_heads(self, self.k_proj(hidden_states))  # (B, H, Tm + Q, hd)
        value = _split_heads(self, self.v_proj(hidden_states))
        if cache is not None:
            main_key, main_value = cache.self_attention_cache.update(
                key[:, :, :num_main], value[:, :, :num_main], self.layer_idx
            )
            stream_key = torch.cat([main_key, key[:, :, num_main:]], dim=2)
            stream_value = torch.cat([main_value, value[:, :, num_main:]], dim=2)
        else:
            main_key, main_value, stream_key, stream_value = key[:, :, :num_main], value[:, :, :num_main], key, value

        outputs, main_weights = [], None
        if num_main > 0 and main_output:
            bias = self._attention_bias(main_states, masks.main_buckets, masks.main_visible)
            main_query = _split_heads(self, self.q_proj(main_states))
            output, main_weights = _attend(
                self, main_query, main_key, main_value, bias, self.scaling, self.dropout, output_attentions
            )
            outputs.append(output)
        bias = self._attention_bias(predict_states, masks.predict_buckets, masks.predict_visible)
        stream_query = _split_heads(self, self.q_proj(predict_states))
        output, predict_weights = _attend(
            self, stream_query, stream_key, stream_value, bias, self.scaling, self.dropout, output_attentions
        )
        outputs.append(output)
        output = self.out_proj(torch.cat(outputs, dim=1) if len(outputs) > 1 else outputs[0])
        return output, main_weights, predict_weights


class BangFeedForward(nn.Module):
    def __init__(self, config: BangConfig, ffn_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, config.hidden_size)
        self.activation_fn = ACT2FN[config.activation_function]
        self.activation_dropout = config.activation_dropout

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.activation_fn(self.fc1(hidden_states))
        hidden_states = nn.functional.dropout(hidden_states, p=self.activation_dropout, training=self.training)
        return self.fc2(hidden_states)


class BangEncoderLayer(GradientCheckpointingLayer):
    """Post-LayerNorm Transformer encoder layer (official `TransformerEncoderLayer`)."""

    def __init__(self, config: BangConfig):
        super().__init__()
        self.dropout = config.dropout
        self.self_attn = BangAttention(config, config.encoder_attention_heads, is_cross_attention=False)
        self.self_attn_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = BangFeedForward(config, config.encoder_ffn_dim)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(
        self, hidden_states: torch.Tensor, attention_bias: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns the layer output (B, S, hidden) and the self-attention weights (None unless asked for)."""
        residual, (weights,) = self.self_attn(hidden_states, attention_bias, output_attentions=output_attentions)
        residual = nn.functional.dropout(residual, p=self.dropout, training=self.training)
        hidden_states = self.self_attn_layer_norm(hidden_states + residual)
        residual = nn.functional.dropout(self.feed_forward(hidden_states), p=self.dropout, training=self.training)
        return self.final_layer_norm(hidden_states + residual), weights


class BangDecoderLayer(GradientCheckpointingLayer):
    """Post-LayerNorm decoder layer: multi-stream self-attention, encoder attention, feed-forward."""

    def __init__(self, config: BangConfig, layer_idx: int):
        super().__init__()
        self.dropout = config.dropout
        self.self_attn = BangDecoderSelfAttention(config, layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.encoder_attn = BangAttention(
            config, config.decoder_attention_heads, is_cross_attention=True, layer_idx=layer_idx
        )
        self.encoder_attn_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = BangFeedForward(config, config.decoder_ffn_dim)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_bias: torch.Tensor | None,
        num_main: int,
        masks: StreamMasks,
        cache: EncoderDecoderCache | None = None,
        main_output: bool = True,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor | None, ...]]:
        """Returns the layer's output states of both streams, or of the predicting streams only when `main_output`
        is False (the last layer of a model that projects only the predicting streams to logits); then the attention
        weights (main self, predicting self, main cross, predicting cross), None unless `output_attentions`."""
        residual, main_weights, predict_weights = self.self_attn(
            hidden_states, num_main, masks, cache=cache, main_output=main_output, output_attentions=output_attentions
        )
        if not main_output:
            hidden_states, num_main = hidden_states[:, num_main:], 0
        residual = nn.functional.dropout(residual, p=self.dropout, training=self.training)
        hidden_states = self.self_attn_layer_norm(hidden_states + residual)
        residual, cross_weights = self.encoder_attn(
            hidden_states,
            encoder_bias,
            key_value_states=encoder_hidden_states,
            cache=cache,
            output_attentions=output_attentions,
            query_split=num_main,
        )
        residual = nn.functional.dropout(residual, p=self.dropout, training=self.training)
        hidden_states = self.encoder_attn_layer_norm(hidden_states + residual)
        residual = nn.functional.dropout(self.feed_forward(hidden_states), p=self.dropout, training=self.training)
        return self.final_layer_norm(hidden_states + residual), (main_weights, predict_weights, *cross_weights)


# ---------------------------------------------------------------------------------------------------------------
# Checkpoint folders: what loading checks before it reads them, and the permissions of saved weights
# ---------------------------------------------------------------------------------------------------------------

# The most missing or unexpected weight names an error message lists (then: "and N more").
LISTED_WEIGHT_NAMES = 12
PERMISSION_BITS = 0o7777  # of `st_mode`: what `os.chmod` sets


def read_json_object(path: str | os.PathLike, what: str) -> dict:
    """The JSON object stored in `path`; a ValueError naming `what` and `path` when the file holds anything else."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{what}: {path} is not valid JSON ({error}).") from error
    if not isinstance(value, dict):
        raise ValueError(f"{what}: {path} is not a JSON object.")
    return value


def check_safetensors_file(path: str | os.PathLike, what: str) -> None:
    """A ValueError naming `path` when it is not a whole safetensors file: shorter than its header says (a copy or
    save that was cut off), or no safetensors header at all (another format, garbage). Reads the header only."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        header_size = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 0 < header_size <= size - 8:
            raise ValueError(f"{what}: {path} is not a safetensors file (size {size} bytes, no valid header).")
        try:
            header = json.loads(f.read(header_size))
            ends = [entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"]
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, KeyError, IndexError, TypeError) as error:
            raise ValueError(f"{what}: {path} has a damaged safetensors header ({error!r}).") from error
    expected = 8 + header_size + max(ends, default=0)
    if size < expected:
        raise ValueError(
            f"{what}: {path} is truncated: {size} bytes, its header describes {expected}; copy or save it again."
        )


def check_checkpoint_files(folder: str | os.PathLike, what: str, needs_config: bool = True) -> dict:
    """Checks the files of a local model folder before transformers reads them, so that what is wrong is one
    ValueError naming the file: no `config.json` (with `needs_config`; transformers would build a default config and
    fail on the first weight of another shape), a `config.json` or `generation_config.json` that is not a JSON object
    (transformers would drop a damaged generation config and decode with its defaults, unasked), and a `*.safetensors`
    file that is truncated or not a safetensors file (transformers would pass on safetensors' "header too large" or
    "incomplete metadata"). `what` starts each message (`--model`, or `The model` from the API). Returns the
    `config.json` object read ({} when the folder has none)."""
    folder = Path(folder)
    config = folder / CONFIG_NAME
    if needs_config and not config.is_file():
        checkpoints = sorted(p.name for p in folder.glob("checkpoint-*") if (p / CONFIG_NAME).is_file())
        hint = f"; its checkpoints {checkpoints[-3:]} are" if checkpoints else ""
        raise ValueError(
            f"{what} {folder} has no {CONFIG_NAME}, so it is not a saved model folder (save_pretrained and the "
            f"training programs write {CONFIG_NAME} with the weights){hint}."
        )
    config_object = read_json_object(config, what) if config.is_file() else {}
    generation_config = folder / GENERATION_CONFIG_NAME
    if generation_config.is_file():
        read_json_object(generation_config, what)
    for weights in sorted(folder.glob("*.safetensors")):
        check_safetensors_file(weights, what)
    return config_object


def check_finite_weights(model: nn.Module, what: str) -> None:
    """A ValueError naming the first floating-point weight of `model` that holds NaN or infinite values (a damaged
    weight file loads without any other sign); `what` starts the message."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{what}: the weight {name} holds NaN or infinite values; the weight file is damaged.")


def not_a_local_folder(name: str | os.PathLike, reason: BaseException | str) -> str:
    """The message for a model `name` that is no local folder and that the Hub could not provide either (a mistyped
    path of the form `dir/name` has the form of a Hub id, so transformers asks the Hub and reports only that)."""
    path = Path(name).expanduser()
    if path.exists():
        where = "it is a file, not a folder"
    elif path.is_absolute():
        where = "no such directory"
    else:
        where = f"no such directory relative to {Path.cwd()}"
    reason = " ".join(str(reason).split())
    return f"{name} is not a local folder ({where}) and the Hub could not provide it: {reason}"


def listed_weight_names(names) -> str:
    """`names` sorted and joined for an error message: the first `LISTED_WEIGHT_NAMES`, then "and N more"."""
    names = sorted(str(name) for name in names)
    more = f" and {len(names) - LISTED_WEIGHT_NAMES} more" if len(names) > LISTED_WEIGHT_NAMES else ""
    return ", ".join(names[:LISTED_WEIGHT_NAMES]) + more


def plain_file_mode() -> int:
    """The permission bits of a file that `open(path, "w")` creates: 0o666 without the process's umask."""
    try:  # Linux shows the umask without changing it
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _weight_file_versions(folder: str | os.PathLike) -> dict[Path, os.stat_result]:
    folder = Path(folder)
    return {path: path.stat() for path in folder.glob("*.safetensors")} if folder.is_dir() else {}


def _file_version(status: os.stat_result) -> tuple[int, int, int]:
    return status.st_ino, status.st_mtime_ns, status.st_size


def _give_written_weights_plain_permissions(before: dict[Path, os.stat_result], folder: str | os.PathLike) -> None:
    """The safetensors files of `folder` written since `before` (`_weight_file_versions`) get the mode a plain write
    would leave: a replaced file keeps its former mode, a new one gets `plain_file_mode()`. safetensors writes through
    a private temporary file (mode 0o600) renamed into place."""
    for path, now in _weight_file_versions(folder).items():
        old = before.get(path)
        if old is not None and _file_version(old) == _file_version(now):
            continue  # not written by this save
        mode = old.st_mode & PERMISSION_BITS if old is not None else plain_file_mode()
        if now.st_mode & PERMISSION_BITS != mode:
            os.chmod(path, mode)


# ---------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------


class BangPreTrainedModel(PreTrainedModel):
    config_class = BangConfig
    config: BangConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["BangEncoderLayer", "BangDecoderLayer"]
    _skip_keys_device_placement = ["cache"]
    _supports_sdpa = True
    _supports_flash_attn = False
    _supports_flex_attn = False
    # generate()'s own compilation needs a static cache; BANG's AR cache is dynamic (compile `forward` instead).
    _can_compile_fullgraph = False

    def __init__(self, config: BangConfig, *inputs, **kwargs):
        """transformers' model construction, refused with a ValueError (`BangConfig.check_special_token_ids`) when
        a special id of `config` lies outside its vocabulary: the embeddings' padding row and the decoder start
        need them inside."""
        try:
            config.check_special_token_ids()
        except ValueError as error:
            raise ValueError(f"{type(self).__name__} cannot be built from this config: {error}") from None
        super().__init__(config, *inputs, **kwargs)

    def resize_token_embeddings(
        self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None, mean_resizing: bool = True
    ) -> nn.Embedding:
        """transformers' `resize_token_embeddings`, refused with a ValueError before anything is resized when the new
        vocabulary would not hold a special id of the config (transformers would drop the padding row and leave
        `pad_token_id` pointing outside the embedding)."""
        if new_num_tokens is not None:
            size = new_num_tokens
            if isinstance(pad_to_multiple_of, int) and pad_to_multiple_of > 0:
                size = -(-new_num_tokens // pad_to_multiple_of) * pad_to_multiple_of  # transformers rounds up
            try:
                self.config.check_special_token_ids(vocab_size=size)
            except ValueError as error:
                raise ValueError(f"resize_token_embeddings({new_num_tokens}) is refused: {error}") from None
        return super().resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)

    def _init_weights(self, module: nn.Module) -> None:
        """BERT-style initialisation as the official `init_bert_params`: N(0, init_std), zero biases and padding."""
        super()._init_weights(module)
        if isinstance(module, BangDecoder):
            init.normal_(module.predict_input_embedding, mean=0.0, std=self.config.init_std)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike | None,
        *model_args,
        strict: bool = False,
        allow_missing_weights: bool = False,
        **kwargs,
    ):
        """transformers' `from_pretrained`, except that it does not return a partly random model unasked.

        Before loading, a local folder is checked (`check_checkpoint_files`): a folder without `config.json` (unless
        `config` is given), a `config.json` or `generation_config.json` that is not a JSON object, a `config.json` of
        another model type (unless `config` is given), and a truncated or garbage safetensors file are one
        ValueError naming the file; so is a file given instead of the folder (unless `config` is given). A name that
        is no local folder and that the Hub cannot provide is an OSError saying both (`not_a_local_folder`).

        After loading, weights of another shape than the config describes (an edited `config.json`) are a
        ValueError naming them and both shapes, unless `ignore_mismatched_sizes=True` asks to initialise them (then
        they are listed in the loading report, as in transformers); so are weights holding NaN or infinite values
        (`check_finite_weights`).

        After loading, weights the model needs that the checkpoint lacks (the shared embedding, a layer, ...) are a
        ValueError naming them, where transformers would initialise them randomly and only log a report. Weights
        tied to a loaded weight (the encoder's and decoder's `embed_tokens`, the tied `lm_head`: a base-model
        checkpoint loads into the head model) and the model's `_keys_to_ignore_on_load_missing` are not missing.
        transformers' behaviour (the missing weights newly initialised, listed in the loading report) stays for a
        deliberate partial load, with `allow_missing_weights=True`, and for a caller that asks for the loading
        report (`output_loading_info=True`), which receives the missing weights in `missing_keys` (transformers'
        contract; its common tests load checkpoints emptied on purpose this way), and for an empty `state_dict`
        without a checkpoint name (`from_pretrained(None, config=config, state_dict={})`), which asks for nothing to
        be loaded.

        Args:
            allow_missing_weights: load a checkpoint that lacks weights, initialising them (e.g. the encoder and
                decoder of a checkpoint into a model with an untied head to train).
            strict: this package's option for its deployment tools: missing weights (even with
                `output_loading_info=True`), unexpected weights and weights of another shape (even with
                `ignore_mismatched_sizes=True`) are all errors. Without it, transformers handles the last two: an
                unexpected weight is reported, a weight of another shape is transformers' error unless
                `ignore_mismatched_sizes=True` asks to initialise it (it is listed in `mismatched_keys`).
        """
        if strict and allow_missing_weights:
            raise ValueError("strict=True refuses missing weights, allow_missing_weights=True accepts them: pass one.")
        name = pretrained_model_name_or_path
        folder = None if name is None else Path(name, kwargs.get("subfolder") or "").expanduser()
        given_config = kwargs.get("config") is not None
        if folder is not None and folder.is_file() and not given_config:
            raise ValueError(
                f"The model {name} is a file; give the model's folder (the one holding {CONFIG_NAME}), or pass "
                "`config=` to load the weights of one file."
            )
        if folder is not None and folder.is_dir():
            saved_config = check_checkpoint_files(folder, "The model", needs_config=not given_config)
            model_type = None if given_config else saved_config.get("model_type")
            if model_type not in (None, cls.config_class.model_type):
                raise ValueError(
                    f"The model {name} holds a {model_type!r} model (its {CONFIG_NAME}), not a BANG model "
                    f"(model_type {cls.config_class.model_type!r}); load it with its own class or AutoModel."
                )
        wants_info = kwargs.pop("output_loading_info", False)
        ignore_mismatched_sizes = kwargs.pop("ignore_mismatched_sizes", False)
        try:
            # Weights of another shape are loaded as initialised, then refused below with their names and shapes
            # (transformers would raise a RuntimeError pointing at its log).
            model, info = super().from_pretrained(
                name, *model_args, output_loading_info=True, ignore_mismatched_sizes=True, **kwargs
            )
        except OSError as error:
            if name is None or Path(name).expanduser().is_dir():
                raise
            raise OSError(not_a_local_folder(name, error)) from error
        # `from_pretrained(None, config=..., state_dict={})` loads nothing by request: a newly initialised model.
        fresh = name is None and kwargs.get("state_dict") is not None and len(kwargs["state_dict"]) == 0
        missing = info["missing_keys"] if strict or not (allow_missing_weights or wants_info or fresh) else ()
        if missing and not strict:
            raise ValueError(
                f"The checkpoint {name} lacks weights that {cls.__name__} needs: {listed_weight_names(missing)}. "
                "Loaded, the model would be partly random: save or convert the checkpoint again, or pass "
                "allow_missing_weights=True for a deliberate partial load."
            )
        mismatched = info["mismatched_keys"]
        if mismatched and not (strict or ignore_mismatched_sizes):
            shapes = listed_weight_names(f"{key} ({tuple(saved)} in the checkpoint, {tuple(built)} in the model)"
                             for key, saved, built in mismatched)  # fmt: skip
            raise ValueError(
                f"The checkpoint {name} holds weights of another shape than its config describes: {shapes}. Was "
                f"{CONFIG_NAME} edited, or saved with other weights? Pass ignore_mismatched_sizes=True to initialise "
                "them instead (a deliberate change of shape)."
            )
        problems = [f"missing weights {listed_weight_names(missing)}"] if missing else []
        if strict and info["unexpected_keys"]:
            problems.append(f"unexpected weights {listed_weight_names(info['unexpected_keys'])}")
        if strict and mismatched:
            problems.append(f"weights of another shape {listed_weight_names(key for key, *_ in mismatched)}")
        if problems:
            raise ValueError(f"The checkpoint {name} does not match {cls.__name__}: {'; '.join(problems)}.")
        if name is not None:
            check_finite_weights(model, f"The checkpoint {name}")
        return (model, info) if wants_info else model

    def save_pretrained(self, save_directory: str | os.PathLike, *args, **kwargs):
        """transformers' `save_pretrained`; the weight files it writes get the mode a plain write would give them
        (`plain_file_mode()`, or the former mode of a replaced file), like `config.json`: safetensors writes them
        through a private temporary file, so that they would be 0o600 in a folder whose other files are readable."""
        before = _weight_file_versions(save_directory)
        saved = super().save_pretrained(save_directory, *args, **kwargs)
        _give_written_weights_plain_permissions(before, save_directory)
        return saved


class BangPositionalEmbedding(nn.Embedding):
    """Learned absolute positions; position 0 is padding, the first real token is position 1."""

    def __init__(self, num_positions: int, hidden_size: int):
        super().__init__(num_positions, hidden_size, padding_idx=0)


class BangEncoder(BangPreTrainedModel):
    """Transformer encoder (official `TransformerEncoder`): token + position embeddings, LayerNorm, layers."""

    def __init__(self, config: BangConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id)
        self.embed_positions = BangPositionalEmbedding(config.max_position_embeddings + 1, config.hidden_size)
        self.embed_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList([BangEncoderLayer(config) for _ in range(config.encoder_layers)])
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embed_tokens = value

    def _check_inputs(self, input_ids: torch.Tensor | None, attention_mask: torch.Tensor, length: int) -> None:
        """The source checks: length within the position table (a shape check), token ids inside the vocabulary and
        no row of padding only (eager mode only, see `is_traced`)."""
        _require(length > 0, "The encoder input is empty (sequence length 0).")
        _require(
            length <= self.config.max_position_embeddings,
            f"The source has {length} tokens, more than `max_position_embeddings` "
            f"({self.config.max_position_embeddings}); truncate it explicitly when tokenizing.",
        )
        if is_traced():
            return
        if input_ids is not None:
            _check_token_ids(input_ids, self.config.vocab_size, "Source")
        empty_rows = (attention_mask.sum(-1) == 0).nonzero().flatten().tolist()
        if empty_rows:
            raise ValueError(f"Encoder input rows {empty_rows} contain no real token (all padding).")

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs,
    ) -> BaseModelOutput:
        """
        Args:
            input_ids / inputs_embeds: (batch, S) source ids or (batch, S, hidden) embeddings, exactly one of them.
            attention_mask: (batch, S), 1 for real tokens; default: the ids that are not `pad_token_id`.
            output_hidden_states / output_attentions: also return every layer's input and output states /
                self-attention weights (default: the config's).
        Returns:
            `BaseModelOutput` (a tuple with `return_dict=False`).
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of `input_ids` and `inputs_embeds` to the encoder.")
        output_hidden_states = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        batch, length = (input_ids if input_ids is not None else inputs_embeds).shape[:2]
        device = (input_ids if input_ids is not None else inputs_embeds).device
        if attention_mask is None:
            attention_mask = (
                input_ids.ne(self.config.pad_token_id).long()
                if input_ids is not None
                else torch.ones(batch, length, dtype=torch.long, device=device)
            )
        self._check_inputs(input_ids, attention_mask, length)
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        # As fairseq's make_positions: real tokens are numbered 1, 2, ... whatever the padding side; padding is 0.
        attention_mask = attention_mask.long()
        positions = attention_mask.cumsum(-1) * attention_mask
        hidden_states = self.embed_layer_norm(inputs_embeds + self.embed_positions(positions))
        hidden_states = nn.functional.dropout(hidden_states, p=self.config.dropout, training=self.training)
        hidden_states = hidden_states * attention_mask[..., None].to(hidden_states.dtype)

        bias = _padding_bias(attention_mask, hidden_states.dtype)
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layers:
            hidden_states, weights = layer(hidden_states, bias, output_attentions=bool(output_attentions))
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        return BaseModelOutput(
            last_hidden_state=hidden_states, hidden_states=all_hidden_states, attentions=all_attentions
        )


class BangDecoder(BangPreTrainedModel):
    """The multi-stream decoder (official `NgramTransformerDecoder`); see the module docstring for the three flows.

    `forward` builds the stream embeddings (`embed_streams`), the positions (`_positions`), the relative buckets and
    the visibility of each flow (`attention_masks`), then runs the layers; it always returns every stream, and
    [`BangModel`] picks the fields its caller asked for.
    """

    def __init__(self, config: BangConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id)
        # Row p + 1 is read by the predicting stream at main position p, hence two rows beyond the maximum length.
        self.embed_positions = BangPositionalEmbedding(config.max_position_embeddings + 2, config.hidden_size)
        # The learned mask vector of the predicting streams (official `ngram_input_embed`), not the [MASK] token.
        self.predict_input_embedding = nn.Parameter(torch.zeros(config.hidden_size))
        self.embed_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList([BangDecoderLayer(config, i) for i in range(config.decoder_layers)])
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embed_tokens = value

    def _check_arguments(
        self,
        mode: str,
        cache: EncoderDecoderCache | None,
        num_proposals: int | None,
        proposal_anchors: str,
        canvas_length: int | None,
        input_ids: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None,
    ) -> None:
        """Checks of the call's Python arguments (no tensor values are read)."""
        if mode not in DECODER_MODES:
            raise ValueError(f"Unknown decoder mode {mode!r}; choose one of {DECODER_MODES}.")
        if cache is not None and mode != "ar":
            raise ValueError(f"A key/value cache is only supported in `ar` mode, not {mode!r}.")
        if num_proposals is not None and (mode != "ar" or num_proposals < 1):
            raise ValueError(
                f"`num_proposals` needs `ar` mode and a positive count, got {num_proposals!r} in {mode!r}."
            )
        if proposal_anchors not in PROPOSAL_ANCHORS:
            raise ValueError(f"`proposal_anchors` must be one of {PROPOSAL_ANCHORS}, got {proposal_anchors!r}.")
        if mode == "nar":
            if canvas_length is None or canvas_length < 1:
                raise ValueError(f"NAR mode needs a positive `canvas_length`, got {canvas_length!r}.")
        elif (input_ids is None) == (inputs_embeds is None):
            raise ValueError(
                f"Mode {mode!r} needs exactly one of `decoder_input_ids` and `decoder_inputs_embeds` "
                "(or `labels`, from which the decoder input is built)."
            )

    def _positions(
        self,
        position_ids: torch.Tensor | None,
        past_length: int,
        length: int,
        device: torch.device,
        extra_stream_positions: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Key positions (B|1, T_past + T) and query positions (B|1, T) of the main stream (default: the slot
        index + 1, i.e. 1..T_past + T).

        Custom `position_ids` are (B, T) without a cache, or (B, T_past + T) with one: the positions of every main key,
        the cached ones first (the query positions are the last T). `extra_stream_positions` is how far beyond the
        last query position the predicting streams reach (a semi-NAR block's extra proposals)."""
        if position_ids is None:
            key_positions = torch.arange(1, past_length + length + 1, device=device)[None]
            return key_positions, key_positions[:, past_length:]
        _require(
            position_ids.shape[-1] == past_length + length,
            f"`decoder_position_ids` has length {position_ids.shape[-1]}, expected {past_length + length} "
            f"({past_length} cached and {length} new main positions).",
        )
        if not is_traced():
            low, high = int(position_ids.min()), int(position_ids.max())
            limit = self.config.max_position_embeddings - extra_stream_positions
            if high > limit or low < 1:
                raise ValueError(f"`decoder_position_ids` must lie in [1, {limit}], got [{low}, {high}].")
        return position_ids, position_ids[:, past_length:]

    def embed_streams(
        self,
        main_embeds: torch.Tensor | None,
        query_positions: torch.Tensor,
        stream_positions: torch.Tensor,
        batch: int,
    ) -> torch.Tensor:
        """The decoder input: main stream = token + position p, predicting streams = mask vector + position p + 1.

        Returns (batch, T_main + num_streams * T, hidden) after the embedding LayerNorm and dropout (the main stream
        first; none in NAR mode).
        """
        predict_states = self.predict_input_embedding + self.embed_positions(stream_positions + 1)
        predict_states = predict_states.expand(batch, stream_positions.shape[1], -1)  # (B, S*T, D)
        if main_embeds is not None:
            hidden_states = torch.cat([main_embeds + self.embed_positions(query_positions), predict_states], dim=1)
        else:
            hidden_states = predict_states
        hidden_states = self.embed_layer_norm(hidden_states)
        return nn.functional.dropout(hidden_states, p=self.config.dropout, training=self.training)

    def attention_masks(
        self,
        mode: str,
        key_positions: torch.Tensor,
        query_positions: torch.Tensor,
        stream_positions: torch.Tensor,
        past_length: int,
        num_streams: int,
        num_proposals: int | None,
        attention_mask: torch.Tensor | None,
        proposal_anchors: str = "last",
    ) -> StreamMasks:
        """Relative buckets (key position minus query position) and visibility of every query, for the flow `mode`.

        * `nar`: the masks see each other causally (no main stream).
        * main stream (`ar`, `ngram`): causal over the cached and the new main positions (in cache-slot order).
        * predicting streams: the `ngram` rule of the module docstring (`build_ngram_visibility`; `ar` mode is its
          one-stream case); an incremental AR step's new query sees the main stream up to its position and itself;
          a semi-NAR block (`num_proposals`) sees every main position and the lower streams of the block; with
          `proposal_anchors="every"`, the block of new main position i (queries `s * T + i`) sees the main slots up
          to i's and the lower streams of its own block.
        Padding of the main stream (`attention_mask`: padding, or cache slots of rejected proposals) hides those keys
        from every query.
        """
        num_buckets, max_distance = self.config.num_buckets, self.config.relative_max_distance
        device, length = query_positions.device, query_positions.shape[1]
        if mode == "nar":
            predict_buckets = compute_relative_buckets(
                query_positions[:, None, :] - query_positions[:, :, None], num_buckets, max_distance
            )
            causal = torch.ones(length, length, dtype=torch.bool, device=device).tril()[None]
            return StreamMasks(None, None, predict_buckets, causal)

        main_buckets = compute_relative_buckets(
            key_positions[:, None, :] - query_positions[:, :, None], num_buckets, max_distance
        )
        num_keys = past_length + length
        query_index = torch.arange(past_length, num_keys, device=device)
        main_visible = (torch.arange(num_keys, device=device)[None, :] <= query_index[:, None])[None]
        predict_key_positions = torch.cat([key_positions - 1, stream_positions], dim=1)
        predict_buckets = compute_relative_buckets(
            predict_key_positions[:, None, :] - stream_positions[:, :, None], num_buckets, max_distance
        )
        if num_proposals is not None and proposal_anchors == "every":
            anchor = torch.arange(length, device=device).repeat(num_proposals)  # (S*T,) main query of the block
            stream = torch.arange(num_proposals, device=device).repeat_interleave(length)  # (S*T,)
            sees_main = torch.arange(num_keys, device=device)[None, :] <= past_length + anchor[:, None]
            chain = (anchor[:, None] == anchor[None, :]) & (stream[None, :] <= stream[:, None])
            predict_visible = torch.cat([sees_main, chain], dim=-1)[None]
        elif num_proposals is not None:
            sees_main = torch.ones(num_proposals, num_keys, dtype=torch.bool, device=device)
            chain = torch.ones(num_proposals, num_proposals, dtype=torch.bool, device=device).tril()
            predict_visible = torch.cat([sees_main, chain], dim=-1)[None]
        elif past_length:
            own = torch.eye(length, dtype=torch.bool, device=device)[None]
            predict_visible = torch.cat([main_visible, own], dim=-1)
        else:
            predict_visible = build_ngram_visibility(length, num_streams, device)[None]
        if attention_mask is not None:
            real_keys = attention_mask[:, None, :].bool()  # (B, 1, T_past + T)
            main_visible = main_visible & real_keys
            predict_visible = torch.cat(
                [
                    predict_visible[..., :num_keys] & real_keys,
                    predict_visible[..., num_keys:].expand(real_keys.shape[0], -1, -1),
                ],
                dim=-1,
            )
        return StreamMasks(main_buckets, main_visible, predict_buckets, predict_visible)

    @deprecate_kwarg("past_key_values", "6.0.0", new_name="cache")
    def forward(
        self,
        mode: str,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None = None,
        input_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        canvas_length: int | None = None,
        cache: EncoderDecoderCache | None = None,
        use_cache: bool = False,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        num_proposals: int | None = None,
        proposal_anchors: str = "last",
        return_main_stream: bool = True,
        **kwargs,
    ) -> BangDecoderOutput:
        """
        Args:
            mode: `"ar"`, `"nar"` or `"ngram"`.
            encoder_hidden_states: (batch, S, hidden).
            encoder_attention_mask: (batch, S), 1 for real tokens.
            input_ids / inputs_embeds: main-stream input (batch, T) for `ar` and `ngram`; unused by `nar`.
            attention_mask: (batch, T_past + T) main-stream padding mask, 1 for real tokens (optional); a 0 hides
                that main key (a padding slot of the cache included) from every query.
            position_ids: (batch, T) real positions of the targets (pretraining spans); default 1..T. With a cache,
                (batch, T_past + T): the positions of every main key, cached ones first (rows whose cache holds
                padding slots, as in `generate(semi_nar_acceptance="verify")`); default: the slot index + 1.
            canvas_length: number of mask positions in `nar` mode.
            cache: main-stream and cross-attention cache (`ar` mode only).
            output_hidden_states / output_attentions: record every layer's states / attention weights of every
                stream (a main-stream state is then the very tensor the next layer reads, so gradients reach it).
            num_proposals: semi-NAR block step (`ar` mode, used by `generate(decoding_mode="semi_nar")`): instead of
                one predicting query per main position, `num_proposals` streams propose the next tokens after the
                last main token n: stream s sits at position n + s, sees every main position <= n and streams
                0..s-1 on its diagonal (the `ngram` visibility rule at t = n + s), so it predicts y_{n+s+1} with
                the s tokens before it hidden. `predict_hidden_state` is then (batch, num_proposals, 1, hidden).
            proposal_anchors: `"last"` (default): the `num_proposals` block sits after the last main token, as above.
                `"every"` (used by `generate(semi_nar_acceptance="verify")`): every new main position i of the call
                anchors a block of its own: stream s of block i sits at position p_i + s, sees the main positions up
                to p_i (cached ones included) and streams 0..s-1 of block i, so stream 0 of block i is exactly the
                AR prediction of the token after main position i and streams s >= 1 propose the following ones.
                `predict_hidden_state` is then (batch, num_proposals, T, hidden), [:, s, i] for stream s of block i.
            return_main_stream: False skips the main stream's part of the last layer, whose output only
                `last_hidden_state` reads (the predicting streams read the main stream's keys and values, which come
                from each layer's input): `last_hidden_state` is then None. Ignored with `output_hidden_states` or
                `output_attentions`, which report the main stream of every layer.
        """
        self._check_arguments(mode, cache, num_proposals, proposal_anchors, canvas_length, input_ids, inputs_embeds)
        batch, device = encoder_hidden_states.shape[0], encoder_hidden_states.device
        past_length = cache.get_seq_length() if cache is not None else 0
        if use_cache and cache is None and mode == "ar":
            cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        if mode == "nar":
            main_embeds, length, num_streams = None, canvas_length, 1
        else:
            main_embeds = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
            length = main_embeds.shape[1]
            num_streams = 1 if mode == "ar" else self.config.ngram
            _require(length > 0, "The decoder input is empty (length 0).")
        # Positions read by the predicting streams go up to past + T (+ the block's extra proposals), each reading
        # its position + 1 in the table.
        extra = num_proposals - 1 if num_proposals else 0
        if position_ids is None or not past_length:  # custom positions with a cache: checked by value in `_positions`
            reach = past_length + length + extra
            _require(
                reach <= self.config.max_position_embeddings,
                f"The decoder would run over {reach} target positions, more than `max_position_embeddings` "
                f"({self.config.max_position_embeddings}).",
            )
        key_positions, query_positions = self._positions(position_ids, past_length, length, device, extra)
        if num_proposals is not None and proposal_anchors == "every":  # block i: stream s at position p_i + s
            offsets = torch.arange(num_proposals, device=device)[None, :, None]
            stream_positions = (query_positions[:, None, :] + offsets).flatten(1)  # (B|1, S*T), stream-major
            num_streams, stream_length = num_proposals, length
        elif num_proposals is not None:  # semi-NAR block: stream s at position n + s after the last main token n
            stream_positions = query_positions[:, -1:] + torch.arange(num_proposals, device=device)[None]
            num_streams, stream_length = num_proposals, 1
        else:
            stream_positions = query_positions.repeat(1, num_streams)  # (B|1, S*T)
            stream_length = length
        hidden_states = self.embed_streams(main_embeds, query_positions, stream_positions, batch)
        masks = self.attention_masks(
            mode, key_positions, query_positions, stream_positions, past_length, num_streams, num_proposals,
            attention_mask, proposal_anchors,
        )  # fmt: skip
        encoder_bias = (
            _padding_bias(encoder_attention_mask, hidden_states.dtype) if encoder_attention_mask is not None else None
        )

        num_main = 0 if mode == "nar" else length
        record_states, record_attentions = bool(output_hidden_states), bool(output_attentions)
        full_last_layer = return_main_stream or record_states or record_attentions
        states = {"main": [], "predict": []} if record_states else None
        weights = {name: [] for name in ("main", "predict", "cross", "predict_cross")} if record_attentions else None
        for index, layer in enumerate(self.layers):
            if record_states:
                hidden_states = self._record_streams(hidden_states, num_main, num_streams, stream_length, states)
            hidden_states, layer_weights = layer(
                hidden_states,
                encoder_hidden_states,
                encoder_bias,
                num_main,
                masks,
                cache=cache,
                main_output=full_last_layer or index < len(self.layers) - 1,
                output_attentions=record_attentions,
            )
            if record_attentions:
                for name, value in zip(weights, layer_weights, strict=True):
                    weights[name].append(value)
        if not full_last_layer:
            num_main = 0
        main_states = hidden_states[:, :num_main] if num_main else None
        predict_hidden_state = hidden_states[:, num_main:].unflatten(1, (num_streams, stream_length))
        if record_states:
            states["main"].append(main_states)
            states["predict"].append(predict_hidden_state)

        def recorded(values):
            return tuple(values) if values and values[0] is not None else None

        return BangDecoderOutput(
            last_hidden_state=main_states,
            predict_hidden_state=predict_hidden_state,
            cache=cache,
            hidden_states=recorded(states["main"]) if record_states else None,
            predict_hidden_states=recorded(states["predict"]) if record_states else None,
            attentions=recorded(weights["main"]) if record_attentions else None,
            predict_attentions=recorded(weights["predict"]) if record_attentions else None,
            cross_attentions=recorded(weights["cross"]) if record_attentions else None,
            predict_cross_attentions=recorded(weights["predict_cross"]) if record_attentions else None,
        )

    @staticmethod
    def _record_streams(
        hidden_states: torch.Tensor, num_main: int, num_streams: int, stream_length: int, states: dict
    ) -> torch.Tensor:
        """Appends a layer input's main-stream (B, T, D) and predicting-stream (B, S, T, D) states to `states` and
        returns the layer input rebuilt from exactly those tensors, so that gradients flow through the recorded ones
        (`retain_grad` on them works as on any transformers hidden state)."""
        predict = hidden_states[:, num_main:].unflatten(1, (num_streams, stream_length))
        states["predict"].append(predict)
        if not num_main:
            states["main"].append(None)
            return predict.flatten(1, 2)
        main = hidden_states[:, :num_main]
        states["main"].append(main)
        return torch.cat([main, predict.flatten(1, 2)], dim=1)


class BangModel(BangPreTrainedModel):
    """The bare BANG encoder-decoder returning hidden states.

    The encoder's and the decoder's input embeddings are one matrix, `shared` (tied by transformers' parameter tying,
    so that loading reports a checkpoint without it as missing); see the module docstring for the output fields.
    """

    _tied_weights_keys = {
        "encoder.embed_tokens.weight": "shared.weight",
        "decoder.embed_tokens.weight": "shared.weight",
    }

    def __init__(self, config: BangConfig):
        super().__init__(config)
        self.shared = nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id)
        self.encoder = BangEncoder(config)
        self.decoder = BangDecoder(config)
        self.post_init()

    def get_expanded_tied_weights_keys(self, all_submodels: bool = False) -> dict:
        """transformers' tied weights, with the encoder and decoder input embeddings always tied to `shared`.

        `tie_word_embeddings=False` only unties the output projection of [`BangForConditionalGeneration`]: one input
        embedding for the encoder and the decoder is BANG's architecture (this package's reading of that option).
        """
        tied = super().get_expanded_tied_weights_keys(all_submodels=all_submodels)
        if not all_submodels:
            tied = {**dict(self._tied_weights_keys), **tied}
        return tied

    def get_input_embeddings(self) -> nn.Embedding:
        return self.shared

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.shared = value
        self.encoder.embed_tokens = value
        self.decoder.embed_tokens = value

    def resolve_mode(self, mode: str | None) -> str:
        mode = self.config.default_mode if mode is None else mode
        if mode not in DECODER_MODES:
            raise ValueError(f"Unknown decoder mode {mode!r}; choose one of {DECODER_MODES}.")
        return mode

    def encode_and_decode(
        self,
        mode: str,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        decoder_position_ids: torch.LongTensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        canvas_length: int | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        encoder_sample_index: torch.LongTensor | None = None,
        return_main_stream: bool = True,
    ) -> tuple[BaseModelOutput, BangDecoderOutput]:
        """Runs the encoder (unless `encoder_outputs` are given) and the decoder; returns both raw outputs, every
        stream included ([`BangModel.forward`] and [`BangForConditionalGeneration.forward`] pick their fields)."""
        if encoder_outputs is None:
            if attention_mask is None and input_ids is not None:
                attention_mask = input_ids.ne(self.config.pad_token_id).long()
            encoder_outputs = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                inputs_embeds=inputs_embeds,
                output_hidden_states=output_hidden_states,
                output_attentions=output_attentions,
                return_dict=True,
            )
        elif not isinstance(encoder_outputs, BaseModelOutput):
            encoder_outputs = BaseModelOutput(
                last_hidden_state=encoder_outputs[0],
                hidden_states=encoder_outputs[1] if len(encoder_outputs) > 1 else None,
                attentions=encoder_outputs[2] if len(encoder_outputs) > 2 else None,
            )
        use_cache = (use_cache if use_cache is not None else self.config.use_cache) and mode == "ar"
        encoder_states, encoder_mask = encoder_outputs.last_hidden_state, attention_mask
        if encoder_sample_index is not None:
            if not is_traced() and (
                encoder_sample_index.dim() != 1
                or not bool(((encoder_sample_index >= 0) & (encoder_sample_index < encoder_states.shape[0])).all())
            ):
                raise ValueError(
                    f"`encoder_sample_index` must be 1-D with values in [0, {encoder_states.shape[0]}), got "
                    f"{encoder_sample_index.tolist()}."
                )
            encoder_states = encoder_states.index_select(0, encoder_sample_index)
            if encoder_mask is not None:
                encoder_mask = encoder_mask.index_select(0, encoder_sample_index)
        decoder_outputs = self.decoder(
            mode,
            encoder_states,
            encoder_attention_mask=encoder_mask,
            input_ids=decoder_input_ids,
            inputs_embeds=decoder_inputs_embeds,
            attention_mask=decoder_attention_mask,
            position_ids=decoder_position_ids,
            canvas_length=canvas_length,
            cache=cache,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
            return_main_stream=return_main_stream,
        )
        return encoder_outputs, decoder_outputs

    @can_return_tuple
    @deprecate_kwarg("past_key_values", "6.0.0", new_name="cache")
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        decoder_position_ids: torch.LongTensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        mode: str | None = None,
        canvas_length: int | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        output_predict_streams: bool | None = None,
        encoder_sample_index: torch.LongTensor | None = None,
        return_main_stream: bool = True,
        **kwargs,
    ) -> BangSeq2SeqModelOutput:
        """
        Args:
            input_ids: (batch, S) source ids, ending with `[SEP]` as the official data.
            attention_mask: (batch, S), 1 for real tokens; derived from `pad_token_id` when omitted.
            decoder_input_ids: (batch, T) main-stream input `[SEP] y1 .. y_{T-1}` (`ar`, `ngram`).
            decoder_position_ids: (batch, T) real target positions (pretraining); default 1..T.
            mode: `"ar"`, `"nar"` or `"ngram"`; defaults to `config.default_mode`.
            canvas_length: number of NAR mask positions (`nar` mode).
            output_hidden_states / output_attentions: per-layer states / attention weights (default: the
                config's); the main stream's in the standard fields.
            output_predict_streams: also return the predicting streams (`predict_hidden_state`, and their per-layer
                fields with `output_hidden_states` / `output_attentions`). Default: only in `nar` mode, which has no
                main stream.
            encoder_sample_index: (batch_decoder,) for each decoder row, the source row whose encoder output it reads:
                several targets of one source (gold and distilled references) then share one encoder pass.
            return_main_stream: False leaves `last_hidden_state` None and skips the main stream's part of the last
                decoder layer, which nothing else reads (see [`BangDecoder`]).
        Returns:
            `BangSeq2SeqModelOutput`, or its tuple of non-None fields with `return_dict=False`.
        """
        mode = self.resolve_mode(mode)
        output_hidden_states = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        streams = mode == "nar" if output_predict_streams is None else output_predict_streams
        encoder_outputs, decoder_outputs = self.encode_and_decode(
            mode,
            input_ids=input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            decoder_position_ids=decoder_position_ids,
            encoder_outputs=encoder_outputs,
            cache=cache,
            inputs_embeds=inputs_embeds,
            decoder_inputs_embeds=decoder_inputs_embeds,
            canvas_length=canvas_length,
            use_cache=use_cache,
            output_hidden_states=bool(output_hidden_states),
            output_attentions=bool(output_attentions),
            encoder_sample_index=encoder_sample_index,
            return_main_stream=return_main_stream,
        )
        return BangSeq2SeqModelOutput(
            last_hidden_state=decoder_outputs.last_hidden_state,
            cache=decoder_outputs.cache,
            decoder_hidden_states=decoder_outputs.hidden_states,
            decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states,
            encoder_attentions=encoder_outputs.attentions,
            predict_hidden_state=decoder_outputs.predict_hidden_state if streams else None,
            decoder_predict_hidden_states=decoder_outputs.predict_hidden_states if streams else None,
            decoder_predict_attentions=decoder_outputs.predict_attentions if streams else None,
            predict_cross_attentions=decoder_outputs.predict_cross_attentions if streams else None,
        )


class BangForConditionalGeneration(BangPreTrainedModel, GenerationMixin):
    """BANG with the language-model head tied to the shared embedding (official `output_layer`).

    The head projects the predicting streams (the AR stream, the NAR masks or the n streams) to `logits`. With
    `config.tie_word_embeddings=False` it has a matrix of its own.
    """

    _tied_weights_keys = {"lm_head.weight": "model.shared.weight"}

    def __init__(self, config: BangConfig):
        super().__init__(config)
        self.model = BangModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()
        if self.generation_config is not None:
            BangGenerationOptions.resolve(self.generation_config, {}).write_to(self.generation_config)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.shared

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    def get_encoder(self, modality=None) -> BangEncoder:
        return self.model.encoder

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        if not is_traced():
            self.config.check_special_token_ids()
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    @can_return_tuple
    @deprecate_kwarg("past_key_values", "6.0.0", new_name="cache")
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        decoder_position_ids: torch.LongTensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        target_span_index: torch.LongTensor | None = None,
        mode: str | None = None,
        canvas_length: int | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        output_predict_streams: bool | None = None,
        return_token_log_probs: bool = False,
        num_items_in_batch: int | torch.Tensor | None = None,
        encoder_sample_index: torch.LongTensor | None = None,
        **kwargs,
    ) -> BangSeq2SeqLMOutput:
        """
        Args:
            labels: (batch, T) targets `y1 .. yT [SEP]`, -100 where no loss is taken. In `ar`/`ngram` mode they
                also give `decoder_input_ids` (shifted right) when those are not passed; in `nar` mode they give the
                canvas length. The loss is the cross-entropy, label-smoothed by `config.label_smoothing` (0 unless
                set). A row of labels with no target token (all -100) is a ValueError, in every mode, unless
                `target_span_index` is given (a pretraining batch whose chunks were too short to mask has loss 0).
            target_span_index: (batch, T) index of each target inside its span (pretraining); stream s is trained
                on the positions whose index is at least s. Default: the position index 0..T-1, so stream s learns
                position t >= s of a fine-tuning target.
            mode: `"ar"`, `"nar"` or `"ngram"`; defaults to `config.default_mode`.
            canvas_length: NAR canvas length when neither labels nor decoder_input_ids give it. In `nar` mode,
                `decoder_input_ids` only set the canvas length, as the official `prev_output_tokens` do.
            output_hidden_states / output_attentions / output_predict_streams: as in [`BangModel.forward`].
            return_token_log_probs: also return the log-probability of every label token.
            num_items_in_batch: divide the summed loss by this count (the Trainer passes it for gradient
                accumulation); default: the number of counted target tokens in this batch.
            encoder_sample_index: (batch_decoder,) source row read by each decoder row (labels, decoder inputs and
                outputs then have `batch_decoder` rows): scores several targets per source with one encoder pass.
        Returns:
            `BangSeq2SeqLMOutput`, or its tuple of non-None fields with `return_dict=False`.
        """
        mode = self.model.resolve_mode(mode)
        output_hidden_states = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        streams = mode == "nar" if output_predict_streams is None else output_predict_streams
        source = input_ids if input_ids is not None else inputs_embeds
        if source is None and encoder_outputs is not None:
            source = encoder_outputs[0]
        rows = None if source is None else source.shape[0]
        _check_batch(input_ids, attention_mask, labels, rows, encoder_sample_index, target_span_index is not None)
        if labels is not None:
            _check_token_ids(labels, self.config.vocab_size, "Label", ignore_index=-100)
        if mode == "nar":
            lengths = {x.shape[1] for x in (labels, decoder_input_ids, decoder_inputs_embeds) if x is not None}
            if len(lengths) > 1:
                raise ValueError(f"NAR canvas lengths disagree between labels and decoder inputs: {sorted(lengths)}.")
            if lengths:
                if canvas_length is not None and canvas_length not in lengths:
                    raise ValueError(f"`canvas_length` {canvas_length} disagrees with the target length {lengths}.")
                canvas_length = lengths.pop()
            decoder_input_ids = decoder_inputs_embeds = None
        elif labels is not None and decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        if labels is not None:
            use_cache = False

        encoder_outputs, outputs = self.model.encode_and_decode(
            mode,
            input_ids=input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            decoder_position_ids=decoder_position_ids,
            encoder_outputs=encoder_outputs,
            cache=cache,
            inputs_embeds=inputs_embeds,
            decoder_inputs_embeds=decoder_inputs_embeds,
            canvas_length=canvas_length,
            use_cache=use_cache,
            output_hidden_states=bool(output_hidden_states),
            output_attentions=bool(output_attentions),
            encoder_sample_index=encoder_sample_index,
            return_main_stream=False,  # only the predicting streams are projected to logits
        )
        if mode == "ngram":
            predict_logits = self.lm_head(outputs.predict_hidden_state)  # (B, S, T, V)
            logits = predict_logits[:, 0]
        else:  # one stream: a view, so that the loss's backward pass does not copy through a select
            logits = self.lm_head(outputs.predict_hidden_state.squeeze(1))  # (B, T, V)
            predict_logits = logits[:, None]

        loss = per_sample_loss = stream_losses = token_log_probs = None
        if labels is not None:
            if mode == "ngram":
                stream_labels = build_stream_labels(labels, target_span_index, predict_logits.shape[1])  # (B, S, T)
                token_loss, target_log_probs, counted = label_smoothed_token_loss(
                    predict_logits, stream_labels, self.config.label_smoothing
                )
                stream_losses = token_loss.sum((0, 2)) / counted.sum((0, 2)).clamp(min=1)
                token_loss, counted = token_loss.flatten(1), counted.flatten(1)
            else:
                token_loss, target_log_probs, counted = label_smoothed_token_loss(
                    logits, labels, self.config.label_smoothing
                )
            per_sample_loss = token_loss.sum(-1) / counted.sum(-1).clamp(min=1)
            denominator = num_items_in_batch if num_items_in_batch is not None else counted.sum().clamp(min=1)
            loss = token_loss.sum() / denominator
            if return_token_log_probs:
                token_log_probs = target_log_probs

        return BangSeq2SeqLMOutput(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            decoder_hidden_states=outputs.hidden_states,
            decoder_attentions=outputs.attentions,
            cross_attentions=outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states,
            encoder_attentions=encoder_outputs.attentions,
            per_sample_loss=per_sample_loss,
            stream_losses=stream_losses,
            predict_logits=predict_logits if mode == "ngram" else None,
            token_log_probs=token_log_probs,
            decoder_predict_hidden_states=outputs.predict_hidden_states if streams else None,
            decoder_predict_attentions=outputs.predict_attentions if streams else None,
            predict_cross_attentions=outputs.predict_cross_attentions if streams else None,
        )

    def nar_logits(
        self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None, canvas_length: int = 1
    ) -> torch.Tensor:
        """The NAR decoding pass: one encoder pass and one decoder pass over `canvas_length` masks, (B, L, V) scores.

        Tensors in, a tensor out, and no data-dependent branch once traced: `torch.compile(model.nar_logits,
        fullgraph=True)` and `torch.export` take it whole (see `nar_decode`).
        """
        if attention_mask is None:
            attention_mask = input_ids.ne(self.config.pad_token_id).long()
        _, outputs = self.model.encode_and_decode(
            "nar", input_ids=input_ids, attention_mask=attention_mask, canvas_length=canvas_length, use_cache=False
        )
        return self.lm_head(outputs.predict_hidden_state.squeeze(1))

    def nar_decode(
        self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None, canvas_length: int = 1
    ) -> torch.LongTensor:
        """The NAR decoder for deployment: encoder, one decoder pass, argmax; returns the (B, L) canvas of token ids.

        This is what `generate(decoding_mode="nar")` computes before the official post-processing (cut at the first
        `[SEP]`, drop `[CLS]`, collapse repeats: `generation_bang.nar_canvas_to_sequences`), as one graph without
        graph breaks (`torch.compile(model.nar_decode, fullgraph=True)`), which `bang_spmd.deploy` exports to ONNX.
        """
        return self.nar_logits(input_ids, attention_mask, canvas_length).argmax(-1)

    # -----------------------------------------------------------------------------------------------------------
    # Generation
    # -----------------------------------------------------------------------------------------------------------

    # Keyword arguments a batch may carry that decoding does not use (Seq2SeqTrainer passes the whole batch).
    _generation_model_inputs = ("input_ids", "attention_mask", "inputs_embeds", "encoder_outputs")
    # The generation settings NAR and semi-NAR decoding read; any other one passed explicitly is refused there.
    _non_ar_settings = (
        "max_new_tokens",
        "max_length",
        "min_new_tokens",
        "min_length",
        "decoder_start_token_id",
        "pad_token_id",
        "eos_token_id",
        "return_dict_in_generate",
        "output_scores",
        "output_logits",
        "use_cache",
    )
    _ar_only_arguments = (
        "logits_processor",
        "stopping_criteria",
        "prefix_allowed_tokens_fn",
        "assistant_model",
        "streamer",
        "negative_prompt_ids",
        "negative_prompt_attention_mask",
    )

    @torch.no_grad()
    def generate(
        self,
        inputs: torch.Tensor | None = None,
        generation_config: GenerationConfig | None = None,
        **kwargs,
    ) -> GenerateEncoderDecoderOutput | torch.LongTensor:
        """Generates with BANG's AR, NAR or semi-NAR flow (paper section 3), chosen by `decoding_mode`.

        `decoding_mode`, `nar_canvas`, `nar_collapse_repeats`, `semi_nar_block_size` and `semi_nar_acceptance` are
        keyword arguments here or custom fields of the generation config (see `generation_bang.py`).

        * `"ar"`: the standard transformers `generate` (greedy, beam search, sampling, logits processors, stopping
          criteria, streamer, ...), with the main stream's key/value cache.
        * `"nar"`: one encoder pass and one decoder pass over a canvas of masks, argmax at every position, then the
          official post-processing (cut at the first `[SEP]`, drop `[CLS]`, collapse repeats). The canvas has
          `max_new_tokens` positions (default; `max_length - 1` when only `max_length` is set) or, with
          `nar_canvas="source_length"`, the padded source length (the official generator). With
          `return_dict_in_generate=True` and `output_scores` / `output_logits`, `scores` / `logits` hold one
          (batch, vocab) tensor per canvas position (before post-processing).
        * `"semi_nar"`: blockwise decoding, `semi_nar_block_size` tokens per decoder pass, at most `config.ngram`
          (the streams trained to propose; `generation_bang.check_semi_nar_block_size`) (this package's design,
          see `generation_bang.py`); honours `max_new_tokens` / `max_length` and `min_new_tokens` / `min_length`.
          With `semi_nar_acceptance="verify"` it is lossless: the output is greedy AR decoding's, 1 to
          `semi_nar_block_size` tokens per decoder pass (see `_generate_semi_nar_verify`); its dict output
          (`BangGenerateOutput`) also counts the decoder passes and tokens per pass of each row.

        NAR and semi-NAR are greedy by construction: they refuse sampling, beam search and the AR-only arguments
        (logits processors, stopping criteria, streamer, ...) instead of ignoring them; the generation config's own
        beam settings are AR settings and do not apply to them. Tensors of the batch that decoding does not use
        (`labels`, `decoder_input_ids` in NAR/semi-NAR, pretraining columns, ...) are dropped, so that
        `Seq2SeqTrainer(predict_with_generate=True)` can pass its batches as they are. In every mode, a source row
        whose tokens are all `[PAD]`, `[CLS]` or `[SEP]` / eos (an empty or whitespace-only text) is a ValueError
        naming the row (`_check_source_text`).
        """
        if kwargs.get("custom_generate") is not None:
            # A decoding method loaded from a Hub repo or folder (transformers' `custom_generate`) replaces this one.
            return super().generate(inputs, generation_config=generation_config, **kwargs)
        base_config = generation_config if generation_config is not None else self.generation_config
        options = BangGenerationOptions.resolve(base_config, kwargs)
        for name in [k for k, v in kwargs.items() if isinstance(v, torch.Tensor)]:
            keep = name in self._generation_model_inputs or (
                options.decoding_mode == "ar" and name in ("decoder_input_ids", "decoder_attention_mask")
            )
            if not keep:
                kwargs.pop(name)
        source_ids = inputs if inputs is not None else kwargs.get("input_ids")
        if source_ids is not None:  # integer (batch, length) ids, an attention mask of their shape, 0/1 values
            _check_batch(source_ids, kwargs.get("attention_mask"), None, None, None)
        source = source_ids if source_ids is not None else kwargs.get("inputs_embeds")
        if source is not None and (source.shape[0] == 0 or source.shape[1] == 0):
            raise ValueError(f"The input is empty: shape {tuple(source.shape)}.")
        self._check_source_text(source, kwargs.get("attention_mask"))
        if options.decoding_mode == "semi_nar":
            check_semi_nar_block_size(options.semi_nar_block_size, self.config.ngram)
        self._check_generation_length(base_config, kwargs)
        self.config.check_special_token_ids()
        mode = kwargs.pop("mode", None)
        if mode not in (None, "ar"):
            raise ValueError(
                f"generate() chooses the decoder flow with `decoding_mode` ('ar', 'nar' or 'semi_nar'), not "
                f"mode={mode!r}."
            )
        if options.decoding_mode == "ar":
            # The forward's `mode="ar"` is added by `prepare_inputs_for_generation`, so that transformers' loops
            # (assisted decoding included, with this model as the main or the assistant model) never see it twice.
            return super().generate(inputs, generation_config=generation_config, **kwargs)

        for name in self._ar_only_arguments:
            if kwargs.pop(name, None) is not None:
                raise ValueError(f"`{name}` is only supported with decoding_mode='ar', not {options.decoding_mode!r}.")
        kwargs.pop("synced_gpus", None)  # each process decodes its own batch; no collective calls are made
        for name, allowed in (("num_beams", 1), ("do_sample", False), ("num_return_sequences", 1)):
            if kwargs.get(name, allowed) not in (allowed, None):
                raise ValueError(
                    f"`{name}={kwargs[name]!r}` is not supported with decoding_mode={options.decoding_mode!r}: "
                    "NAR and semi-NAR decoding take the argmax at every position."
                )
            kwargs.pop(name, None)
        # The settings are read without transformers' `_prepare_generation_config`, whose deep copy of the
        # generation config costs about as much as a small model's NAR pass.
        model_kwargs = {k: v for k, v in kwargs.items() if not hasattr(base_config, k)}
        ignored = sorted(
            k for k, v in kwargs.items() if k not in model_kwargs and k not in self._non_ar_settings and v is not None
        )
        if ignored:
            raise ValueError(
                f"{ignored} only apply to decoding_mode='ar'; {options.decoding_mode!r} decoding would ignore them."
            )

        settings = {  # an explicit None falls back to the generation config, as in transformers
            name: kwargs[name] if kwargs.get(name) is not None else getattr(base_config, name, None)
            for name in self._non_ar_settings
        }
        generation_config = GenerationConfig(**{name: value for name, value in settings.items() if value is not None})
        if generation_config.decoder_start_token_id is None:
            generation_config.decoder_start_token_id = self.config.decoder_start_token_id
        if inputs is not None:
            if "input_ids" in model_kwargs:
                raise ValueError("Pass the source either as `inputs` or as `input_ids`, not both.")
            model_kwargs["input_ids"] = inputs
        unknown = sorted(set(model_kwargs) - set(self._generation_model_inputs))
        if unknown:
            raise ValueError(f"generate() got arguments it does not use in {options.decoding_mode!r} mode: {unknown}.")
        encoder_inputs = {k: model_kwargs.get(k) for k in self._generation_model_inputs}
        if encoder_inputs["input_ids"] is not None and encoder_inputs["attention_mask"] is None:
            encoder_inputs["attention_mask"] = encoder_inputs["input_ids"].ne(self.config.pad_token_id).long()
        if options.decoding_mode == "nar":
            return self._generate_nar(encoder_inputs, generation_config, options)
        if options.semi_nar_acceptance in ("verify", "confidence"):
            return self._generate_semi_nar_verify(encoder_inputs, generation_config, options)
        return self._generate_semi_nar(encoder_inputs, generation_config, options)

    def _check_source_text(self, source: torch.Tensor | None, attention_mask: torch.Tensor | None) -> None:
        """A ValueError naming the rows of the source ids whose tokens are all `[PAD]`, `[CLS]` or `[SEP]` / eos
        (`generation_bang.rows_without_text`), in every decoding mode: an empty or whitespace-only text is `[SEP]`
        alone once tokenized, and decoding it gives a confident output made up from nothing. Embeddings
        (`inputs_embeds`) are not checked."""
        if source is None or source.dim() != 2 or source.is_floating_point():
            return
        if attention_mask is not None and tuple(attention_mask.shape) != tuple(source.shape):
            attention_mask = None  # the forward names the mismatch
        empty = rows_without_text(source, text_free_token_ids(self.config), attention_mask)
        if empty:
            raise ValueError(
                f"Row(s) {empty[:8]} of the {source.shape[0]} source rows (`input_ids`) hold no text: every token is "
                "[PAD], [CLS] or [SEP] / eos (an empty or whitespace-only source gives [SEP] alone), so decoding "
                "them would give an output made up from nothing; give each row a source text or drop it."
            )

    def prepare_inputs_for_generation(self, *args, **kwargs) -> dict:
        """transformers' inputs of one AR decoding step, with the decoder flow fixed to `mode="ar"` whatever
        `config.default_mode` says (AR generation runs the main stream with its cache)."""
        kwargs.pop("mode", None)
        model_inputs = super().prepare_inputs_for_generation(*args, **kwargs)
        model_inputs["mode"] = "ar"
        return model_inputs

    def _check_generation_length(self, config: GenerationConfig, kwargs: dict) -> None:
        """Refuses lengths that would run past the decoder's position table, naming the value."""
        limit = self.config.max_position_embeddings
        for name, extra in (("max_new_tokens", 0), ("max_length", 1)):
            value = kwargs.get(name, getattr(config, name, None))
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
            if value is not None and value - extra > limit:
                raise ValueError(
                    f"`{name}={value}` asks for more target positions than the model has "
                    f"(max_position_embeddings={limit})."
                )
            if name == "max_new_tokens" and kwargs.get(name) is not None:
                break  # an explicit max_new_tokens wins over max_length

    def _new_token_budget(self, generation_config: GenerationConfig) -> int:
        """Number of target positions: `max_new_tokens`, else `max_length` minus the decoder start token."""
        if generation_config.max_new_tokens is not None:
            return generation_config.max_new_tokens
        if generation_config.max_length is None:
            raise ValueError(
                "NAR and semi-NAR decoding need an output length: pass `max_new_tokens` (the NAR canvas length) or "
                "set it in the generation config."
            )
        return generation_config.max_length - 1

    def _generate_nar(
        self, encoder_inputs: dict, generation_config: GenerationConfig, options: BangGenerationOptions
    ) -> GenerateEncoderDecoderOutput | torch.LongTensor:
        """One-pass NAR decoding (official `bang_NAR_generator.py`): canvas argmax, then post-processing."""
        if options.nar_canvas == "source_length":
            source = encoder_inputs["input_ids"] if encoder_inputs["input_ids"] is not None else None
            if source is None:
                raise ValueError("nar_canvas='source_length' needs `input_ids`.")
            canvas_length = source.shape[1]
            if canvas_length > self.config.max_position_embeddings:
                raise ValueError(
                    f"The source length {canvas_length} (nar_canvas='source_length') exceeds "
                    f"max_position_embeddings={self.config.max_position_embeddings}."
                )
        else:
            canvas_length = self._new_token_budget(generation_config)
        if (
            encoder_inputs["input_ids"] is not None
            and encoder_inputs["inputs_embeds"] is None
            and (encoder_inputs["encoder_outputs"] is None)
        ):
            input_ids, attention_mask = encoder_inputs["input_ids"], encoder_inputs["attention_mask"]
            if options.nar_source_padding is not None:
                input_ids, attention_mask = pad_source(
                    input_ids,
                    attention_mask,
                    options.nar_source_padding,
                    self.config.pad_token_id,
                    max_length=self.config.max_position_embeddings,
                )
            logits = self.nar_logits(input_ids, attention_mask, canvas_length)
        else:
            logits = self(**encoder_inputs, mode="nar", canvas_length=canvas_length, use_cache=False).logits
        if options.nar_eos_penalty:
            logits = logits.clone()
            logits[..., self.config.eos_token_id] -= options.nar_eos_penalty
        sequences = nar_canvas_to_sequences(
            logits.argmax(-1),
            decoder_start_token_id=generation_config.decoder_start_token_id,
            sep_token_id=self.config.eos_token_id,
            pad_token_id=self.config.pad_token_id,
            cls_token_id=self.config.cls_token_id,
            collapse_repeats=options.nar_collapse_repeats,
        )
        if not generation_config.return_dict_in_generate:
            return sequences
        per_position = tuple(logits.unbind(1))
        return GenerateEncoderDecoderOutput(
            sequences=sequences,
            scores=per_position if generation_config.output_scores else None,
            logits=per_position if generation_config.output_logits else None,
        )

    def _encoder_states(self, encoder_inputs: dict) -> torch.Tensor:
        """The encoder's last hidden states for semi-NAR decoding (given `encoder_outputs`, or computed)."""
        encoder_outputs = encoder_inputs["encoder_outputs"]
        if encoder_outputs is None:
            encoder_outputs = self.model.encoder(
                input_ids=encoder_inputs["input_ids"],
                attention_mask=encoder_inputs["attention_mask"],
                inputs_embeds=encoder_inputs["inputs_embeds"],
            )
        return encoder_outputs[0]

    @staticmethod
    def _min_new_tokens(generation_config: GenerationConfig) -> int:
        """`min_new_tokens`, else `min_length` minus the decoder start token (as transformers counts them)."""
        if generation_config.min_new_tokens is not None:
            return generation_config.min_new_tokens
        return max((generation_config.min_length or 0) - 1, 0)

    def _generate_semi_nar(
        self, encoder_inputs: dict, generation_config: GenerationConfig, options: BangGenerationOptions
    ) -> GenerateEncoderDecoderOutput | torch.LongTensor:
        """Blockwise semi-NAR decoding (this package's design; see `generation_bang.py`)."""
        encoder_states = self._encoder_states(encoder_inputs)
        batch, device = encoder_states.shape[0], encoder_states.device
        eos, pad = self.config.eos_token_id, self.config.pad_token_id
        max_new = self._new_token_budget(generation_config)
        min_new = self._min_new_tokens(generation_config)
        start = generation_config.decoder_start_token_id
        sequences = torch.full((batch, 1), start, dtype=torch.long, device=device)
        main_input, finished = sequences, torch.zeros(batch, dtype=torch.bool, device=device)
        lengths = torch.zeros(batch, dtype=torch.long, device=device)  # new tokens of each row, its [SEP] included
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        scores: list[torch.Tensor] = []
        while sequences.shape[1] - 1 < max_new and not bool(finished.all()):
            generated = sequences.shape[1] - 1
            block = min(options.semi_nar_block_size, max_new - generated)
            decoder_outputs = self.model.decoder(
                "ar",
                encoder_states,
                encoder_attention_mask=encoder_inputs["attention_mask"],
                input_ids=main_input,
                cache=cache,
                use_cache=True,
                num_proposals=block,
            )
            logits = self.lm_head(decoder_outputs.predict_hidden_state[:, :, 0]).float()  # (B, block, V)
            too_short = generated + torch.arange(block, device=device) < min_new  # (block,)
            logits[:, too_short, eos] = torch.finfo(logits.dtype).min
            proposals = logits.argmax(-1)  # (B, block); acceptance "all": every proposal extends the output
            proposals = proposals.masked_fill(finished[:, None], pad)
            is_eos = proposals.eq(eos)
            after_eos = (is_eos.long().cumsum(-1) - is_eos.long()) > 0
            proposals = proposals.masked_fill(after_eos, pad)
            lengths = lengths + (~finished).long() * torch.where(
                is_eos.any(-1), is_eos.long().argmax(-1) + 1, torch.full_like(lengths, block)
            )
            finished = finished | is_eos.any(-1)
            sequences = torch.cat([sequences, proposals], dim=1)
            main_input = proposals
            scores.extend(logits.unbind(1))
        width = int(lengths.max())  # a block may run past the [SEP] of every row: drop those columns
        sequences = sequences[:, : 1 + width]
        if not generation_config.return_dict_in_generate:
            return sequences
        scores_tuple = tuple(scores[:width])
        return GenerateEncoderDecoderOutput(
            sequences=sequences,
            scores=scores_tuple if generation_config.output_scores else None,
            logits=scores_tuple if generation_config.output_logits else None,
            cache=cache if generation_config.use_cache else None,
        )

    def _generate_semi_nar_verify(
        self, encoder_inputs: dict, generation_config: GenerationConfig, options: BangGenerationOptions
    ) -> "BangGenerateOutput | torch.LongTensor":
        """Lossless semi-NAR decoding (`semi_nar_acceptance="verify"`): blockwise parallel decoding (Stern et al.,
        2018) with BANG's predicting streams as the proposal heads and its AR stream as the verifier.

        State of a row before a pass: its accepted tokens y_0..y_n (y_0 the decoder start token), y_0..y_{n-1} in
        the key/value cache and y_n not yet, and m pending proposals q_1..q_m for y_{n+1}..y_{n+m} (m = 0 at the
        first pass, at most k - 1 after it; k = `semi_nar_block_size` <= `config.ngram`).

        One decoder pass (`BangDecoder.forward(num_proposals=k, proposal_anchors="every")`) feeds the main stream
        y_n q_1..q_m, and at each of these T = 1 + m main positions i places a block of k predicting streams: stream
        s of block i sits at position n + i + s, sees the main positions up to n + i and streams 0..s-1 of block i
        (the n-stream rule BANG is trained with, on the diagonal that starts after main position n + i). So, in the
        same pass:

        (a) verification: stream 0 of block i sees exactly what greedy AR decoding's predicting query sees after
            the prefix y_0..y_n q_1..q_i, so its argmax g_i is the greedy token there (min_new_tokens applied);
        (b) proposal: streams 1..k-1 of block i propose the k - 1 tokens after g_i.

        Acceptance: a = the number of leading proposals with q_j == g_{j-1}; the row accepts g_0..g_a (= q_1..q_a
        and the AR stream's own next token g_a, so 1 to k tokens per pass), cut after its first end-of-sequence
        token and at `max_new_tokens`. Each accepted token is the greedy token after the accepted prefix before it,
        so the output is greedy AR decoding's (`decoding_mode="ar", num_beams=1`) token for token, up to
        floating-point rounding (the same quantities computed with other matrix shapes; an argmax that ties within
        rounding could break the other way). The proposals of block a (streams 1..k-1) are the next pass's
        pending ones, and g_a its uncached main token.

        Cache: the pass appends the T main keys/values of every row; of those a row keeps y_n q_1..q_a (its
        a + 1 accepted positions) and drops the rejected q_{a+1}..q_m. Rows accept different numbers of tokens,
        so the cache is kept left-aligned with right padding: row r's n_r accepted tokens are its slots 0..n_r-1,
        the slots after them up to the longest row are padding, hidden by the decoder's attention mask, and the
        new main tokens carry their own positions (`position_ids` of every key, slot index + 1 for the cached
        ones, n_r + 1 + i for the new ones). After a pass the kept slots are gathered to the front of each row
        (`generation_bang.kept_cache_slots`); when every row accepted the same count and had no padding (always
        at batch size 1) the rejected tail is simply cropped. Rows that finish (end-of-sequence token or
        `max_new_tokens`) leave the batch: their encoder states and cache rows are dropped.

        `semi_nar_acceptance="confidence"` (this package's quality/speed dial, module docstring of
        `generation_bang`) runs the same passes, and also accepts a pending proposal q_j that differs from g_{j-1}
        when the stream that proposed it gave it a probability above `semi_nar_confidence`: the row accepts
        q_1..q_a and g_a, which the main stream was fed (so the cache is kept exactly as above); g_a is the AR token
        after that prefix. The output is then no longer greedy AR decoding's, except at threshold 1.

        Pending proposals and streams are cut where they would run past `max_new_tokens` or the position table.
        The dict output (`return_dict_in_generate=True`) is a `BangGenerateOutput` whose `decoder_passes` and
        `tokens_per_pass` give the acceptance statistics; `scores` / `logits` hold, per new token, the greedy
        stream's (min-length processed) scores that chose it (zeros for rows that had already ended); no cache is
        returned (its rows are dropped as they finish).
        """
        k = options.semi_nar_block_size  # at most config.ngram (`generate` checks it)
        threshold = options.semi_nar_confidence if options.semi_nar_acceptance == "confidence" else None
        states = self._encoder_states(encoder_inputs)
        source_mask = encoder_inputs["attention_mask"]
        batch, device = states.shape[0], states.device
        eos_ids = generation_config.eos_token_id
        eos_ids = self.config.eos_token_id if eos_ids is None else eos_ids
        eos = torch.tensor(eos_ids if isinstance(eos_ids, (list, tuple)) else [eos_ids], device=device)
        pad = generation_config.pad_token_id
        pad = self.config.pad_token_id if pad is None else pad
        max_new, min_new = self._new_token_budget(generation_config), self._min_new_tokens(generation_config)
        limit = self.config.max_position_embeddings
        want_scores = generation_config.return_dict_in_generate and (
            generation_config.output_scores or generation_config.output_logits
        )

        tokens = torch.full((batch, max_new), pad, dtype=torch.long, device=device)
        lengths = torch.zeros(batch, dtype=torch.long, device=device)  # new tokens of each row, its [SEP] included
        passes = torch.zeros(batch, dtype=torch.long, device=device)
        scores = None
        rows = torch.arange(batch, device=device)  # the original row of each active row
        n = torch.zeros(batch, dtype=torch.long, device=device)  # accepted new tokens = valid cache slots
        last = torch.full((batch,), generation_config.decoder_start_token_id, dtype=torch.long, device=device)
        proposals = torch.zeros(batch, 0, dtype=torch.long, device=device)
        confident = torch.zeros(batch, 0, dtype=torch.bool, device=device)  # above the threshold (never with verify)
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        slots = 0  # cache length: the longest active row's accepted tokens
        while True:
            active = rows.shape[0]
            n_min, n_max = int(n.min()), int(n.max())
            pending = min(proposals.shape[1], max_new - n_min - 1, limit - n_max - 1)
            proposals, confident = proposals[:, :pending], confident[:, :pending]
            streams = min(k, limit - n_max - pending, max_new - n_min)
            length = 1 + pending
            steps = torch.arange(length, device=device)
            position_ids = torch.cat(
                [torch.arange(1, slots + 1, device=device).expand(active, -1), n[:, None] + 1 + steps], dim=1
            )
            attention_mask = torch.cat(
                [torch.arange(slots, device=device)[None, :] < n[:, None], steps.new_ones(active, length).bool()],
                dim=1,
            ).long()
            decoded = self.model.decoder(
                "ar",
                states,
                encoder_attention_mask=source_mask,
                input_ids=torch.cat([last[:, None], proposals], dim=1),
                attention_mask=attention_mask,
                position_ids=position_ids,
                cache=cache,
                use_cache=True,
                num_proposals=streams,
                proposal_anchors="every",
                return_main_stream=False,
            )
            logits = self.lm_head(decoded.predict_hidden_state).float()  # (A, streams, T, V)
            if min_new > 0:  # stream s of block i predicts new token number n + i + s (0-based)
                target = n[:, None, None] + steps[None, None, :] + torch.arange(streams, device=device)[None, :, None]
                too_short = (target < min_new)[..., None]
                logits[..., eos] = logits[..., eos].masked_fill(too_short, torch.finfo(logits.dtype).min)
            predicted = logits.argmax(-1)  # (A, streams, T)
            greedy = predicted[:, 0]  # greedy[:, i]: the AR token after main position i
            agreed, accepted, counts, ended = verified_token_counts(proposals, greedy, max_new - n, eos, confident)

            take = steps[None, :] < counts[:, None]  # (A, T): the accepted tokens (g_0..g_{count-1} with "verify")
            cells = (rows[:, None].expand(-1, length)[take], (n[:, None] + steps)[take])
            tokens.index_put_(cells, accepted[take])
            if want_scores:
                if scores is None:
                    scores = logits.new_zeros(batch, max_new, logits.shape[-1])
                scores.index_put_(cells, logits[:, 0][take])
            passes[rows] += 1
            lengths[rows] = n + counts
            keep = (~ended).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            block = agreed[:, None, None].expand(-1, streams - 1, 1)
            next_proposals = predicted[:, 1:].gather(2, block).squeeze(2)  # (A, streams - 1)
            if threshold is not None:  # the probability each proposing stream gave its proposal
                probability = logits[:, 1:].gather(2, block[..., None].expand(-1, -1, -1, logits.shape[-1]))
                next_confident = probability.squeeze(2).softmax(-1).amax(-1) > threshold
            else:
                next_confident = next_proposals.new_zeros(next_proposals.shape, dtype=torch.bool)
            next_last = greedy.gather(1, agreed[:, None]).squeeze(1)
            slots = self._keep_verified_cache_slots(cache, keep, n, slots, agreed)
            if keep.numel() < active:
                states = states.index_select(0, keep)
                source_mask = source_mask.index_select(0, keep) if source_mask is not None else None
            rows, n = rows[keep], (n + counts)[keep]
            last, proposals, confident = next_last[keep], next_proposals[keep], next_confident[keep]

        width = int(lengths.max())
        start = torch.full((batch, 1), generation_config.decoder_start_token_id, dtype=torch.long, device=device)
        sequences = torch.cat([start, tokens[:, :width]], dim=1)
        if not generation_config.return_dict_in_generate:
            return sequences
        per_token = tuple(scores[:, :width].unbind(1)) if scores is not None else None
        return BangGenerateOutput(
            sequences=sequences,
            scores=per_token if generation_config.output_scores else None,
            logits=per_token if generation_config.output_logits else None,
            decoder_passes=passes,
            tokens_per_pass=lengths.float() / passes.clamp(min=1).float(),
        )

    @staticmethod
    def _keep_verified_cache_slots(
        cache: EncoderDecoderCache, keep: torch.Tensor, cached: torch.Tensor, slots: int, agreed: torch.Tensor
    ) -> int:
        """Keeps, of each row in `keep`, its `cached` accepted slots and the first `agreed + 1` of the `length` slots
        the last pass appended after the `slots` old ones, left-aligned (see `_generate_semi_nar_verify`); drops the
        other rows. Returns the new cache length. The cross-attention cache only loses the dropped rows."""
        self_cache = cache.self_attention_cache
        dropping_rows = keep.numel() < cached.shape[0]
        cached, agreed = cached[keep], agreed[keep]
        new_slots = int((cached + agreed).max()) + 1
        aligned = bool((cached == slots).all()) and bool((agreed == agreed[0]).all())
        if dropping_rows:
            cache.cross_attention_cache.batch_select_indices(keep)
        index = None if aligned else kept_cache_slots(cached, agreed, slots)  # (A', new_slots)
        for layer in self_cache.layers:
            keys, values = layer.keys, layer.values
            if dropping_rows:
                keys, values = keys.index_select(0, keep), values.index_select(0, keep)
            if aligned:  # no padding and one acceptance count: crop the rejected tail
                keys, values = keys[:, :, :new_slots], values[:, :, :new_slots]
            else:
                gather = index[:, None, :, None].expand(-1, keys.shape[1], -1, keys.shape[-1])
                keys, values = keys.gather(2, gather), values.gather(2, gather)
            layer.keys, layer.values = keys, values
        return new_slots


__all__ = [
    "BangDecoder",
    "BangEncoder",
    "BangForConditionalGeneration",
    "BangGenerateOutput",
    "BangModel",
    "BangPreTrainedModel",
    "build_ngram_visibility",
    "build_stream_labels",
    "compute_relative_buckets",
    "label_smoothed_token_loss",
    "multi_reference_token_loss",
    "shift_tokens_right",
]
