"""Decoding sources with a saved BANG model: the sources, their token ids, the `generate` settings, batched calls.

`bang-generate` and `bang-evaluate` both decode here. Sources are texts, text lines or JSON Lines rows (the first
source column is the text, the others joined by a space are the text pair, giving `a [SEP] b [SEP]`, as in
training); each is named (`--text 2`, `line 3 of in.jsonl`) so that errors say which one is wrong. `generate_batches`
right-pads the token ids into batches, calls `model.generate` under `torch.inference_mode()` and returns the texts
decoded with `skip_special_tokens=True` (NAR outputs keep `[UNK]`, as the official post-processing does, unless
`drop_unk`), with the time of each call.
"""

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from bang_spmd.data.jsonl import iter_jsonl_file
from bang_spmd.trainers.seq2seq_data import check_source_text, check_text, clean_text, pad_sources
from modeling_bang import generation_bang
from modeling_bang.generation_bang import BangGenerationOptions, collapse_repeated_words


# The generate options that apply to one decoding mode only.
MODE_OPTIONS = {"num_beams": "ar", "length_penalty": "ar", "nar_eos_penalty": "nar", "semi_nar_block_size": "semi_nar",
                "semi_nar_acceptance": "semi_nar", "semi_nar_confidence": "semi_nar"}  # fmt: skip


@dataclass(frozen=True)
class Source:
    """One input: `where` names it in errors (`--text 2`, `line 3 of in.jsonl`); `pair` is the text pair or None."""

    where: str
    text: str
    pair: str | None = None


def _source(where: str, text, pair: str | None = None) -> Source:
    text = clean_text(text)
    if not text:
        raise ValueError(f"The source of {where} is empty.")
    return Source(where, text, pair)


def sources_from_texts(texts: Iterable[str]) -> list[Source]:
    """One source per text given on the command line (`--text 1`, `--text 2`, ...)."""
    return [_source(f"--text {number}", text) for number, text in enumerate(texts, start=1)]


def sources_from_lines(lines: Iterable[str], name: str) -> list[Source]:
    """One source per line (line numbers from 1) of the input called `name`."""
    return [_source(f"line {number} of {name}", line) for number, line in enumerate(lines, start=1)]


def sources_from_jsonl(path: Path, columns: Sequence[str]) -> list[Source]:
    """One source per JSON object line: the first column is the text, the others joined by a space the pair."""
    sources = []
    rows = iter_jsonl_file(path, where=lambda number: f"line {number} of {path}", skip_blank=False)
    for where, row in rows:
        missing = [c for c in columns if c not in row]
        if missing:
            raise ValueError(f"{where} has no column(s) {missing} (columns: {sorted(row)}).")
        for column in columns:
            if not isinstance(row[column], str):  # a number, a list or null is no source text (a pair may be "")
                check_text(row[column], where, column)
        pair = " ".join(clean_text(row[c]) for c in columns[1:]) if len(columns) > 1 else None
        sources.append(_source(where, row[columns[0]], pair))
    return sources


def encode_sources(sources: list[Source], tokenizer, max_length: int, truncate: bool) -> list[list[int]]:
    """Token ids of each source (`text [SEP]` or `text [SEP] pair [SEP]`).

    A source longer than `max_length` tokens is a ValueError naming it, unless `truncate` (then the tokenizer's
    `longest_first` truncation, as in training); so is a source that holds no text once tokenized
    (`check_source_text`: only special tokens, as a text of characters the tokenizer drops gives).
    """
    ids = []
    for source in sources:
        full = tokenizer(source.text, text_pair=source.pair, verbose=False)["input_ids"]
        if len(full) > max_length:
            if not truncate:
                raise ValueError(
                    f"The source of {source.where} has {len(full)} tokens, more than the model's "
                    f"max_position_embeddings ({max_length}); shorten it or pass --truncate_sources."
                )
            full = tokenizer(source.text, text_pair=source.pair, truncation=True, max_length=max_length)["input_ids"]
        ids.append(full)
    check_source_text(ids, tokenizer, lambda row: f"The source of {sources[row].where}")
    return ids


def generation_settings(
    generation_config,
    decoding_mode: str | None = None,
    max_new_tokens: int | None = None,
    **options: int | float | None,
) -> dict:
    """The `generate` keyword arguments: the decoding mode (given, else the generation config's, else `ar`), and
    `max_new_tokens` and the `MODE_OPTIONS` that are given (not None); AR beam search gets `early_stopping=True`,
    the official (fairseq) rule: it ends once `num_beams` hypotheses are finished.

    An option given for another decoding mode is a ValueError, and so is a missing `max_new_tokens` when the
    generation config sets neither `max_new_tokens` nor `max_length` (no silent default length).
    """
    mode = decoding_mode or getattr(generation_config, "decoding_mode", None) or "ar"
    unknown = sorted(set(options) - set(MODE_OPTIONS))
    if unknown:
        raise TypeError(f"Unknown generation options {unknown}; known: {sorted(MODE_OPTIONS)}.")
    misplaced = [
        f"--{name} applies to decoding_mode={where!r} only"
        for name, where in MODE_OPTIONS.items()
        if options.get(name) is not None and where != mode
    ]
    if misplaced:
        raise ValueError(f"{'; '.join(misplaced)}; the decoding mode is {mode!r}.")
    if max_new_tokens is None and all(
        getattr(generation_config, name, None) is None for name in ("max_new_tokens", "max_length")
    ):
        raise ValueError(
            "Pass --max_new_tokens: the model's generation config sets neither max_new_tokens nor max_length."
        )
    settings = {"decoding_mode": mode}
    if max_new_tokens is not None:
        settings["max_new_tokens"] = max_new_tokens
    for name in MODE_OPTIONS:
        if options.get(name) is not None:
            settings[name] = options[name]
    beams = settings.get("num_beams", getattr(generation_config, "num_beams", 1)) or 1
    if mode == "ar" and beams > 1:
        settings["early_stopping"] = True  # fairseq's beam search: stop once num_beams hypotheses are finished
    return settings


def check_device(device: str) -> str:
    """`device` if this machine has it; a ValueError naming `--device` otherwise (a malformed name, CUDA or MPS
    where there is none, a CUDA index beyond the devices)."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"--device {device!r} is not a device name (cpu, cuda, cuda:N, mps): {error}") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: CUDA is not available on this machine; use --device cpu.")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s).")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {device}: MPS is not available on this machine; use --device cpu.")
    return device


def check_semi_nar_block_size(model, settings: dict) -> None:
    """Before anything is decoded, the rule `generate` applies to semi-NAR blocks
    (`modeling_bang.generation_bang.check_semi_nar_block_size`: 1 to `config.ngram` tokens per step) on the block
    size of semi-NAR `settings` (else the model's generation config's), a ValueError naming `--semi_nar_block_size`."""
    if settings.get("decoding_mode") != "semi_nar":
        return
    block = settings.get("semi_nar_block_size", getattr(model.generation_config, "semi_nar_block_size", None))
    if block is None:
        block = BangGenerationOptions.semi_nar_block_size
    generation_bang.check_semi_nar_block_size(block, getattr(model.config, "ngram", None), "--semi_nar_block_size")


def decode_outputs(tokenizer, sequences, keep_unk: bool = False) -> list[str]:
    """`tokenizer.batch_decode(sequences, skip_special_tokens=True)`, except that with `keep_unk` the `[UNK]` pieces
    stay in the text (as the official NAR post-processing keeps them) while the other special tokens go."""
    unk = getattr(tokenizer, "unk_token_id", None)
    if not keep_unk or unk is None:
        return tokenizer.batch_decode(sequences, skip_special_tokens=True)
    dropped = set(tokenizer.all_special_ids) - {unk}
    rows = sequences.tolist() if isinstance(sequences, torch.Tensor) else [list(row) for row in sequences]
    return tokenizer.batch_decode([[t for t in row if t not in dropped] for row in rows], skip_special_tokens=False)


def generate_batches(
    model, tokenizer, id_lists: Sequence[Sequence[int]], settings: dict, batch_size: int, drop_unk: bool = False
) -> Iterator[tuple[list[str], float]]:
    """Yields, per batch of `batch_size` sources (right-padded with `config.pad_token_id`), the outputs decoded with
    `skip_special_tokens=True` and the wall time of the `generate` call (synchronised on CUDA). NAR outputs keep
    their `[UNK]` pieces, as the official post-processing does, unless `drop_unk` (`decode_outputs`)."""
    keep_unk = settings["decoding_mode"] == "nar" and not drop_unk
    device, pad = model.device, model.config.pad_token_id
    for start in range(0, len(id_lists), batch_size):
        input_ids, attention_mask = pad_sources(id_lists[start : start + batch_size], pad)
        input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
        began = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(input_ids, attention_mask=attention_mask, **settings)
        if input_ids.is_cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - began
        yield decode_outputs(tokenizer, output, keep_unk), seconds


def collapses_words(model, settings: dict) -> bool:
    """Whether the official post-processing's second stage (`collapse_repeated_words`) applies: NAR decoding with its
    first stage (`nar_collapse_repeats`) on. AR and semi-NAR outputs are never deduplicated (as officially)."""
    return settings["decoding_mode"] == "nar" and getattr(model.generation_config, "nar_collapse_repeats", True)


def generate_lines(
    model, tokenizer, ids: Sequence[Sequence[int]], settings: dict, batch_size: int, drop_unk: bool = False
) -> list[str]:
    """One output line per source (`bang-generate`'s output): line breaks inside an output become spaces, and in NAR
    mode the official post-processing's second stage runs (`collapses_words`); NAR outputs keep `[UNK]` unless
    `drop_unk`."""
    word_collapse = collapses_words(model, settings)
    lines = []
    for texts, _ in generate_batches(model, tokenizer, ids, settings, batch_size, drop_unk):
        for text in texts:
            text = " ".join(text.splitlines())
            lines.append(collapse_repeated_words(text) if word_collapse else text)
    return lines


__all__ = [
    "MODE_OPTIONS",
    "Source",
    "check_device",
    "check_semi_nar_block_size",
    "collapses_words",
    "decode_outputs",
    "encode_sources",
    "generate_batches",
    "generate_lines",
    "generation_settings",
    "sources_from_jsonl",
    "sources_from_lines",
    "sources_from_texts",
]
