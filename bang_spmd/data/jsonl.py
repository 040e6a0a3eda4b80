"""Reading JSON and JSON Lines files with errors that name the file and the line.

`iter_json_lines` yields the objects of JSON Lines text one line at a time; `read_json` loads a whole JSON file.
Both raise a ValueError naming the place of a bad line (invalid JSON, not an object, a key given twice in one object)
instead of a JSONDecodeError, or a `datasets` DatasetGenerationError later.
`check_jsonl_file` checks a whole file (its text columns hold non-empty strings) before anything expensive starts.
`write_json_lines` writes rows atomically.
"""

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bang_spmd.trainers.run_files import write_atomically
from bang_spmd.trainers.seq2seq_data import check_text, describe_value


class _DuplicateKeyError(ValueError):
    """A JSON object that gives one key twice (`json` would silently keep the last value)."""


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json.loads`'s `object_pairs_hook`: the object of `pairs`, or a `_DuplicateKeyError` naming a repeated key."""
    record = {}
    for key, value in pairs:
        if key in record:
            raise _DuplicateKeyError(f"the key {key!r} appears twice in one object (one of its values would be lost)")
        record[key] = value
    return record


def _loads(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_object_without_duplicate_keys)


def iter_json_lines(
    lines: Iterable[str],
    name: str,
    where: Callable[[int], str] | None = None,
    skip_blank: bool = True,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yields (`where(line number)`, object) for each line of JSON Lines text, line numbers from 1.

    `where` names a line in errors (default `"{name}:{number}"`). A blank line is skipped, or with `skip_blank=False`
    an error; invalid JSON, a line that is not a JSON object and an object that gives a key twice are errors.
    """
    where = where or (lambda number: f"{name}:{number}")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            if skip_blank:
                continue
            raise ValueError(f"{where(number)} is empty; a .jsonl input has one JSON object per line.")
        try:
            record = _loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where(number)} is not valid JSON: {error}.") from error
        except _DuplicateKeyError as error:
            raise ValueError(f"{where(number)}: {error}.") from None
        if not isinstance(record, dict):
            raise ValueError(f"{where(number)} is not a JSON object.")
        yield where(number), record


def _utf8_lines(raw_lines: Iterable[bytes], path: str | Path) -> Iterator[str]:
    for number, raw in enumerate(raw_lines, 1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}:{number} is not UTF-8 text ({error.reason} at byte {error.start}).") from None


def iter_jsonl_file(path: str | Path, **kwargs: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """`iter_json_lines` over a UTF-8 file, read line by line (a line that is not UTF-8 is a ValueError naming it)."""
    with open(path, "rb") as raw_lines:
        yield from iter_json_lines(_utf8_lines(raw_lines, path), str(path), **kwargs)


def read_json(path: str | Path) -> Any:
    """The content of a UTF-8 JSON file; a ValueError naming the file when it is not valid JSON or an object in it
    gives a key twice."""
    try:
        with open(path, encoding="utf-8") as f:
            return _loads(f.read())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}.") from error
    except _DuplicateKeyError as error:
        raise ValueError(f"{path}: {error}.") from None


def require_data_file(path: str | Path, what: str = "Data file") -> None:
    """A ValueError naming `path` when it is a folder or does not exist, before anything reads it."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder; give the JSON Lines file.")
    if not path.is_file():
        raise ValueError(f"{what} {path} does not exist.")


def check_jsonl_file(
    path: str | Path,
    text_columns: Sequence[str],
    what: str = "data file",
    check_row: Callable[[str, dict[str, Any]], None] | None = None,
    may_be_empty: Sequence[str] = (),
) -> int:
    """Reads a JSON Lines file before it is used and returns its number of rows.

    A ValueError names the file and line (`path:line`), the column and what was expected for: a missing file, a line
    that is not valid JSON or not an object, an object that gives a key twice (the key named), a row without one of
    `text_columns` or whose value there is not a non-empty string (a number, a list, null, only spaces; the columns
    of `may_be_empty`, e.g. the text pair of a source, must be strings but may be empty), and a file without any
    row. `check_row(where, row)` may check further
    columns. Blank lines are skipped, as `datasets` does.
    """
    path = Path(path)
    require_data_file(path, f"The {what}")
    rows = 0
    for where, row in iter_jsonl_file(path):
        rows += 1
        missing = [c for c in text_columns if c not in row]
        if missing:
            raise ValueError(f"{where}: no column(s) {missing} (the row has {sorted(row)}).")
        for column in text_columns:
            if column in may_be_empty and isinstance(row[column], str):
                continue
            check_text(row[column], where, column)
        if check_row is not None:
            check_row(where, row)
    if rows == 0:
        raise ValueError(f"The {what} {path} has no rows: it is empty.")
    return rows


def write_json_lines(rows: Iterable[dict], path: str | Path) -> None:
    """Writes one JSON object a line (UTF-8, non-ASCII kept) through a temporary file in the same folder, fsync'ed,
    and a rename (`bang_spmd.trainers.run_files.write_atomically`), so an interrupted write leaves no partial
    output."""
    write_atomically(path, (json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


__all__ = [
    "check_jsonl_file",
    "check_text",
    "describe_value",
    "iter_json_lines",
    "iter_jsonl_file",
    "read_json",
    "require_data_file",
    "write_json_lines",
]
