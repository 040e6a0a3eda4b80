"""Generation settings of BANG's three decoding modes and the official NAR post-processing.

BANG's NAR flow (Qi et al., ICML 2021, section 3; official `bang/bang/bang_NAR_generator.py`) reads a canvas of mask
positions in one decoder pass and takes the argmax at every position. Because the masks attend to each other
causally there is no length predictor: the model learns to emit `[SEP]` after the answer and the output is read up
to the first `[SEP]`. The official post-processing (`bang/post_processed_nar.py`) then stops at the first `[SEP]`
(a `[SEP]` met before any kept token is skipped), drops `[CLS]`, and collapses consecutive duplicate tokens; it then
joins the wordpieces and collapses consecutive duplicate words once more (`collapse_repeated_words`).

This file works on token ids instead of the official whitespace-separated token strings; it also drops `[PAD]`
(this package's choice: a padded canvas never carries text). It travels to the Hub with the modeling files;
`BangForConditionalGeneration.generate` (modeling_bang.py) runs the decoding loops with the helpers below.

Generation settings (`BangGenerationOptions`) are custom fields of the model's `GenerationConfig`, so that they are
saved in `generation_config.json` and can be overridden per `generate` call:

* `decoding_mode`: `"ar"` (standard transformers generation with the main stream's cache), `"nar"` (one pass) or
  `"semi_nar"` (blockwise).
* `nar_canvas`: `"max_new_tokens"` (canvas of `max_new_tokens` masks, default) or `"source_length"` (the padded
  source length of the batch, as the official generator does).
* `nar_collapse_repeats`: collapse consecutive duplicate tokens in NAR post-processing (official: yes).
* `nar_eos_penalty`: subtracted from the `[SEP]` score of every canvas position before the argmax (default 0, the
  official decoding). This package's option, the counterpart of fairseq's `--iter-decode-eos-penalty` for its NAR
  models: a NAR model's `[SEP]` probability is concentrated while the content words at a position are spread over
  many candidates, so the argmax often stops the output early; a penalty chosen on validation data lengthens it.
* `nar_source_padding`: None, or a multiple m: NAR decoding right-pads the source batch with `[PAD]` to a multiple of
  m tokens first (this package's static-shape option: padding does not change the result, and a compiled or
  CUDA-graph NAR decoder then sees few distinct shapes and recompiles less).
* `semi_nar_block_size`: k, the number of predicting streams proposing tokens at each semi-NAR step (1 to
  `config.ngram`, `check_semi_nar_block_size`).
* `semi_nar_acceptance`: which proposals extend the main stream; `"all"` (the k proposals, cut after `[SEP]`),
  `"verify"` (lossless: the proposals that greedy AR decoding would have produced, see below; k <= `config.ngram`) or
  `"confidence"` (the proposals greedy AR would have produced or whose probability is above
  `semi_nar_confidence`, see below).
* `semi_nar_confidence`: the probability threshold of `"confidence"` (0 to 1, default 0.9).

Semi-NAR decoding is this package's design (the official code released no semi-NAR decoding): the main stream
holds the accepted prefix y_0..y_n (y_0 = `[SEP]`, cached like AR decoding); streams 0..k-1 of the cross-stream
visible n-stream decoder sit at positions n..n+k-1 and propose y_{n+1}..y_{n+k} in one decoder pass (stream s with
the s tokens before its target hidden, exactly the n-stream pretraining and `ngram` fine-tuning rule); the accepted
tokens are fed to the main stream at the next step. With k = 1 this is greedy AR decoding, token for token.

`semi_nar_acceptance="verify"` makes semi-NAR decoding lossless, as blockwise parallel decoding (Stern et al., 2018,
"Blockwise Parallel Decoding for Deep Autoregressive Models"; the idea of Medusa and self-speculative decoding) does
with its proposal heads: each decoder pass feeds the pending proposals to the main stream, so that stream 0 (the AR
stream) scores them, and, in the same pass, every fed position anchors a block of k streams that proposes the next
tokens. A row accepts the longest prefix of its proposals equal to the AR stream's argmax, plus the AR stream's own
next token: 1 to k tokens per pass, and exactly greedy AR decoding's output. `generate`'s dict output counts the
passes and the tokens per pass (`BangGenerateOutput`); `BangForConditionalGeneration._generate_semi_nar_verify`
documents the pass, the acceptance and the key/value cache handling, with the helpers `verified_token_counts` and
`kept_cache_slots` below.

`semi_nar_acceptance="confidence"` is this package's quality/speed dial on the same pass: a pending proposal is also
accepted, without being verified, when the predicting stream that proposed it gave it a probability above
`semi_nar_confidence`; the accepted prefix then ends with the AR stream's token after it, as in `"verify"`. Threshold
1 accepts only verified proposals (exactly `"verify"`, i.e. greedy AR output); threshold 0 accepts every proposal,
which gives the output of `semi_nar_acceptance="all"` with the same k (the same streams propose the same tokens),
except in the last block that `max_new_tokens` cuts, whose last token is the AR stream's; thresholds in between trade
the exactness of greedy AR for fewer decoder passes.
"""

from dataclasses import dataclass, fields

import torch


DECODING_MODES = ("ar", "nar", "semi_nar")
NAR_CANVAS_CHOICES = ("max_new_tokens", "source_length")
SEMI_NAR_ACCEPTANCE_RULES = ("all", "verify", "confidence")


@dataclass(frozen=True)
class BangGenerationOptions:
    """BANG's own generation settings (custom `GenerationConfig` fields; see the module docstring)."""

    decoding_mode: str = "ar"
    nar_canvas: str = "max_new_tokens"
    nar_collapse_repeats: bool = True
    nar_eos_penalty: float = 0.0
    nar_source_padding: int | None = None
    semi_nar_block_size: int = 2
    semi_nar_acceptance: str = "all"
    semi_nar_confidence: float = 0.9

    def __post_init__(self):
        if self.decoding_mode not in DECODING_MODES:
            raise ValueError(f"`decoding_mode` must be one of {DECODING_MODES}, got {self.decoding_mode!r}.")
        if self.nar_canvas not in NAR_CANVAS_CHOICES:
            raise ValueError(f"`nar_canvas` must be one of {NAR_CANVAS_CHOICES}, got {self.nar_canvas!r}.")
        if not isinstance(self.nar_collapse_repeats, bool):
            raise ValueError(f"`nar_collapse_repeats` must be a bool, got {self.nar_collapse_repeats!r}.")
        penalty = self.nar_eos_penalty
        if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not penalty >= 0:
            raise ValueError(f"`nar_eos_penalty` must be a non-negative number, got {penalty!r}.")
        m = self.nar_source_padding
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise ValueError(f"`nar_source_padding` must be None or a positive integer, got {m!r}.")
        check_semi_nar_block_size(self.semi_nar_block_size)
        if self.semi_nar_acceptance not in SEMI_NAR_ACCEPTANCE_RULES:
            raise ValueError(
                f"`semi_nar_acceptance` must be one of {SEMI_NAR_ACCEPTANCE_RULES}, got {self.semi_nar_acceptance!r}."
            )
        c = self.semi_nar_confidence
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0.0 <= c <= 1.0:
            raise ValueError(f"`semi_nar_confidence` must be a probability between 0 and 1, got {c!r}.")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def resolve(cls, generation_config, overrides: dict) -> "BangGenerationOptions":
        """Per-call values from `overrides` (popped from it), then the generation config's, then the defaults."""
        values = {}
        for name in cls.field_names():
            if name in overrides:
                values[name] = overrides.pop(name)
            elif getattr(generation_config, name, None) is not None:
                values[name] = getattr(generation_config, name)
        return cls(**values)

    def write_to(self, generation_config) -> None:
        """Stores the options as custom fields of `generation_config`, in a way that survives a save and reload.

        A generation config built from the model config carries `_from_model_config=True`, and
        `GenerationConfig.from_pretrained` ignores every custom field of such a file; so the flag is cleared.
        """
        for name in self.field_names():
            setattr(generation_config, name, getattr(self, name))
        generation_config._from_model_config = False


def check_semi_nar_block_size(block_size, ngram: int | None = None, name: str = "`semi_nar_block_size`") -> None:
    """The rule for k, the tokens proposed per semi-NAR step: a positive integer and, given the model's `ngram`, at
    most `ngram`; a ValueError naming `name` (the argument, or a program's flag) otherwise.

    Stream s of a block predicts the token s + 1 places ahead, which only the `ngram` streams of n-stream pretraining
    and `ngram` fine-tuning were trained to do (paper section 3; `BangDecoder`'s stream rule): a block longer than
    that would read streams that were never trained and give a made-up output without any sign of it. `generate`
    applies the rule in semi-NAR decoding and `bang_spmd`'s programs to their `--semi_nar_block_size`."""
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"{name} must be a positive integer, got {block_size!r}.")
    if ngram is not None and block_size > ngram:
        raise ValueError(
            f"{name} {block_size} is more than the model's {ngram} predicting streams (config.ngram), which were "
            f"the only ones trained to propose tokens ahead; pass at most {ngram}."
        )


def text_free_token_ids(holder) -> set[int]:
    """The ids that carry no text of a source: `[PAD]`, `[CLS]`, bos and `[SEP]` (eos, BANG's decoder start), read
    from the `pad_token_id`, `cls_token_id`, `bos_token_id`, `sep_token_id`, `eos_token_id` and
    `decoder_start_token_id` of `holder`, a `BangConfig` or a tokenizer (those it lacks or sets to None are
    skipped). `[UNK]` and `[MASK]` are not among them: they stand for text the vocabulary lacks or hides."""
    names = ("pad_token_id", "cls_token_id", "bos_token_id", "sep_token_id", "eos_token_id", "decoder_start_token_id")
    ids = set()
    for name in names:
        value = getattr(holder, name, None)
        for token in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(token, int) and not isinstance(token, bool):
                ids.add(token)
    return ids


def rows_without_text(
    input_ids: torch.Tensor, text_free_ids: set[int], attention_mask: torch.Tensor | None = None
) -> list[int]:
    """The rows of a (batch, length) source whose tokens (those `attention_mask` keeps) are all in `text_free_ids`
    (`text_free_token_ids`): an empty source, such as the `[SEP]` alone that an empty or whitespace-only text, or a
    text of characters the tokenizer drops, becomes. Decoding such a row gives a confident output made up from
    nothing, so `generate` refuses it, and the programs refuse such a source by name."""
    if not text_free_ids:
        return []
    text_free = torch.tensor(sorted(text_free_ids), dtype=input_ids.dtype, device=input_ids.device)
    has_text = ~torch.isin(input_ids, text_free)
    if attention_mask is not None:
        has_text &= attention_mask.bool()
    return (~has_text.any(-1)).nonzero().flatten().tolist()


def pad_source(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    multiple: int,
    pad_token_id: int,
    max_length: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pads a source batch with `pad_token_id` (attention mask 0) to the next multiple of `multiple` tokens,
    at most to `max_length` (the model's position table)."""
    target = -(-input_ids.shape[1] // multiple) * multiple
    if max_length is not None:
        target = max(min(target, max_length), input_ids.shape[1])
    extra = target - input_ids.shape[1]
    if extra == 0:
        return input_ids, attention_mask
    return (
        torch.nn.functional.pad(input_ids, (0, extra), value=pad_token_id),
        torch.nn.functional.pad(attention_mask, (0, extra), value=0),
    )


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
    return _scan_nar_tokens(token_ids, sep_token_id, cls_token_id, pad_token_id, collapse_repeats)[0]


def _scan_nar_tokens(
    token_ids: list[int], sep_token_id: int, cls_token_id: int | None, pad_token_id: int | None, collapse_repeats: bool
) -> tuple[list[int], bool]:
    """`postprocess_nar_tokens`, also telling whether a `[SEP]` ended the output."""
    dropped = {i for i in (cls_token_id, pad_token_id) if i is not None}
    kept: list[int] = []
    for token in token_ids:
        token = int(token)
        if token == sep_token_id:
            if kept:
                return kept, True
            continue
        if token in dropped:
            continue
        if collapse_repeats and kept and token == kept[-1]:
            continue
        kept.append(token)
    return kept, False


def verified_token_counts(
    proposals: torch.Tensor,
    greedy: torch.Tensor,
    budget: torch.Tensor,
    eos_token_ids: torch.Tensor,
    confident: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The acceptance rule of `semi_nar_acceptance="verify"` (and `"confidence"`) for one decoder pass.

    Args:
        proposals: (A, m) the pending proposals q_1..q_m of each row.
        greedy: (A, m + 1) the AR stream's argmax g_0..g_m after the row's accepted prefix followed by q_1..q_i.
        budget: (A,) tokens each row may still add (`max_new_tokens` minus its new tokens), at least 1.
        eos_token_ids: (E,) the end-of-sequence ids.
        confident: (A, m) bool or None; `"confidence"`: the proposals accepted without verification.
    Returns:
        agreed (A,): the leading accepted proposals (q_j == g_{j-1}, or confident), at most `budget - 1`;
        accepted (A, m + 1): the accepted tokens in their first `counts` columns: q_1..q_agreed, then g_agreed (with
        `"verify"` these equal g_0..g_agreed); counts (A,): `agreed + 1`, cut after the first end-of-sequence token;
        ended (A,): the accepted tokens end the row (an end-of-sequence token, or the budget is used up).
    """
    matches = proposals.eq(greedy[:, : proposals.shape[1]])
    if confident is not None:
        matches = matches | confident
    agreed = torch.minimum(matches.long().cumprod(-1).sum(-1), budget - 1)
    steps = torch.arange(greedy.shape[1], device=greedy.device)
    accepted = torch.where(steps[None, :] < agreed[:, None], torch.cat([proposals, greedy[:, -1:]], dim=1), greedy)
    is_eos = torch.isin(accepted, eos_token_ids) & (steps[None, :] <= agreed[:, None])
    has_eos = is_eos.any(-1)
    counts = torch.where(has_eos, is_eos.long().argmax(-1) + 1, agreed + 1)
    return agreed, accepted, counts, has_eos | counts.ge(budget)


def kept_cache_slots(cached: torch.Tensor, agreed: torch.Tensor, slots: int) -> torch.Tensor:
    """Cache slots each row keeps after a `verify` pass, left-aligned: (A, width), width = max(cached + agreed + 1).

    Row r's accepted tokens are its first `cached[r]` slots and, of the slots the pass appended from `slots` on, the
    first `agreed[r] + 1` (its uncached token and the accepted proposals). Row r of the result lists those slots in
    order, then repeats slot 0 as padding (hidden by the attention mask, which marks the first
    `cached[r] + agreed[r] + 1` slots of the new cache as real).
    """
    kept = cached + agreed + 1
    index = torch.arange(int(kept.max()), device=cached.device)[None, :]
    slot = torch.where(index < cached[:, None], index, slots + index - cached[:, None])
    return torch.where(index < kept[:, None], slot, torch.zeros_like(slot))


def collapse_repeated_words(text: str) -> str:
    """Second stage of the official post-processing on decoded text: collapse consecutive duplicate words."""
    words: list[str] = []
    for word in text.split():
        if not words or word != words[-1]:
            words.append(word)
    return " ".join(words)


def nar_canvas_to_sequences(
    canvas: torch.Tensor,
    decoder_start_token_id: int,
    sep_token_id: int,
    pad_token_id: int,
    cls_token_id: int | None = None,
    collapse_repeats: bool = True,
) -> torch.Tensor:
    """Turns NAR canvases (the argmax ids, (batch, L)) into `generate`-style sequences.

    Each row is post-processed with `postprocess_nar_tokens` and written as `[start] kept... [SEP]`, the `[SEP]`
    only when the canvas ended the output with one (as AR generation ends with `[SEP]` unless it runs out of
    length); rows are right-padded with `pad_token_id`, so `tokenizer.batch_decode(..., skip_special_tokens=True)`
    reads them like any transformers generation.
    """
    rows = []
    for row in canvas.tolist():
        kept, ended = _scan_nar_tokens(row, sep_token_id, cls_token_id, pad_token_id, collapse_repeats)
        rows.append([decoder_start_token_id, *kept] + ([sep_token_id] if ended else []))
    width = max(len(r) for r in rows)
    padded = [r + [pad_token_id] * (width - len(r)) for r in rows]
    return torch.tensor(padded, dtype=torch.long, device=canvas.device)


__all__ = [
    "DECODING_MODES",
    "NAR_CANVAS_CHOICES",
    "SEMI_NAR_ACCEPTANCE_RULES",
    "BangGenerationOptions",
    "check_semi_nar_block_size",
    "collapse_repeated_words",
    "kept_cache_slots",
    "nar_canvas_to_sequences",
    "pad_source",
    "postprocess_nar_tokens",
    "rows_without_text",
    "text_free_token_ids",
    "verified_token_counts",
]
