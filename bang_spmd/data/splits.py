"""The splits of the generation data sets and the files they are written to.

Every builder of `bang_spmd.data` returns `{"train": [...], "validation": [...], "test": [...]}`, lists of flat
JSON-serialisable rows, and `write_splits` writes them as `train.jsonl`, `validation.jsonl` and `test.jsonl`.

Splits made here are by group, with this package's rule (`group_split`): a group goes to validation, test or
train according to a SHA-256 hash of its key, so the assignment of a group never depends on the other groups (adding
or removing records elsewhere moves nothing) and never on Python's per-process `hash` seed. Rows keep their input
order within each split.
"""

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from bang_spmd.trainers.run_files import write_atomically


SPLITS = ("train", "validation", "test")


def check_fractions(validation_fraction: float, test_fraction: float) -> None:
    """Raises a ValueError unless both fractions lie in [0, 1) and leave a non-empty share for train."""
    for name, value in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}.")
    if validation_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"validation_fraction + test_fraction must be below 1 (train would be empty), got "
            f"{validation_fraction} + {test_fraction}."
        )


def group_bucket(key: str, seed: int = 0) -> float:
    """The group's position in [0, 1): the first 64 bits of SHA-256 of `"{seed}:{key}"` (UTF-8) divided by 2**64."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_of(key: str, validation_fraction: float, test_fraction: float, seed: int = 0) -> str:
    """`validation` when the group's bucket is below `validation_fraction`, `test` below the sum of both, else
    `train`. Fractions are of groups (of rows only in expectation)."""
    bucket = group_bucket(key, seed)
    if bucket < validation_fraction:
        return "validation"
    if bucket < validation_fraction + test_fraction:
        return "test"
    return "train"


def group_split(
    rows: Iterable[Mapping[str, Any]],
    key: Callable[[Mapping[str, Any]], str],
    validation_fraction: float = 0.05,
    test_fraction: float = 0.05,
    seed: int = 0,
) -> dict[str, list]:
    """Splits `rows` by the group `key(row)` with `split_of`; rows keep their order within each split."""
    check_fractions(validation_fraction, test_fraction)
    splits: dict[str, list] = {name: [] for name in SPLITS}
    cache: dict[str, str] = {}
    for row in rows:
        group = key(row)
        if group not in cache:
            cache[group] = split_of(group, validation_fraction, test_fraction, seed)
        splits[cache[group]].append(row)
    return splits


def write_splits(splits: Mapping[str, list], output_dir: str | Path, overwrite: bool = False) -> dict[str, int]:
    """Writes `{split}.jsonl` (UTF-8, one JSON object a line, non-ASCII kept) for train, validation and test.

    Raises a ValueError before writing anything when one of the files exists and `overwrite` is False. Each file is
    written through a temporary file (`write_atomically`): a full disk leaves it whole or absent (an existing one
    keeps its former content) and is an OSError naming it. Returns the number of rows written per split.
    """
    output_dir = Path(output_dir)
    missing = [name for name in SPLITS if name not in splits]
    if missing:
        raise ValueError(f"The splits {missing} are missing (got {sorted(splits)}).")
    paths = {name: output_dir / f"{name}.jsonl" for name in SPLITS}
    existing = [str(path) for path in paths.values() if path.exists()]
    if existing and not overwrite:
        raise ValueError(f"{', '.join(existing)} already exist(s); pass --overwrite to replace.")
    output_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, path in paths.items():  # each file whole or not replaced (a full disk names it)
        write_atomically(path, (json.dumps(row, ensure_ascii=False) + "\n" for row in splits[name]))
        counts[name] = len(splits[name])
    return counts


__all__ = ["SPLITS", "check_fractions", "group_bucket", "group_split", "split_of", "write_splits"]
