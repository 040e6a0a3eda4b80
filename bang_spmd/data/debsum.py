"""debsum: Debian package descriptions -> one-line synopses, rebuilt from Debian's DDTP `Translation-en` index.

The source is a deb822 file of stanzas (`Package:`, `Description-md5:`, `Description-en:`). The first line of
`Description-en` is the synopsis (the `summary`); the continuation lines (starting with a space) are the long
description (the `document`): each line is stripped, lines of a paragraph are joined with one space (runs of spaces
inside a line are kept), a lone " ." line separates paragraphs, and paragraphs are joined with a newline. Lines that
Debian shows verbatim (two leading spaces: lists, code) are treated like the others.

Kept, in this order (this package's choice, as described in the data README):

1. the first stanza of each package name (a `Translation-en` file may repeat a package with another description);
2. documents of `min_words` to `max_words` whitespace-separated words (default 20..400) whose summary has at least
   `min_summary_words` words (default 2);
3. the first record, in file order, of each distinct `document[:dedup_chars]` (default 100 characters).

Splits are by package-name stem (`package_stem`) with `bang_spmd.data.group_split` (5% validation, 5% test by
default). `fetch_translation_en` obtains the file with apt (see its docstring).
"""

import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

from tqdm.auto import tqdm

from .splits import group_split


APT_HELPER = "/usr/lib/apt/apt-helper"

# Prefixes naming a language ecosystem or a packaging convention rather than the software: stripped by
# `package_stem` so that e.g. `libfoo-dev`, `python3-foo` and `node-foo` share the group `foo`.
STEM_PREFIXES = (
    "python3-",
    "python-",
    "node-",
    "r-cran-",
    "r-bioc-",
    "golang-github-",
    "golang-",
    "ruby-",
    "php-",
    "elpa-",
    "fonts-",
    "libjs-",
    "lib",
)


def iter_stanzas(lines: Iterable[str], source: str = "<input>") -> Iterator[tuple[int, dict[str, str]]]:
    """Yields `(line number of the stanza's first line, fields)` for each deb822 stanza of `lines`.

    A field's value keeps its continuation lines, each on its own line with its leading space. Stanzas are separated
    by blank lines; a continuation line before any field, or a field line without a colon, is a ValueError naming
    `source` and the line number.
    """
    fields: dict[str, str] = {}
    start = 0
    name = None
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            if fields:
                yield start, fields
            fields, name = {}, None
            continue
        if line[0] in " \t":
            if name is None:
                raise ValueError(f"{source}:{number}: continuation line outside a field: {line!r}")
            fields[name] += "\n" + line
            continue
        if ":" not in line:
            raise ValueError(f"{source}:{number}: a deb822 field line needs 'Name: value', got {line!r}")
        if not fields:
            start = number
        name, _, value = line.partition(":")
        name = name.strip()
        fields[name] = value.strip()
    if fields:
        yield start, fields


def split_description(value: str) -> tuple[str, str]:
    """`(summary, document)` from a `Description-en` value (see the module docstring for the rules)."""
    first, *rest = value.split("\n")
    paragraphs: list[list[str]] = [[]]
    for line in rest:
        text = line.strip()
        if text == ".":
            paragraphs.append([])
        elif text:
            paragraphs[-1].append(text)
    return first.strip(), "\n".join(" ".join(p) for p in paragraphs if p)


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


def package_stem(package: str) -> str:
    """The split group of a package name (this package's rule).

    Lower-case; strip the first matching prefix of `STEM_PREFIXES` (if something is left); keep the part before
    the first `-`; strip trailing digits and dots (sonames, versions) unless nothing would be left. So
    `libxalan2-java`, `libxalan-c112` and `xalan` all give `xalan`; `python3-zope.event` gives `zope.event`.
    """
    name = package.lower()
    for prefix in STEM_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix) :]
            break
    head = name.split("-", 1)[0] or name
    return re.sub(r"[\d.]+$", "", head) or head


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


def fetch_translation_en(
    workdir: str | Path,
    suite: str = "bookworm",
    component: str = "main",
    mirror: str = "http://deb.debian.org/debian",
    keyring: str = "/usr/share/keyrings/debian-archive-keyring.gpg",
) -> Path:
    """Downloads Debian's `Translation-en` index with apt and writes it, uncompressed, to `workdir/Translation-en`.

    Shells out, on a Debian-like machine with `apt-get` and `/usr/lib/apt/apt-helper` and network access to
    `mirror`, WITHOUT touching the system's apt state:

    1. writes `workdir/sources.list` with the one line `deb [signed-by=KEYRING] MIRROR SUITE COMPONENT` and uses it
       instead of the system's sources (`Dir::Etc::SourceList`, an empty `Dir::Etc::SourceParts`);
    2. runs `apt-get update` into the private lists folder `workdir/lists` (`Dir::State::Lists`) with
       `Acquire::Languages "en"` and the `Packages` index target disabled, so only `InRelease` (signature checked
       against `keyring`) and `Translation-en` are fetched; no package cache is written;
    3. decompresses the fetched index with `/usr/lib/apt/apt-helper cat-file`.

    Root is not needed (as another user apt downloads without its `_apt` sandbox); `workdir` must be writable.
    Raises a ValueError when a tool is missing or apt fetched no `Translation-en` for the suite, and
    `subprocess.CalledProcessError` when apt-get fails (its output then says why).
    """
    helper = Path(APT_HELPER)
    if shutil.which("apt-get") is None or not helper.is_file():
        raise ValueError(f"fetch_translation_en needs apt-get and {APT_HELPER} (a Debian-like system).")
    if not Path(keyring).is_file():
        raise ValueError(f"The archive keyring {keyring} does not exist (apt-get install debian-archive-keyring).")
    workdir = Path(workdir).resolve()
    lists, parts = workdir / "lists", workdir / "sources.list.d"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    parts.mkdir(exist_ok=True)
    sources = workdir / "sources.list"
    sources.write_text(f"deb [signed-by={keyring}] {mirror} {suite} {component}\n", encoding="utf-8")
    options = {
        "Dir::State::Lists": str(lists),
        "Dir::Etc::SourceList": str(sources),
        "Dir::Etc::SourceParts": str(parts),
        "Acquire::Languages": "en",
        "Acquire::IndexTargets::deb::Packages::DefaultEnabled": "false",
        "Dir::Cache::pkgcache": "",
        "Dir::Cache::srcpkgcache": "",
    }
    command = ["apt-get", "update"]
    for name, value in options.items():
        command += ["-o", f"{name}={value}"]
    subprocess.run(command, check=True)
    pattern = f"*_dists_{suite}_{component}_i18n_Translation-en*"
    fetched = sorted(p for p in lists.glob(pattern) if p.is_file())
    if not fetched:
        raise ValueError(f"apt-get update fetched no {pattern} into {lists}; does {mirror} serve {suite}/{component}?")
    target = workdir / "Translation-en"
    with open(target, "wb") as out:
        subprocess.run([str(helper), "cat-file", str(fetched[0])], check=True, stdout=out)
    return target


__all__ = [
    "APT_HELPER",
    "STEM_PREFIXES",
    "build_debsum",
    "fetch_translation_en",
    "filter_records",
    "iter_stanzas",
    "package_stem",
    "read_translation",
    "split_description",
]
