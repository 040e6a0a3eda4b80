"""debsum: Debian package descriptions -> one-line synopses, rebuilt from Debian's DDTP `Translation-en` index.

The source is a deb822 file of stanzas (`Package:`, `Description-md5:`, `Description-en:`). The first line of
`Description-en` is the synopsis (the `summary`); the continuation lines (starting with a space) are the long
description (the `document`): its paragraphs (`ddtp.description_paragraphs`) joined with a newline.

Kept, in this order (this package's choice, as described in the data README):

1. the first stanza of each package name (a `Translation-en` file may repeat a package with another description);
2. documents of `min_words` to `max_words` whitespace-separated words (default 20..400) whose summary has at least
   `min_summary_words` words (default 2);
3. the first record, in file order, of each distinct `document[:dedup_chars]` (default 100 characters).

Splits are by package-name stem (`package_stem`) with `bang_spmd.data.group_split` (5% validation, 5% test by
default). `ddtp.fetch_translations` obtains the file with the machine's apt.
"""

from collections.abc import Iterable
from pathlib import Path

from tqdm.auto import tqdm

from .ddtp import description_paragraphs, iter_stanzas, package_stem
from .splits import group_split


def split_description(value: str) -> tuple[str, str]:
    """`(summary, document)` from a `Description-en` value: the synopsis, and the paragraphs of
    `ddtp.description_paragraphs` joined with a newline."""
    summary, paragraphs = description_paragraphs(value)
    return summary, "\n".join(paragraphs)


def read_translation(path: str | Path, progress: bool = True) -> list[dict[str, str]]:
    """All stanzas of a `Translation-en` file as `{"id": package, "document", "summary"}`, in file order.

    No filtering here (see `filter_records`). A stanza without `Package` or `Description-en` is a ValueError (the
    file is then not a DDTP English translation index).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Translation file {path} does not exist.")
    records = []
    with open(path, encoding="utf-8") as f:
        stanzas = tqdm(
            iter_stanzas(f, str(path)), desc="Reading Translation-en", unit=" stanzas", disable=not progress
        )
        for start, fields in stanzas:
            if "Package" not in fields:
                raise ValueError(f"{path}:{start}: stanza has no Package field.")
            if "Description-en" not in fields:
                raise ValueError(
                    f"{path}:{start}: stanza of {fields['Package']!r} has no Description-en field; is this a "
                    "Translation-en file?"
                )
            summary, document = split_description(fields["Description-en"])
            records.append({"id": fields["Package"], "document": document, "summary": summary})
    if not records:
        raise ValueError(f"{path} holds no deb822 stanza.")
    return records


def filter_records(
    records: Iterable[dict[str, str]],
    min_words: int = 20,
    max_words: int = 400,
    min_summary_words: int = 2,
    dedup_chars: int = 100,
) -> list[dict[str, str]]:
    """Applies the three rules of the module docstring (first stanza per package, lengths, prefix de-duplication)."""
    if min_words < 0 or max_words < min_words:
        raise ValueError(f"Need 0 <= min_words <= max_words, got {min_words} and {max_words}.")
    if dedup_chars < 1:
        raise ValueError(f"dedup_chars must be positive, got {dedup_chars}.")
    packages, prefixes, kept = set(), set(), []
    for record in records:
        if record["id"] in packages:
            continue
        packages.add(record["id"])
        if not min_words <= len(record["document"].split()) <= max_words:
            continue
        if len(record["summary"].split()) < min_summary_words:
            continue
        prefix = record["document"][:dedup_chars]
        if prefix in prefixes:
            continue
        prefixes.add(prefix)
        kept.append(record)
    return kept


def build_debsum(
    translation_file: str | Path,
    validation_fraction: float = 0.05,
    test_fraction: float = 0.05,
    seed: int = 0,
    progress: bool = True,
    **filters,
) -> dict[str, list[dict[str, str]]]:
    """Reads, filters (`filter_records` keyword arguments in `filters`) and splits by `package_stem`."""
    records = filter_records(read_translation(translation_file, progress=progress), **filters)
    return group_split(records, lambda r: package_stem(r["id"]), validation_fraction, test_fraction, seed)


__all__ = ["build_debsum", "filter_records", "read_translation", "split_description"]
