"""SQuAD 1.1 question generation: (answer, context) -> question, from the official SQuAD v1.1 JSON files.

`read_squad` turns `{"data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question", "answers":
[{"text", "answer_start"}]}]}]}]}` into rows `{"id", "answer", "context", "question"}` (the first answer; texts as
in the file), in file order. Questions marked `"is_impossible": true` (SQuAD 2.0 files) are skipped; any other
question without an answer is an error. Train with `--source_columns answer,context --target_column question`.

Splits (this package's choice; SQuAD's own test set is hidden): `build_squad_qg` splits the articles of the
official train file by title with `bang_spmd.data.group_split`; when the official dev file is given as
`test_file` it becomes the test split and the train file gives only train and validation (the convention of
Du et al. 2017, which also use the dev set as test). This does not reproduce the exact partitions of Du et al. or
GLGE, which were made with their own lists.
"""

from pathlib import Path

from .jsonl import read_json
from .splits import check_fractions, group_split


def read_squad(path: str | Path) -> list[dict[str, str]]:
    """Rows of a SQuAD v1.1 JSON file (see the module docstring); each row also carries its article `title`."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"SQuAD file {path} does not exist.")
    payload = read_json(path)
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise ValueError(f"{path} is not a SQuAD file: it needs a top-level object with a 'data' list.")
    rows = []
    for a, article in enumerate(payload["data"]):
        where = f"{path}: data[{a}]"
        _need(article, ("title", "paragraphs"), where)
        for p, paragraph in enumerate(article["paragraphs"]):
            _need(paragraph, ("context", "qas"), f"{where}.paragraphs[{p}]")
            for q, qa in enumerate(paragraph["qas"]):
                here = f"{where}.paragraphs[{p}].qas[{q}]"
                _need(qa, ("id", "question", "answers"), here)
                if qa.get("is_impossible"):
                    continue
                if not qa["answers"]:
                    raise ValueError(f"{here} (id {qa['id']!r}) has no answer.")
                _need(qa["answers"][0], ("text",), f"{here}.answers[0]")
                rows.append(
                    {
                        "id": str(qa["id"]),
                        "answer": qa["answers"][0]["text"],
                        "context": paragraph["context"],
                        "question": qa["question"],
                        "title": article["title"],
                    }
                )
    if not rows:
        raise ValueError(f"{path} holds no answerable question.")
    return rows


def _need(node, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(node, dict):
        raise ValueError(f"{where} is not a JSON object.")
    missing = [k for k in keys if k not in node]
    if missing:
        raise ValueError(f"{where} has no {missing} (keys: {sorted(node)}).")


def build_squad_qg(
    train_file: str | Path,
    test_file: str | Path | None = None,
    validation_fraction: float = 0.05,
    test_fraction: float = 0.05,
    seed: int = 0,
) -> dict[str, list[dict[str, str]]]:
    """Train/validation/test rows `{"id", "answer", "context", "question"}` split by article title (see above).

    With `test_file`, `test_fraction` is not used. Duplicate question ids across the files are a ValueError.
    """
    check_fractions(validation_fraction, test_fraction)
    rows = read_squad(train_file)
    if test_file is None:
        splits = group_split(rows, lambda r: r["title"], validation_fraction, test_fraction, seed)
    else:
        splits = group_split(rows, lambda r: r["title"], validation_fraction, 0.0, seed)
        splits["test"] = read_squad(test_file)
    seen: set[str] = set()
    for name in ("train", "validation", "test"):
        for row in splits[name]:
            if row["id"] in seen:
                raise ValueError(f"Question id {row['id']!r} occurs twice (last in the {name} split).")
            seen.add(row["id"])
    return {
        name: [{k: r[k] for k in ("id", "answer", "context", "question")} for r in rs] for name, rs in splits.items()
    }


__all__ = ["build_squad_qg", "read_squad"]
