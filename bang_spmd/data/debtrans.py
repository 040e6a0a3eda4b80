"""debtrans: English -> French (or another DDTP language) translation of Debian package descriptions.

Rebuilt from Debian's DDTP indexes (`Translation-en` and `Translation-<lang>` of one suite and component). A
translated stanza (`Package`, `Description-md5`, `Description-<lang>`) gives the translation of the English
description whose md5 it names; every pair gives (this package's rules, as the data README describes them):

* a `synopsis` record (`id` = `package#0`): the first line of each description;
* when both descriptions have the same number of paragraphs, one `paragraph` record per paragraph
  (`package#1`, `package#2`, ...): continuation lines stripped and joined with one space, a lone " ." separating
  paragraphs, exactly as `debsum.split_description` reads them.

Text is kept exactly as in the indexes (accents, typographic quotes and non-breaking spaces). Kept, in the order
of the translated index: records whose English side has `min_words` to `max_words` whitespace-separated words
(2..64) and whose target/source word ratio lies in [`min_ratio`, `max_ratio`] (0.3..3.5); of identical
(English, translation) pairs, the first. Splits are by package-name stem (`ddtp.package_stem`) with
`group_split`, as debsum.

Run on bookworm/main's indexes of 2026-12-01 (`bang-prepare-data debtrans --lang fr --fetch`), the builder writes
48,295 records, among them 45,773 of the 46,364 lines of this project's `debtrans-enfr` release byte for byte. Of
the other 591, 589 are identical pairs that the release keeps under another package sharing the description (which
of the packages of a duplicated pair is kept is not published), and 2 belong to packages with no stanza in the
translated index. The release's split rule is not published either: the splits here are this package's group rule.
"""

from collections.abc import Iterable
from pathlib import Path

from tqdm.auto import tqdm

from .ddtp import description_paragraphs, iter_stanzas, package_stem
from .splits import group_split


def read_descriptions(path: str | Path, language: str, progress: bool = True) -> list[dict[str, str]]:
    """All stanzas of a `Translation-<language>` file as `{"package", "md5", "description"}`, in file order.

    A stanza without `Package`, `Description-md5` or `Description-<language>` is a ValueError naming the file and
    line (the file is then not that language's DDTP index).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Translation file {path} does not exist.")
    field = f"Description-{language}"
    stanzas = []
    with open(path, encoding="utf-8") as f:
        for start, fields in tqdm(
            iter_stanzas(f, str(path)), desc=f"Reading Translation-{language}", unit=" stanzas", disable=not progress
        ):
            missing = [name for name in ("Package", "Description-md5", field) if name not in fields]
            if missing:
                raise ValueError(
                    f"{path}:{start}: stanza has no {missing} field(s); is this a Translation-{language} file?"
                )
            stanzas.append(
                {"package": fields["Package"], "md5": fields["Description-md5"], "description": fields[field]}
            )
    if not stanzas:
        raise ValueError(f"{path} holds no deb822 stanza.")
    return stanzas


def pair_records(
    english: Iterable[dict[str, str]], translated: Iterable[dict[str, str]], language: str
) -> list[dict[str, str]]:
    """The synopsis and paragraph records of every translated stanza whose md5 names an English description, in the
    order of `translated` (no filtering)."""
    english_by_md5: dict[str, str] = {}
    for stanza in english:
        english_by_md5.setdefault(stanza["md5"], stanza["description"])
    records = []
    for stanza in translated:
        source = english_by_md5.get(stanza["md5"])
        if source is None:
            continue
        source_synopsis, source_paragraphs = description_paragraphs(source)
        target_synopsis, target_paragraphs = description_paragraphs(stanza["description"])
        pairs = [("synopsis", source_synopsis, target_synopsis)]
        if len(source_paragraphs) == len(target_paragraphs):
            pairs += [("paragraph", s, t) for s, t in zip(source_paragraphs, target_paragraphs, strict=True)]
        for index, (kind, source_text, target_text) in enumerate(pairs):
            records.append(
                {"id": f"{stanza['package']}#{index}", "kind": kind, "en": source_text, language: target_text}
            )
    return records


def filter_pairs(
    records: Iterable[dict[str, str]],
    language: str,
    min_words: int = 2,
    max_words: int = 64,
    min_ratio: float = 0.3,
    max_ratio: float = 3.5,
) -> list[dict[str, str]]:
    """Keeps the records of the module docstring's length and ratio rules, and the first of identical pairs."""
    if not 1 <= min_words <= max_words:
        raise ValueError(f"Need 1 <= min_words <= max_words, got {min_words} and {max_words}.")
    if not 0 < min_ratio <= max_ratio:
        raise ValueError(f"Need 0 < min_ratio <= max_ratio, got {min_ratio} and {max_ratio}.")
    seen, kept = set(), []
    for record in records:
        source_words = len(record["en"].split())
        if not min_words <= source_words <= max_words:
            continue
        if not min_ratio <= len(record[language].split()) / source_words <= max_ratio:
            continue
        key = (record["en"], record[language])
        if key in seen:
            continue
        seen.add(key)
        kept.append(record)
    return kept


def build_debtrans(
    english_file: str | Path,
    translated_file: str | Path,
    language: str = "fr",
    validation_fraction: float = 0.05,
    test_fraction: float = 0.05,
    seed: int = 0,
    progress: bool = True,
    **filters,
) -> dict[str, list[dict[str, str]]]:
    """Reads both indexes, pairs, filters (`filter_pairs` keyword arguments in `filters`) and splits by
    `package_stem` of the package name."""
    records = pair_records(
        read_descriptions(english_file, "en", progress),
        read_descriptions(translated_file, language, progress),
        language,
    )
    kept = filter_pairs(records, language, **filters)
    return group_split(
        kept, lambda r: package_stem(r["id"].rsplit("#", 1)[0]), validation_fraction, test_fraction, seed
    )


__all__ = ["build_debtrans", "filter_pairs", "pair_records", "read_descriptions"]
