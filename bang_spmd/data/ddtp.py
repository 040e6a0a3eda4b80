"""Debian's DDTP translation indexes (`Translation-<language>`): deb822 stanzas, description paragraphs, the split
group of a package name, and fetching the indexes with the machine's own apt configuration.

Shared by the builders of debsum (`Translation-en`) and debtrans (`Translation-en` with `Translation-fr`, ...).
"""

import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path


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
        if not line.strip(" \t"):  # deb822: only spaces and tabs make a line blank
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


def description_paragraphs(value: str) -> tuple[str, list[str]]:
    """`(synopsis, paragraphs)` of a `Description-<language>` value.

    The first line is the synopsis. The continuation lines (starting with a space) are the long description: each
    line is stripped, the lines of a paragraph are joined with one space (runs of spaces inside a line are kept), a
    lone " ." line separates paragraphs, and empty paragraphs are dropped. Lines that Debian shows verbatim (two
    leading spaces: lists, code) are treated like the others.
    """
    first, *rest = value.split("\n")
    paragraphs: list[list[str]] = [[]]
    for line in rest:
        text = line.strip()
        if text == ".":
            paragraphs.append([])
        elif text:
            paragraphs[-1].append(text)
    return first.strip(), [" ".join(p) for p in paragraphs if p]


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


def fetch_translations(
    workdir: str | Path, languages: Sequence[str] = ("en",), suite: str = "bookworm", component: str = "main"
) -> dict[str, Path]:
    """Downloads Debian's DDTP `Translation-<language>` indexes with apt and writes them, uncompressed, to
    `workdir/Translation-<language>`; returns their paths by language.

    The archive is the one this machine's apt is configured for (its own `sources.list` / `sources.list.d`
    entries and mirror): nothing here names a host. On a Debian-like machine with `apt-get` and
    `/usr/lib/apt/apt-helper`, and WITHOUT touching the system's apt state:

    1. runs `apt-get update` into the private lists folder `workdir/lists` (`Dir::State::Lists`) with
       `Acquire::Languages` set to `languages` and the `Packages` index target disabled, so only the release files
       (signatures checked with the configured keyrings) and the translation indexes are fetched; no package cache
       is written;
    2. decompresses each `*_dists_<suite>_<component>_i18n_Translation-<language>*` index it fetched with
       `/usr/lib/apt/apt-helper cat-file`.

    Root is not needed (as another user apt downloads without its `_apt` sandbox); `workdir` must be writable.
    Raises a ValueError when a tool is missing or apt fetched no index for a language of the suite (the configured
    sources then do not serve `suite`/`component`), and `subprocess.CalledProcessError` when apt-get fails (its
    output then says why).
    """
    helper = Path(APT_HELPER)
    if shutil.which("apt-get") is None or not helper.is_file():
        raise ValueError(f"fetch_translations needs apt-get and {APT_HELPER} (a Debian-like system).")
    if not languages:
        raise ValueError("Give at least one language to fetch.")
    workdir = Path(workdir).resolve()
    lists = workdir / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    options = {
        "Dir::State::Lists": str(lists),
        "Acquire::Languages": ",".join(languages),
        "Acquire::IndexTargets::deb::Packages::DefaultEnabled": "false",
        "Dir::Cache::pkgcache": "",
        "Dir::Cache::srcpkgcache": "",
    }
    command = ["apt-get", "update"]
    for name, value in options.items():
        command += ["-o", f"{name}={value}"]
    subprocess.run(command, check=True)
    paths = {}
    for language in languages:
        pattern = f"*_dists_{suite}_{component}_i18n_Translation-{language}*"
        fetched = sorted(p for p in lists.glob(pattern) if p.is_file())
        if not fetched:
            raise ValueError(
                f"apt-get update fetched no {pattern} into {lists}; do this machine's apt sources serve "
                f"{suite}/{component}, with {language!r} translations?"
            )
        target = workdir / f"Translation-{language}"
        with open(target, "wb") as out:
            subprocess.run([str(helper), "cat-file", str(fetched[0])], check=True, stdout=out)
        paths[language] = target
    return paths


__all__ = [
    "APT_HELPER",
    "STEM_PREFIXES",
    "description_paragraphs",
    "fetch_translations",
    "iter_stanzas",
    "package_stem",
]
