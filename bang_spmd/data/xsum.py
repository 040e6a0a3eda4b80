"""XSum (BBC article -> one-sentence summary) from its two usual layouts, as rows `{"id", "document", "summary"}`.

1. JSON Lines with `id`, `document` and `summary` fields, one file per split (as the Hugging Face `xsum` data set
   exports): `read_xsum_jsonl` checks the fields and keeps only these three (texts unchanged, `id` as a string).
2. The original release: a folder of `<id>.summary` files, each with the sections `[SN]URL[SN]`, `[SN]TITLE[SN]`,
   `[SN]FIRST-SENTENCE[SN]` and `[SN]RESTBODY[SN]`, plus the split file `XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json`
   (`{"train": [ids], "validation": [ids], "test": [ids]}`). `parse_summary_file` takes the FIRST-SENTENCE
   section as the `summary` (its lines stripped and joined with a space) and the RESTBODY section as the `document`
   (its non-empty lines stripped and joined with a newline, one paragraph a line); URL and TITLE are not used.

Rows keep the order of the JSON Lines file or of the split file's id list; empty documents or summaries are kept
(filtering is left to the user). The splits are XSum's own.
"""

import re
from pathlib import Path

from tqdm.auto import tqdm

from .jsonl import iter_jsonl_file, read_json
from .splits import SPLITS


SECTIONS = ("URL", "TITLE", "FIRST-SENTENCE", "RESTBODY")
_HEADER = re.compile(r"^\[SN\]([A-Z-]+)\[SN\]\s*$")


def read_xsum_jsonl(path: str | Path) -> list[dict[str, str]]:
    """Rows of one XSum JSON Lines file; a missing field, a non-object line or invalid JSON is a ValueError."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"XSum file {path} does not exist.")
    rows = []
    for where, record in iter_jsonl_file(path):
        missing = [k for k in ("id", "document", "summary") if k not in record]
        if missing:
            raise ValueError(f"{where} has no {missing} (keys: {sorted(record)}).")
        rows.append({"id": str(record["id"]), "document": record["document"], "summary": record["summary"]})
    return rows


def parse_summary_file(path: str | Path) -> dict[str, str]:
    """`{"id", "document", "summary"}` of one `<id>.summary` file of the original release (`id`: the file stem)."""
    path = Path(path)
    sections: dict[str, list[str]] = {}
    current = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            match = _HEADER.match(line)
            if match:
                current = match.group(1)
                if current not in SECTIONS:
                    raise ValueError(f"{path}: unknown section [SN]{current}[SN] (expected {list(SECTIONS)}).")
                sections[current] = []
            elif current is not None:
                sections[current].append(line.strip())
            elif line.strip():
                raise ValueError(f"{path}: text before the first [SN]...[SN] section header.")
    missing = [s for s in ("FIRST-SENTENCE", "RESTBODY") if s not in sections]
    if missing:
        raise ValueError(f"{path} has no {', '.join(f'[SN]{s}[SN]' for s in missing)} section.")
    summary = " ".join(x for x in sections["FIRST-SENTENCE"] if x)
    document = "\n".join(x for x in sections["RESTBODY"] if x)
    return {"id": path.name[: -len(".summary")], "document": document, "summary": summary}


def read_xsum_release(
    summary_dir: str | Path, split_file: str | Path, skip_missing: bool = False, progress: bool = True
) -> dict[str, list[dict[str, str]]]:
    """The three splits of the original release: the split file's ids, each read from `summary_dir/<id>.summary`.

    A split file without the three lists, an id listed twice, or (unless `skip_missing`) an id without its file is
    a ValueError; with `skip_missing` such ids are left out.
    """
    summary_dir, split_file = Path(summary_dir), Path(split_file)
    if not summary_dir.is_dir():
        raise ValueError(f"XSum summary folder {summary_dir} does not exist.")
    if not split_file.is_file():
        raise ValueError(f"XSum split file {split_file} does not exist.")
    ids = read_json(split_file)
    if not isinstance(ids, dict) or any(not isinstance(ids.get(s), list) for s in SPLITS):
        raise ValueError(f"{split_file} needs an object with the id lists {list(SPLITS)}.")
    seen: set[str] = set()
    splits = {}
    for name in SPLITS:
        rows, absent = [], []
        for raw_id in tqdm(ids[name], desc=f"Reading XSum {name}", unit=" files", disable=not progress):
            doc_id = str(raw_id)
            if doc_id in seen:
                raise ValueError(f"{split_file}: id {doc_id!r} is listed twice (again in {name}).")
            seen.add(doc_id)
            path = summary_dir / f"{doc_id}.summary"
            if not path.is_file():
                absent.append(doc_id)
                continue
            rows.append(parse_summary_file(path))
        if absent and not skip_missing:
            raise ValueError(
                f"{len(absent)} {name} id(s) of {split_file} have no .summary file in {summary_dir} (first: "
                f"{absent[:3]}); pass skip_missing (--skip_missing) to leave them out."
            )
        splits[name] = rows
    return splits


def build_xsum(
    train_file: str | Path | None = None,
    validation_file: str | Path | None = None,
    test_file: str | Path | None = None,
    summary_dir: str | Path | None = None,
    split_file: str | Path | None = None,
    skip_missing: bool = False,
    progress: bool = True,
) -> dict[str, list[dict[str, str]]]:
    """Either the three JSON Lines files or `summary_dir` with `split_file`; anything else is a ValueError."""
    jsonl = (train_file, validation_file, test_file)
    if summary_dir is not None or split_file is not None:
        if any(p is not None for p in jsonl):
            raise ValueError("Give either the JSON Lines files or --summary_dir with --split_file, not both.")
        if summary_dir is None or split_file is None:
            raise ValueError("The original XSum release needs both --summary_dir and --split_file.")
        return read_xsum_release(summary_dir, split_file, skip_missing=skip_missing, progress=progress)
    if any(p is None for p in jsonl):
        raise ValueError(
            "Give --train_file, --validation_file and --test_file (JSON Lines), or --summary_dir and "
            "--split_file (original release)."
        )
    return {name: read_xsum_jsonl(path) for name, path in zip(SPLITS, jsonl, strict=True)}


__all__ = ["SECTIONS", "build_xsum", "parse_summary_file", "read_xsum_jsonl", "read_xsum_release"]
