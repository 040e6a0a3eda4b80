"""wndef: WordNet word + usage example -> gloss, rebuilt from Princeton WordNet 3.0's database files.

This package reads the `index.{adj,adv,noun,verb}` and `data.{adj,adv,noun,verb}` files directly (the Debian package
`wordnet-base` installs them in `/usr/share/wordnet`); no NLTK data folder is needed, the build takes seconds, and a
few hand-written lines make a test fixture. The records are the ones nltk's WordNet reader (nltk 3.10) gives for
the same files:

- one record per synset with at least one usage example, in the order adj, adv, noun, verb and file offset;
- `id`: the synset name `lemma.pos.NN` (first lemma lower-cased; `pos` is `n`, `v`, `a`, `r` or `s` for adjective
  satellites; `NN` the 1-based position of the synset among the lemma's senses in `index.POS`, counting only
  satellites for `s`);
- `word`: the first lemma, syntactic marker such as `(p)` removed, underscores as spaces, case kept;
- `example`: the first double-quoted text of the gloss, as is (no stripping);
- `definition`: the gloss with every double-quoted text removed, then stripped of spaces and `;` at both ends.

Splits are by lemma group (the lemma part of `id`, i.e. the lower-cased first lemma) with
`bang_spmd.data.group_split` (5% validation, 5% test by default).
"""

import re
from pathlib import Path

from tqdm.auto import tqdm

from .splits import group_split


DEFAULT_WORDNET_DIR = "/usr/share/wordnet"
POS_FILES = ("adj", "adv", "noun", "verb")  # the order of the records
_MARKER = re.compile(r"\([^()]*\)$")
_QUOTED = re.compile(r'"([^"]*)"')


def parse_gloss(gloss: str) -> tuple[str, list[str]]:
    """`(definition, examples)` of a WordNet gloss: examples are the double-quoted texts, the definition the rest."""
    examples = _QUOTED.findall(gloss)
    definition = _QUOTED.sub("", gloss).strip().strip("; ")
    return definition, examples


def read_index(path: str | Path) -> dict[str, list[int]]:
    """`lemma -> synset offsets` (in sense order) of one `index.POS` file; licence header lines are skipped."""
    senses: dict[str, list[int]] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.startswith(" ") or not line.strip():
                continue
            fields = line.split()
            try:
                synset_count, pointer_count = int(fields[2]), int(fields[3])
                offsets_at = 4 + pointer_count + 2
                offsets = [int(x) for x in fields[offsets_at : offsets_at + synset_count]]
            except (IndexError, ValueError) as error:
                raise ValueError(f"{path}:{number}: not a WordNet index line ({error}): {line.strip()!r}") from error
            if len(offsets) != synset_count:
                raise ValueError(f"{path}:{number}: {synset_count} senses announced, {len(offsets)} listed.")
            senses[fields[0]] = offsets
    return senses


def parse_data_line(line: str, where: str = "<line>") -> dict:
    """`{"offset", "lex_filenum", "ss_type", "lemmas", "gloss"}` of one `data.POS` line (lemmas without markers)."""
    columns, bar, gloss = line.strip().partition("|")
    fields = columns.split()
    try:
        if not bar:
            raise ValueError("no '|' before the gloss")
        count = int(fields[3], 16)
        lemmas = [_MARKER.sub("", word) for word in fields[4 : 4 + 2 * count : 2]]
        if len(lemmas) != count or count == 0:
            raise ValueError(f"{count} words announced, {len(lemmas)} found")
        return {
            "offset": int(fields[0]),
            "lex_filenum": int(fields[1]),
            "ss_type": fields[2],
            "lemmas": lemmas,
            "gloss": gloss,
        }
    except (IndexError, ValueError) as error:
        raise ValueError(f"{where}: not a WordNet data line ({error}): {line.strip()[:120]!r}") from error


def read_wordnet(wordnet_dir: str | Path = DEFAULT_WORDNET_DIR, progress: bool = True) -> list[dict[str, str]]:
    """All wndef records (see the module docstring) of the WordNet database in `wordnet_dir`."""
    wordnet_dir = Path(wordnet_dir)
    needed = [wordnet_dir / f"{kind}.{pos}" for pos in POS_FILES for kind in ("index", "data")]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise ValueError(
            f"WordNet database file(s) {missing} are missing; install them with `apt-get install wordnet-base` "
            "(Debian) or pass the folder holding WordNet 3.0's dict files."
        )
    records = []
    for pos in POS_FILES:
        index = read_index(wordnet_dir / f"index.{pos}")
        path = wordnet_dir / f"data.{pos}"
        synsets = []
        with open(path, encoding="utf-8") as f:
            lines = tqdm(f, desc=f"Reading data.{pos}", unit=" lines", disable=not progress)
            for number, line in enumerate(lines, 1):
                if line.startswith(" ") or not line.strip():
                    continue
                synsets.append((f"{path}:{number}", parse_data_line(line, f"{path}:{number}")))
        satellites = {s["offset"] for _, s in synsets if s["ss_type"] == "s"}
        for where, synset in synsets:
            definition, examples = parse_gloss(synset["gloss"])
            if not examples:
                continue
            lemma = synset["lemmas"][0].lower()
            offsets = index.get(lemma)
            if offsets is None or synset["offset"] not in offsets:
                raise ValueError(f"{where}: synset {synset['offset']:08d} of {lemma!r} is not in index.{pos}.")
            if synset["ss_type"] == "s":
                offsets = [o for o in offsets if o in satellites]
            name = f"{lemma}.{synset['ss_type']}.{offsets.index(synset['offset']) + 1:02d}"
            word = synset["lemmas"][0].replace("_", " ")
            records.append({"id": name, "word": word, "example": examples[0], "definition": definition})
    return records


def lemma_group(record: dict[str, str]) -> str:
    """The split group of a record: the lemma part of its synset name."""
    return record["id"].rsplit(".", 2)[0]


def build_wndef(
    wordnet_dir: str | Path = DEFAULT_WORDNET_DIR,
    validation_fraction: float = 0.05,
    test_fraction: float = 0.05,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, list[dict[str, str]]]:
    """Reads the WordNet database and splits the records by `lemma_group`."""
    records = read_wordnet(wordnet_dir, progress=progress)
    return group_split(records, lemma_group, validation_fraction, test_fraction, seed)


__all__ = [
    "DEFAULT_WORDNET_DIR",
    "POS_FILES",
    "build_wndef",
    "lemma_group",
    "parse_data_line",
    "parse_gloss",
    "read_index",
    "read_wordnet",
]
