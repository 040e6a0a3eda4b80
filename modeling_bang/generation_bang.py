"""Non-autoregressive (NAR) decoding of BANG and the official NAR post-processing.

BANG's NAR flow (Qi et al., ICML 2021, section 3; official `bang/bang/bang_NAR_generator.py`) reads a canvas of mask
positions in one decoder pass and takes the argmax at every position. Because the masks attend to each other
causally there is no length predictor: the model learns to emit `[SEP]` after the answer and the output is read up
to the first `[SEP]`. The official post-processing (`bang/post_processed_nar.py`) then stops at the first `[SEP]`
(a `[SEP]` met before any kept token is skipped), drops `[CLS]`, and collapses consecutive duplicate tokens; it then
joins the wordpieces and collapses consecutive duplicate words once more (`collapse_repeated_words`).

This file works on token ids instead of the official whitespace-separated token strings; it also drops `[PAD]`
(this package's choice: a padded canvas never carries text). It imports only torch, so it can travel to the Hub
with the modeling files.
"""

import torch


def postprocess_nar_tokens(
    token_ids: list[int] | torch.Tensor,
    sep_token_id: int,
    cls_token_id: int | None = None,
    pad_token_id: int | None = None,
    collapse_repeats: bool = True,
) -> list[int]:
    """Official NAR post-processing of one predicted sequence of token ids.

    Reads the ids left to right: a `[SEP]` ends the output once at least one token has been kept (a `[SEP]` before
    that is skipped); `[CLS]` and `[PAD]` (when their ids are given) are dropped; with `collapse_repeats`, a token
    equal to the last kept token is dropped (so repeats separated only by dropped tokens collapse too, as in the
    official script).

    Args:
        token_ids: 1-D ids (a list or a 1-D tensor), e.g. the argmax of a NAR canvas.
        sep_token_id: id of `[SEP]` (end of sequence).
        cls_token_id / pad_token_id: ids to drop, or None.
        collapse_repeats: collapse consecutive duplicate tokens.
    Returns:
        the kept ids, a subsequence of `token_ids`.
    """
    if isinstance(token_ids, torch.Tensor):
        if token_ids.dim() != 1:
            raise ValueError(f"`token_ids` must be 1-D, got a tensor of shape {tuple(token_ids.shape)}.")
        token_ids = token_ids.tolist()
    dropped = {i for i in (cls_token_id, pad_token_id) if i is not None}
    kept: list[int] = []
    for token in token_ids:
        token = int(token)
        if token == sep_token_id:
            if kept:
                break
            continue
        if token in dropped:
            continue
        if collapse_repeats and kept and token == kept[-1]:
            continue
        kept.append(token)
    return kept


def collapse_repeated_words(text: str) -> str:
    """Second stage of the official post-processing on decoded text: collapse consecutive duplicate words."""
    words: list[str] = []
    for word in text.split():
        if not words or word != words[-1]:
            words.append(word)
    return " ".join(words)


@torch.no_grad()
def nar_decode(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    canvas_length: int,
    sep_token_id: int | None = None,
    cls_token_id: int | None = None,
    pad_token_id: int | None = None,
    collapse_repeats: bool = True,
) -> list[list[int]]:
    """One-pass NAR decoding: one encoder pass, one decoder pass over `canvas_length` masks, argmax, post-processing.

    Args:
        model: a `BangForConditionalGeneration` (its training/eval state is left as it is; call `model.eval()` to
            decode without dropout).
        input_ids / attention_mask: (batch, S) source ids and mask.
        canvas_length: number of mask positions; the output is at most this long. The official generator uses the
            padded source length of the batch; any length works because position t does not see later masks.
        sep_token_id / pad_token_id: default `model.config.eos_token_id` / `model.config.pad_token_id`.
        cls_token_id: id of `[CLS]` to drop (the BANG tokenizer's `cls_token_id`), or None.
        collapse_repeats: collapse consecutive duplicate tokens (official behaviour).
    Returns:
        one list of token ids per example, without `[SEP]`, `[CLS]` and `[PAD]`.
    """
    if isinstance(canvas_length, bool) or not isinstance(canvas_length, int) or canvas_length < 1:
        raise ValueError(f"`canvas_length` must be a positive integer, got {canvas_length!r}.")
    config = model.config
    sep_token_id = config.eos_token_id if sep_token_id is None else sep_token_id
    pad_token_id = config.pad_token_id if pad_token_id is None else pad_token_id
    outputs = model(input_ids=input_ids, attention_mask=attention_mask, mode="nar", canvas_length=canvas_length)
    predictions = outputs.logits.argmax(-1).cpu()
    return [
        postprocess_nar_tokens(row, sep_token_id, cls_token_id, pad_token_id, collapse_repeats) for row in predictions
    ]


__all__ = ["collapse_repeated_words", "nar_decode", "postprocess_nar_tokens"]
