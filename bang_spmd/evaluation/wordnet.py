"""Prepare an NLTK data folder with WordNet 3.0 from Debian's packages, offline (nltk's METEOR needs it).

    apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index
    bang-prepare-wordnet                    # into $NLTK_DATA (first entry) or ~/nltk_data
    bang-prepare-wordnet --target /opt/nltk_data --overwrite

nltk's WordNet reader wants the database files in `<target>/corpora/wordnet/` together with `lexnames`, the list of
WordNet 3.0's 45 lexicographer files, which Debian does not ship as a file. This module COPIES the files (nltk
3.10's path check refuses corpus files whose real path leaves the corpus folder, so symbolic links to
/usr/share/wordnet fail), writes `lexnames` from `LEXNAMES` after checking it against the lexicographer file
numbers used in the `data.*` files, and checks that nltk can then read the corpus. `index.sense` (package
`wordnet-sense-index`) is copied when present; nltk only needs it for sense-key look-ups, not for METEOR.
"""

import os
import shutil
from pathlib import Path


DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
APT_INSTALL = "apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index"
REQUIRED_FILES = (
    "data.adj",
    "data.adv",
    "data.noun",
    "data.verb",
    "index.adj",
    "index.adv",
    "index.noun",
    "index.verb",
    "adj.exc",
    "adv.exc",
    "noun.exc",
    "verb.exc",
    "cntlist.rev",
)
OPTIONAL_FILES = ("index.sense",)

# WordNet 3.0's lexicographer files (lexnames(5WN)): number = position, name, syntactic category
# (1 noun, 2 verb, 3 adjective, 4 adverb).
LEXNAMES = (
    ("adj.all", 3),
    ("adj.pert", 3),
    ("adv.all", 4),
    ("noun.Tops", 1),
    ("noun.act", 1),
    ("noun.animal", 1),
    ("noun.artifact", 1),
    ("noun.attribute", 1),
    ("noun.body", 1),
    ("noun.cognition", 1),
    ("noun.communication", 1),
    ("noun.event", 1),
    ("noun.feeling", 1),
    ("noun.food", 1),
    ("noun.group", 1),
    ("noun.location", 1),
    ("noun.motive", 1),
    ("noun.object", 1),
    ("noun.person", 1),
    ("noun.phenomenon", 1),
    ("noun.plant", 1),
    ("noun.possession", 1),
    ("noun.process", 1),
    ("noun.quantity", 1),
    ("noun.relation", 1),
    ("noun.shape", 1),
    ("noun.state", 1),
    ("noun.substance", 1),
    ("noun.time", 1),
    ("verb.body", 2),
    ("verb.change", 2),
    ("verb.cognition", 2),
    ("verb.communication", 2),
    ("verb.competition", 2),
    ("verb.consumption", 2),
    ("verb.contact", 2),
    ("verb.creation", 2),
    ("verb.emotion", 2),
    ("verb.motion", 2),
    ("verb.perception", 2),
    ("verb.possession", 2),
    ("verb.social", 2),
    ("verb.stative", 2),
    ("verb.weather", 2),
    ("adj.ppl", 3),
)
_CATEGORY_OF_FILE = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def lexnames_text() -> str:
    """The `lexnames` file: `NN<TAB>name<TAB>category` lines, numbers zero-padded to two digits."""
    return "".join(f"{number:02d}\t{name}\t{category}\n" for number, (name, category) in enumerate(LEXNAMES))


def check_lexnames(source: str | Path = DEBIAN_WORDNET_DIR) -> None:
    """Raises a ValueError unless every lexicographer file number used in `source/data.*` names, in `LEXNAMES`, a
    file of that data file's part of speech (e.g. data.verb uses exactly 29..43, all `verb.*`)."""
    source = Path(source)
    for pos, category in _CATEGORY_OF_FILE.items():
        used = set()
        with open(source / f"data.{pos}", encoding="utf-8") as f:
            for line in f:
                if not line.startswith(" "):
                    used.add(int(line.split(" ", 2)[1]))
        expected = {n for n, (name, cat) in enumerate(LEXNAMES) if cat == category}
        if not used or not used <= expected or any(not LEXNAMES[n][0].startswith(pos + ".") for n in used):
            raise ValueError(
                f"data.{pos} in {source} uses lexicographer files {sorted(used)}, which LEXNAMES does not give as "
                f"{pos} files ({sorted(expected)}); is this WordNet 3.0?"
            )


def default_target() -> Path:
    """The first entry of `$NLTK_DATA` if set, else `~/nltk_data` (both on nltk's default search path)."""
    env = os.environ.get("NLTK_DATA", "")
    first = env.split(os.pathsep)[0] if env else ""
    return Path(first).expanduser() if first else Path.home() / "nltk_data"


def prepare_nltk_wordnet(
    target: str | Path | None = None, source: str | Path = DEBIAN_WORDNET_DIR, overwrite: bool = False
) -> Path:
    """Copies WordNet from `source` into `target/corpora/wordnet/` with a `lexnames` file; returns that folder.

    Raises a ValueError when `source` lacks a required file (install the Debian packages) or when the target folder
    exists and is not empty while `overwrite` is False.
    """
    source = Path(source)
    target = Path(target) if target is not None else default_target()
    missing = [name for name in REQUIRED_FILES if not (source / name).is_file()]
    if missing:
        raise ValueError(f"{source} lacks the WordNet file(s) {missing}; install them with `{APT_INSTALL}`.")
    check_lexnames(source)
    folder = target / "corpora" / "wordnet"
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise ValueError(f"{folder} already exists and is not empty; pass --overwrite to replace its files.")
    folder.mkdir(parents=True, exist_ok=True)
    for name in REQUIRED_FILES + OPTIONAL_FILES:
        if (source / name).is_file():
            destination = folder / name
            if destination.is_symlink():
                destination.unlink()
            shutil.copyfile(source / name, destination)  # follows links in source: a real copy
    (folder / "lexnames").write_text(lexnames_text(), encoding="ascii")
    return folder


def find_nltk_wordnet() -> Path | None:
    """The WordNet folder (or zip) nltk would load from its search path, or None when there is none."""
    import nltk

    try:
        found = Path(str(nltk.data.find("corpora/wordnet")))
    except LookupError:
        try:
            found = Path(str(nltk.data.find("corpora/wordnet.zip")))
        except LookupError:
            return None
    if found.is_dir() and not all((found / name).is_file() for name in ("lexnames", "data.noun", "index.noun")):
        return None
    return found


def check_with_nltk(root: str | Path) -> str:
    """Loads the corpus under `root/corpora/wordnet` with nltk and returns a short description; raises on failure.

    `root` is put on `nltk.data.path` for the check (nltk only opens corpora under its search path) and taken off
    again.
    """
    import warnings

    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = str(Path(root).resolve())
    added = root not in nltk.data.path
    if added:
        nltk.data.path.insert(0, root)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "multilingual functions are not available": no OMW, not needed
            reader = WordNetCorpusReader(str(Path(root) / "corpora" / "wordnet"), None)
        dog = reader.synset("dog.n.01")
        return f"WordNet {reader.get_version()}: dog.n.01 = {dog.definition()!r} ({dog.lexname()})"
    finally:
        if added:
            nltk.data.path.remove(root)
