"""Plain text drawn from the shared data sets: the tokenizer's training text and the pretraining text.

Both read only the splits they are given (TRAIN splits by default), so no validation or test text shapes the
vocabulary or the pretraining. The data sets are the folders `<data_dir>/<name>/{train,validation,test}.jsonl`
(`DEFAULT_DATA_DIR`: the `shared/data` folder next to the repository).
"""

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from bang_spmd.trainers.run_files import write_atomically
from bang_spmd.trainers.seq2seq_data import describe_value

from .jsonl import iter_jsonl_file


DEFAULT_DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data"
# The text of each data set that a WordPiece vocabulary is fitted to and a model is pretrained on: both sides of
# every training pair (English and French descriptions; documents and synopses; usage examples and glosses).
TEXT_FIELDS = {
    "debtrans-enfr": ("en", "fr"),
    "debsum": ("document", "summary"),
    "wndef": ("example", "definition"),
}


def split_file(data_dir: Path, name: str, split: str) -> Path:
    """`data_dir/name/split.jsonl`; a ValueError saying where to point `--data_dir` when it does not exist."""
    path = Path(data_dir) / name / f"{split}.jsonl"
    if not path.is_file():
        raise ValueError(f"{path} does not exist; pass --data_dir pointing at the folder holding {name}/.")
    return path


def column_texts(path: Path, columns: Sequence[str]) -> Iterator[tuple[str, dict]]:
    """(line, record) of each row of a JSON Lines file; a ValueError naming the line when a column is missing."""
    for where, record in iter_jsonl_file(path):
        missing = [column for column in columns if column not in record]
        if missing:
            raise ValueError(f"{where} has no field(s) {missing}.")
        yield where, record


def corpus_texts(data_dir: Path, names: Iterable[str], split: str = "train") -> Iterator[tuple[str, str]]:
    """(data set, text) for the `TEXT_FIELDS` of every row of `split` of the data sets `names`, in order (data set,
    row, field), with runs of whitespace (newlines included) made one space; empty texts are skipped. A field that
    is not a string (a number, a list, null) is a ValueError naming the file, line and field."""
    for name in names:
        for where, record in column_texts(split_file(data_dir, name, split), TEXT_FIELDS[name]):
            for field in TEXT_FIELDS[name]:
                if not isinstance(record[field], str):
                    raise ValueError(
                        f"{where}: field {field!r} must be a string, got {describe_value(record[field])}."
                    )
                text = " ".join(record[field].split())
                if text:
                    yield name, text


def tokenizer_training_texts(data_dir: Path, names: Iterable[str], split: str = "train") -> Iterator[str]:
    """The texts a vocabulary is fitted to: `corpus_texts` of the data sets `names`."""
    return (text for _, text in corpus_texts(data_dir, names, split))


def write_pretraining_text(data_dir: Path, names: Iterable[str], split: str, output_file: Path) -> dict[str, int]:
    """Writes `corpus_texts` of `split` of the data sets `names` to `output_file`, one document a line, through a
    temporary file (`write_atomically`). Returns the number of documents written per data set."""
    counts = dict.fromkeys(names, 0)

    def lines() -> Iterator[str]:
        for name, text in corpus_texts(data_dir, names, split):
            counts[name] += 1
            yield text + "\n"

    write_atomically(output_file, lines())  # a full disk leaves no partial corpus
    return counts


__all__ = [
    "DEFAULT_DATA_DIR",
    "TEXT_FIELDS",
    "column_texts",
    "corpus_texts",
    "split_file",
    "tokenizer_training_texts",
    "write_pretraining_text",
]
