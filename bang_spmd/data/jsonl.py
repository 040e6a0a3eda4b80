"""Reading JSON and JSON Lines files with errors that name the file and the line.

`iter_json_lines` yields the objects of JSON Lines text one line at a time; `read_json` loads a whole JSON file.
Both raise a ValueError naming the place of a bad line (invalid JSON, not an object) instead of a JSONDecodeError.
`write_json_lines` writes rows atomically.
"""

import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any


def iter_json_lines(
    lines: Iterable[str],
    name: str,
    where: Callable[[int], str] | None = None,
    skip_blank: bool = True,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yields (`where(line number)`, object) for each line of JSON Lines text, line numbers from 1.

    `where` names a line in errors (default `"{name}:{number}"`). A blank line is skipped, or with `skip_blank=False`
    an error; invalid JSON and a line that is not a JSON object are errors.
    """
    where = where or (lambda number: f"{name}:{number}")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            if skip_blank:
                continue
            raise ValueError(f"{where(number)} is empty; a .jsonl input has one JSON object per line.")
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where(number)} is not valid JSON: {error}.") from error
        if not isinstance(record, dict):
            raise ValueError(f"{where(number)} is not a JSON object.")
        yield where(number), record


def iter_jsonl_file(path: str | Path, **kwargs: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """`iter_json_lines` over a UTF-8 file, read line by line."""
    with open(path, encoding="utf-8") as lines:
        yield from iter_json_lines(lines, str(path), **kwargs)


def read_json(path: str | Path) -> Any:
    """The content of a UTF-8 JSON file; a ValueError naming the file when it is not valid JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}.") from error


def write_json_lines(rows: Iterable[dict], path: str | Path) -> None:
    """Writes one JSON object a line (UTF-8, non-ASCII kept) through a temporary file in the same folder and a
    rename, so an interrupted write leaves no partial output."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


__all__ = ["iter_json_lines", "iter_jsonl_file", "read_json", "write_json_lines"]
