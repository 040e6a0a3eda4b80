"""Supervised (source, target) data for BANG fine-tuning and SPMD training: encoding and batching.

Data are rows with the source columns (`source_columns="word,example"`: the first column is the text, the others
joined by a space are the text pair, giving `word [SEP] example [SEP]`) and a target column, described by
`PairEncoding`. Sources longer than `max_source_length` are truncated with a warning that counts them; a target longer
than `max_target_length` tokens (its `[SEP]` included) is an error naming the example's `id` unless
`truncate_targets` is set (the truncated target still ends with `[SEP]`).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import datasets
import torch
from transformers.utils import logging

from modeling_bang.generation_bang import rows_without_text, text_free_token_ids


logger = logging.get_logger(__name__)


@dataclass
class PairEncoding:
    """Which columns hold the source and the target, and how long either may be in tokens."""

    source_columns: str = field(default="word,example", metadata={"help": "Comma-separated source columns."})
    target_column: str = field(default="definition", metadata={"help": "Target column."})
    id_column: str = field(default="id", metadata={"help": "Column naming examples in errors (else the line)."})
    max_source_length: int = field(default=128, metadata={"help": "Source tokens, [SEP]s included."})
    max_target_length: int = field(default=64, metadata={"help": "Target tokens with [SEP]; NAR canvas length."})
    truncate_targets: bool = field(default=False, metadata={"help": "Truncate long targets instead of failing."})

    def __post_init__(self) -> None:
        if not isinstance(self.source_columns, str) or not self.columns():
            raise ValueError(
                f"--source_columns {self.source_columns!r} names no column; give comma-separated column names "
                "(e.g. word,example)."
            )
        if not isinstance(self.target_column, str) or not self.target_column.strip():
            raise ValueError(f"--target_column {self.target_column!r} names no column.")
        for name in ("max_source_length", "max_target_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ValueError(f"--{name} must be an integer of at least 2 (a token and [SEP]), got {value!r}.")

    def columns(self) -> list[str]:
        """The source column names."""
        return [c.strip() for c in self.source_columns.split(",") if c.strip()]

    def text_columns(self) -> tuple[list[str], list[str]]:
        """The columns that must hold text (sources and target) and those of them that may be empty (the columns
        of the text pair: the first source column and the target may not)."""
        return [*self.columns(), self.target_column], self.columns()[1:]

    def check_lengths(self, max_position_embeddings: int) -> None:
        """Raises a ValueError for a source or target length the model's position table cannot hold."""
        for name in ("max_source_length", "max_target_length"):
            if getattr(self, name) > max_position_embeddings:
                raise ValueError(
                    f"--{name} {getattr(self, name)} exceeds the model's max_position_embeddings "
                    f"({max_position_embeddings})."
                )


def describe_value(value) -> str:
    """A value as an error message shows it: `null`, `int 123`, `list ['a', 'b']` (at most 60 characters)."""
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def check_text(value, where: str, column: str) -> str:
    """`value` if it is a string with a non-space character; a ValueError naming `where` and `column` otherwise (a
    number, a list or null is never turned into text silently)."""
    if not isinstance(value, str):
        raise ValueError(f"{where}: column {column!r} must be a string, got {describe_value(value)}.")
    if not value.strip():
        raise ValueError(f"{where}: column {column!r} is empty; every source and target needs text.")
    return value


def clean_text(value) -> str:
    """Collapses whitespace; None becomes the empty string."""
    return " ".join(str(value).split()) if value is not None else ""


def source_texts(batch: dict[str, list], source_columns: Sequence[str]) -> tuple[list[str], list[str] | None]:
    """The tokenizer's `text` and `text_pair` for a batch: the first column, and the others joined by a space."""
    first = [clean_text(x) for x in batch[source_columns[0]]]
    if len(source_columns) == 1:
        return first, None
    rest = zip(*(batch[c] for c in source_columns[1:]), strict=True)
    return first, [" ".join(clean_text(x) for x in row) for row in rest]


def check_source_text(id_lists: Sequence[Sequence[int]], tokenizer, name_of: Callable[[int], str]) -> None:
    """A ValueError naming the first source (`name_of(row)`, e.g. "The source of --text 2") whose token ids hold no
    text: only `[PAD]`, `[CLS]` and `[SEP]` / eos (`modeling_bang.generation_bang.rows_without_text`, the rule
    `generate` applies), as a text of characters the tokenizer drops (zero-width or control characters) or of
    special tokens gives. Decoding it would give an output made up from nothing."""
    if not id_lists:
        return
    input_ids, attention_mask = pad_sources(id_lists, tokenizer.pad_token_id or 0)
    empty = rows_without_text(input_ids, text_free_token_ids(tokenizer), attention_mask)
    if empty:
        tokens = " ".join(tokenizer.convert_ids_to_tokens(list(id_lists[empty[0]])))
        raise ValueError(
            f"{name_of(empty[0])} holds no text once tokenized (its tokens: {tokens}): the tokenizer keeps none of "
            "its characters, and decoding it would give an output made up from nothing."
        )


def encode_pairs(
    dataset: datasets.Dataset, tokenizer, encoding: PairEncoding, what: str, keep_columns: tuple[str, ...] = ()
) -> tuple[datasets.Dataset, dict[str, int]]:
    """Tokenizes sources and targets into `input_ids`, `attention_mask`, `labels` and `reference` (the target text).

    Returns the data set and the numbers of truncated sources and targets. Raises a ValueError naming the first
    value that is no text or is empty (a text pair may be empty), the first source that holds no text once tokenized
    (`check_source_text`) and the first over-long target unless `--truncate_targets` is given. `keep_columns` are
    carried over unchanged (e.g. `distilled_labels`).
    """
    columns = encoding.columns()
    needed = [*columns, encoding.target_column]
    missing = [c for c in (*needed, *keep_columns) if c not in dataset.column_names]
    if missing:
        raise ValueError(f"Column(s) {missing} are not in the {what} data (columns: {dataset.column_names}).")
    has_id = encoding.id_column in dataset.column_names

    def name_of(batch, indices, row: int) -> str:
        return repr(batch[encoding.id_column][row]) if has_id else f"line {indices[row] + 1}"

    def encode(batch, indices):
        for column in needed:
            for row, value in enumerate(batch[column]):
                pair_text = column in columns[1:] and isinstance(value, str)  # a text pair may be empty
                if not pair_text and (not isinstance(value, str) or not value.strip()):
                    check_text(value, f"The {what} example {name_of(batch, indices, row)}", column)
        first, pair = source_texts(batch, columns)
        kwargs = {} if pair is None else {"text_pair": pair}
        full = tokenizer(first, **kwargs, verbose=False)["input_ids"]
        check_source_text(full, tokenizer, lambda row: f"The source of {what} example {name_of(batch, indices, row)}")
        sources = tokenizer(first, **kwargs, truncation=True, max_length=encoding.max_source_length)
        targets = [clean_text(x) for x in batch[encoding.target_column]]
        labels = tokenizer(targets, verbose=False)["input_ids"]
        if not encoding.truncate_targets:
            for row, ids in enumerate(labels):
                if len(ids) > encoding.max_target_length:
                    raise ValueError(
                        f"The {what} target of example {name_of(batch, indices, row)} has {len(ids)} tokens, more "
                        f"than --max_target_length {encoding.max_target_length}; raise the limit or pass "
                        "--truncate_targets."
                    )
        target_truncated = [len(ids) > encoding.max_target_length for ids in labels]
        if encoding.truncate_targets:
            labels = tokenizer(targets, truncation=True, max_length=encoding.max_target_length)["input_ids"]
        return {
            "input_ids": sources["input_ids"],
            "attention_mask": sources["attention_mask"],
            "labels": labels,
            "source_truncated": [len(f) > encoding.max_source_length for f in full],
            "target_truncated": target_truncated,
            "reference": targets,
        }

    encoded = dataset.map(
        encode,
        batched=True,
        with_indices=True,
        remove_columns=[c for c in dataset.column_names if c not in keep_columns],
        desc=f"Tokenizing {what}",
    )
    truncated = {name: sum(encoded[f"{name}_truncated"]) for name in ("source", "target")}
    for name, count in truncated.items():
        if count:
            limit = getattr(encoding, f"max_{name}_length")
            logger.warning(f"{count} of {len(encoded)} {what} {name}s were truncated to {limit} tokens.")
    return encoded.remove_columns(["source_truncated", "target_truncated"]), truncated


def pad_sources(rows: Sequence[Sequence[int]], pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pads token id lists into (`input_ids`, `attention_mask`) tensors of shape (batch, longest)."""
    input_ids = torch.full((len(rows), max(map(len, rows))), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    for row, ids in enumerate(rows):
        input_ids[row, : len(ids)] = torch.tensor(list(ids), dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


class Seq2SeqCollator:
    """Pads sources (`[PAD]`) and labels (-100) and adds the decoder `mode` to every batch."""

    def __init__(self, pad_token_id: int, mode: str):
        self.pad_token_id, self.mode = pad_token_id, mode

    def __call__(self, examples: list[dict]) -> dict:
        if not examples:
            raise ValueError("Seq2SeqCollator got an empty batch (no examples).")
        for i, example in enumerate(examples):
            labels = list(example["labels"])
            if not labels or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in labels):
                raise ValueError(
                    f"The labels of batch example {i} must be a non-empty list of token ids (no -100): {labels[:8]}."
                )
        input_ids, attention_mask = pad_sources([e["input_ids"] for e in examples], self.pad_token_id)
        target_len = max(len(e["labels"]) for e in examples)
        labels = torch.full((len(examples), target_len), -100, dtype=torch.long)
        for row, example in enumerate(examples):
            labels[row, : len(example["labels"])] = torch.tensor(example["labels"])
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels, "mode": self.mode}


__all__ = [
    "PairEncoding",
    "Seq2SeqCollator",
    "check_source_text",
    "check_text",
    "clean_text",
    "describe_value",
    "encode_pairs",
    "pad_sources",
    "source_texts",
]
