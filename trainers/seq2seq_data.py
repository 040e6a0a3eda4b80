"""Supervised (source, target) data for BANG fine-tuning and SPMD training: arguments, tokenization, ROUGE-L.

Data are JSON Lines files with the source columns (`source_columns="word,example"`: the first column is the text,
the others joined by a space are the text pair, giving `word [SEP] example [SEP]`) and a target column. Sources longer
than `max_source_length` are truncated with a warning that counts them; a target longer than `max_target_length`
tokens (its `[SEP]` included) is an error naming the example's `id` unless `truncate_targets` is set (the truncated
target still ends with `[SEP]`).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from transformers.utils import logging


logger = logging.get_logger(__name__)


@dataclass
class DataArguments:
    train_file: str | None = field(default=None, metadata={"help": "JSON Lines training file."})
    validation_file: str | None = field(default=None, metadata={"help": "JSON Lines validation file."})
    source_columns: str = field(default="word,example", metadata={"help": "Comma-separated source columns."})
    target_column: str = field(default="definition", metadata={"help": "Target column."})
    id_column: str = field(default="id", metadata={"help": "Column naming examples in errors (else the line)."})
    max_source_length: int = field(default=128, metadata={"help": "Source tokens, [SEP]s included."})
    max_target_length: int = field(default=64, metadata={"help": "Target tokens with [SEP]; NAR canvas length."})
    truncate_targets: bool = field(default=False, metadata={"help": "Truncate long targets instead of failing."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training pairs."})
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Validation pairs used for the loss and ROUGE-L (default: all)."}
    )
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Allow writing into a non-empty output_dir."})

    def check(self, max_position_embeddings: int) -> None:
        """Raises a ValueError for a missing data file or a length the model's position table cannot hold."""
        if self.train_file is None:
            raise ValueError("--train_file is required.")
        for path in (self.train_file, self.validation_file):
            if path is not None and not Path(path).is_file():
                raise ValueError(f"Data file {path} does not exist.")
        for name in ("max_source_length", "max_target_length"):
            if getattr(self, name) > max_position_embeddings:
                raise ValueError(
                    f"--{name} {getattr(self, name)} exceeds the model's max_position_embeddings "
                    f"({max_position_embeddings})."
                )


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


def encode_pairs(
    dataset: datasets.Dataset, tokenizer, data_args: DataArguments, what: str, keep_columns: tuple[str, ...] = ()
) -> tuple[datasets.Dataset, dict[str, int]]:
    """Tokenizes sources and targets into `input_ids`, `attention_mask`, `labels` and `reference` (the target text).

    Returns the data set and the numbers of truncated sources and targets. Raises a ValueError naming the first
    over-long target unless `--truncate_targets` is given. `keep_columns` are carried over unchanged (e.g.
    `distilled_labels`).
    """
    columns = [c.strip() for c in data_args.source_columns.split(",") if c.strip()]
    needed = [*columns, data_args.target_column]
    missing = [c for c in (*needed, *keep_columns) if c not in dataset.column_names]
    if missing:
        raise ValueError(f"Column(s) {missing} are not in the {what} data (columns: {dataset.column_names}).")
    has_id = data_args.id_column in dataset.column_names

    def encode(batch, indices):
        first, pair = source_texts(batch, columns)
        kwargs = {} if pair is None else {"text_pair": pair}
        full = tokenizer(first, **kwargs, verbose=False)["input_ids"]
        sources = tokenizer(first, **kwargs, truncation=True, max_length=data_args.max_source_length)
        targets = [clean_text(x) for x in batch[data_args.target_column]]
        labels = tokenizer(targets, verbose=False)["input_ids"]
        if not data_args.truncate_targets:
            for row, ids in enumerate(labels):
                if len(ids) > data_args.max_target_length:
                    name = batch[data_args.id_column][row] if has_id else f"line {indices[row] + 1}"
                    raise ValueError(
                        f"The {what} target of example {name!r} has {len(ids)} tokens, more than "
                        f"--max_target_length {data_args.max_target_length}; raise the limit or pass "
                        "--truncate_targets."
                    )
        target_truncated = [len(ids) > data_args.max_target_length for ids in labels]
        if data_args.truncate_targets:
            labels = tokenizer(targets, truncation=True, max_length=data_args.max_target_length)["input_ids"]
        return {
            "input_ids": sources["input_ids"],
            "attention_mask": sources["attention_mask"],
            "labels": labels,
            "source_truncated": [len(f) > data_args.max_source_length for f in full],
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
            limit = getattr(data_args, f"max_{name}_length")
            logger.warning(f"{count} of {len(encoded)} {what} {name}s were truncated to {limit} tokens.")
    return encoded.remove_columns(["source_truncated", "target_truncated"]), truncated


def rouge_l(predictions: list[str], references: list[str]) -> float:
    """Mean ROUGE-L F1 x 100 (rouge-score's default tokenizer, no stemming)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    scores = [scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(predictions, references, strict=True)]
    return 100.0 * sum(scores) / max(len(scores), 1)


__all__ = ["DataArguments", "clean_text", "encode_pairs", "rouge_l", "source_texts"]
