"""The generation data sets: builders (from public sources), loaders (of release formats), splits and plain text.

* `splits`: this package's group split (`group_split`, by a SHA-256 hash of a group key) and `write_splits`, which
  writes `train.jsonl`, `validation.jsonl` and `test.jsonl`;
* `ddtp`: Debian's DDTP translation indexes (deb822 stanzas, description paragraphs, package-name groups, fetching
  with the machine's own apt sources), shared by debsum and debtrans;
* `debsum`, `debtrans`, `wndef`: rebuild debsum (Debian package descriptions -> synopses), debtrans (English ->
  French, or another DDTP language, descriptions) and wndef (WordNet word + example -> definition) from their public
  sources;
* `squad_qg`, `xsum`: SQuAD 1.1 question generation and XSum from their usual release formats;
* `text_corpus`: the tokenizer's training text and the pretraining text of the shared data sets;
* `jsonl`: reading JSON and JSON Lines with errors that name the line.

Every builder returns `{"train": [...], "validation": [...], "test": [...]}`, lists of flat JSON-serialisable rows;
a new data set is one more module of this kind (`bang-prepare-data` runs them).
"""

from .jsonl import iter_json_lines, iter_jsonl_file, read_json
from .splits import SPLITS, check_fractions, group_bucket, group_split, split_of, write_splits


__all__ = [
    "SPLITS",
    "check_fractions",
    "group_bucket",
    "group_split",
    "iter_json_lines",
    "iter_jsonl_file",
    "read_json",
    "split_of",
    "write_splits",
]
