"""Decoding one input in every mode a BANG model supports, each call timed: the demo's logic, without gradio.

`demo_modes(model)` lists the modes (`DemoMode`): AR greedy, AR beam search with 4 beams and NAR for every model;
semi-NAR with k = `config.ngram` tokens per decoder pass (`semi_nar_acceptance="all"`) and the lossless semi-NAR
decoding (`semi_nar_acceptance="verify"`, k = `config.ngram`, greedy AR's output) for models with `config.ngram >= 2`
predicting streams (with one stream, semi-NAR k = 1 is greedy AR decoding). `decode_all_modes(model, tokenizer,
text)` decodes the text in each of them (batch 1) and returns a `DemoRun`: one `ModeResult` per mode (the output,
the milliseconds of its `generate` call, measured with `time.perf_counter` inside `torch.inference_mode()` and
synchronised on CUDA) and the notes the page shows. Outputs are post-processed as `bang-generate` does (NAR keeps
`[UNK]` and collapses repeated words, `bang_spmd.evaluation.decoding`).

Bad input is a message, never an exception: an empty text, or one the tokenizer keeps no character of, gives no
results and `DemoRun.message`; a text longer than
the model's `max_position_embeddings` tokens is truncated to them (the tokenizer's truncation, as in training) and
`DemoRun.notes` says so; a text of more than `MAX_CHARACTERS` characters is cut before it is tokenized. Call
`warm_up` once before timing (the first calls of each mode pay for lazy initialisation).
"""

import statistics
import time
from dataclasses import dataclass, field

import torch

from bang_spmd.evaluation.decoding import (
    check_semi_nar_block_size,
    collapses_words,
    decode_outputs,
    generation_settings,
)
from modeling_bang.generation_bang import collapse_repeated_words, rows_without_text, text_free_token_ids


MAX_CHARACTERS = 20_000  # longer pasted text is cut before tokenizing (no model here reads that many tokens)
EMPTY_INPUT_MESSAGE = "The input is empty: type a text (or pick an example), then press Decode."
NO_TEXT_MESSAGE = (
    "The input holds no text the model can read (the tokenizer keeps none of its characters): type another text."
)


@dataclass(frozen=True)
class DemoMode:
    """One decoding mode of the demo: `key` (a stable id, as in `bang-benchmark`'s method names), the page's
    `label`, and the `generate` keyword arguments."""

    key: str
    label: str
    settings: dict


@dataclass
class ModeResult:
    """One mode's decoding of the input: the output text, the time of its `generate` call in milliseconds (one
    sample, so it is the time per sample; the median when several calls were timed), the output tokens, and for the
    lossless mode the mean tokens accepted per decoder pass and whether the output equals AR greedy's."""

    key: str
    label: str
    output: str
    ms: float
    output_tokens: int
    settings: dict
    tokens_per_pass: float | None = None
    same_as_ar_greedy: bool | None = None


@dataclass
class DemoRun:
    """What the page shows for one input: `results` (one per mode, in `demo_modes` order), `notes` (e.g. the input
    was truncated), `message` (why nothing was decoded, else None) and the source's token count."""

    results: list[ModeResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    message: str | None = None
    source_tokens: int = 0

    def result(self, key: str) -> ModeResult:
        return next(r for r in self.results if r.key == key)


def default_max_new_tokens(model) -> int | None:
    """The generation config's `max_new_tokens` (else None: then `demo_modes` needs it given)."""
    return getattr(model.generation_config, "max_new_tokens", None)


def demo_modes(model, max_new_tokens: int | None = None) -> list[DemoMode]:
    """The decoding modes `model` supports (module docstring), with `max_new_tokens` (default: the generation
    config's; a ValueError when neither sets an output length, as in `bang-generate`)."""
    config = model.generation_config
    ngram = int(getattr(model.config, "ngram", 1) or 1)

    def settings(mode: str, **options) -> dict:
        return generation_settings(config, mode, max_new_tokens, **options)

    modes = [
        DemoMode("ar_greedy", "AR greedy", {**settings("ar", num_beams=1), "do_sample": False}),
        DemoMode("ar_beam4", "AR beam 4", {**settings("ar", num_beams=4), "do_sample": False}),
        DemoMode("nar", "NAR", settings("nar")),
    ]
    if ngram >= 2:
        modes.append(
            DemoMode(
                f"semi_nar_k{ngram}",
                f"semi-NAR k={ngram}",
                {**settings("semi_nar", semi_nar_block_size=ngram), "semi_nar_acceptance": "all"},
            )
        )
        modes.append(
            DemoMode(
                f"semi_nar_verify_k{ngram}",
                f"verify k={ngram} (lossless)",
                {**settings("semi_nar", semi_nar_block_size=ngram), "semi_nar_acceptance": "verify"},
            )
        )
    for mode in modes:
        check_semi_nar_block_size(model, mode.settings)
    return modes


def encode_input(tokenizer, text: str, max_positions: int) -> tuple[list[int] | None, list[str], str | None]:
    """The token ids of `text` (`text [SEP]`), the notes about it, and the message when there is nothing to decode.

    Whitespace is collapsed; an empty text gives no ids and `EMPTY_INPUT_MESSAGE`, a text whose tokens are all
    special ones (characters the tokenizer drops) `NO_TEXT_MESSAGE`; a text of more than
    `MAX_CHARACTERS` characters is cut first, and one of more than `max_positions` tokens is truncated to them."""
    notes = []
    text = " ".join(str(text or "").split())
    if not text:
        return None, notes, EMPTY_INPUT_MESSAGE
    if len(text) > MAX_CHARACTERS:
        notes.append(f"The input has {len(text):,} characters; only its first {MAX_CHARACTERS:,} were read.")
        text = text[:MAX_CHARACTERS]
    ids = tokenizer(text, verbose=False)["input_ids"]
    if len(ids) > max_positions:
        notes.append(
            f"The input has {len(ids):,} tokens, more than the model's {max_positions} positions "
            f"(max_position_embeddings): it was truncated to its first {max_positions} tokens."
        )
        ids = tokenizer(text, truncation=True, max_length=max_positions, verbose=False)["input_ids"]
    if rows_without_text(torch.tensor([ids]), text_free_token_ids(tokenizer)):  # only [SEP]: `generate` refuses it
        return None, notes, NO_TEXT_MESSAGE
    return ids, notes, None


def _timed_generate(model, input_ids: torch.Tensor, settings: dict) -> tuple[object, float]:
    began = time.perf_counter()
    with torch.inference_mode():
        output = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), **settings)
    if input_ids.is_cuda:
        torch.cuda.synchronize()
    return output, (time.perf_counter() - began) * 1000.0


def decode_mode(model, tokenizer, ids: list[int], mode: DemoMode, repeats: int = 1) -> ModeResult:
    """`mode`'s output for the source `ids` and its time (the median of `repeats` timed calls, in ms)."""
    verify = mode.settings.get("semi_nar_acceptance") == "verify"
    settings = {**mode.settings, "return_dict_in_generate": True} if verify else mode.settings
    input_ids = torch.tensor([ids], dtype=torch.long, device=model.device)
    times = []
    for _ in range(max(1, repeats)):
        output, ms = _timed_generate(model, input_ids, settings)
        times.append(ms)
    sequences = output.sequences if verify else output
    text = decode_outputs(tokenizer, sequences, keep_unk=mode.settings["decoding_mode"] == "nar")[0]
    text = " ".join(text.splitlines())
    if collapses_words(model, mode.settings):
        text = collapse_repeated_words(text)
    special = set(tokenizer.all_special_ids)
    tokens = sum(1 for t in sequences[0].tolist() if t not in special)
    tokens_per_pass = float(output.tokens_per_pass[0]) if verify and output.tokens_per_pass is not None else None
    return ModeResult(
        mode.key, mode.label, text, statistics.median(times), tokens, dict(mode.settings), tokens_per_pass
    )


def decode_all_modes(
    model,
    tokenizer,
    text: str,
    modes: list[DemoMode] | None = None,
    max_new_tokens: int | None = None,
    repeats: int = 1,
) -> DemoRun:
    """`text` decoded in every mode of `modes` (default `demo_modes(model, max_new_tokens)`), each call timed; bad
    input gives a `DemoRun` with a message or notes, never an exception (module docstring)."""
    modes = demo_modes(model, max_new_tokens) if modes is None else modes
    ids, notes, message = encode_input(tokenizer, text, int(model.config.max_position_embeddings))
    run = DemoRun(notes=notes, message=message, source_tokens=len(ids or []))
    if ids is None:
        return run
    run.results = [decode_mode(model, tokenizer, ids, mode, repeats) for mode in modes]
    greedy = next((r for r in run.results if r.key == "ar_greedy"), None)
    for result in run.results:
        if result.settings.get("semi_nar_acceptance") == "verify" and greedy is not None:
            result.same_as_ar_greedy = result.output == greedy.output
    return run


def warm_up(model, tokenizer, modes: list[DemoMode], text: str = "warm up") -> None:
    """One untimed call of every mode (the first call of each pays for lazy initialisation)."""
    decode_all_modes(model, tokenizer, text, modes)


__all__ = [
    "EMPTY_INPUT_MESSAGE",
    "MAX_CHARACTERS",
    "NO_TEXT_MESSAGE",
    "DemoMode",
    "DemoRun",
    "ModeResult",
    "decode_all_modes",
    "decode_mode",
    "default_max_new_tokens",
    "demo_modes",
    "encode_input",
    "warm_up",
]
