"""The data builders and loaders of `bang_spmd.data` and the `bang-prepare-data` CLI, on tiny fixtures."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from bang_spmd.cli import prepare_data
from bang_spmd.data import (
    SPLITS,
    check_fractions,
    ddtp,
    debsum,
    debtrans,
    group_bucket,
    group_split,
    split_of,
    squad_qg,
    wndef,
    write_splits,
    xsum,
)


FIXTURES = Path(__file__).resolve().parent / "fixtures" / "corpora"
TRANSLATION = FIXTURES / "Translation-en"
TRANSLATION_FR = FIXTURES / "Translation-fr"  # translates four of TRANSLATION's stanzas, plus one orphan
WORDNET = FIXTURES / "wordnet"


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# ---------------------------------------------------------------- group splits


def test_group_bucket_is_pinned_sha256():
    # The rule is part of the data sets' definition: changing it silently would move groups between splits.
    assert group_bucket("foo") == pytest.approx(0.27656178872405185, abs=1e-15)
    assert group_bucket("foo", seed=1) != group_bucket("foo")
    assert split_of("foo", 0.3, 0.3) == "validation"  # 0.277 < 0.3
    assert split_of("foo", 0.2, 0.3) == "test"  # 0.2 <= 0.277 < 0.5
    assert split_of("foo", 0.1, 0.1) == "train"


def test_group_split_is_deterministic_group_disjoint_and_near_the_fractions():
    rows = [{"id": f"{g}-{i}", "group": f"g{g}"} for g in range(2000) for i in range(g % 3 + 1)]
    first = group_split(rows, lambda r: r["group"], 0.1, 0.2, seed=3)
    assert first == group_split(list(rows), lambda r: r["group"], 0.1, 0.2, seed=3)
    owners = {}
    for name in SPLITS:
        for row in first[name]:
            assert owners.setdefault(row["group"], name) == name
    groups = {name: len({r["group"] for r in first[name]}) for name in SPLITS}
    assert abs(groups["validation"] / 2000 - 0.1) < 0.03 and abs(groups["test"] / 2000 - 0.2) < 0.03
    # order inside a split is the input order
    assert first["train"] == [r for r in rows if r in first["train"]]


@pytest.mark.parametrize("fractions", [(-0.1, 0.1), (0.5, 0.5), (1.0, 0.0), (0.2, 1.2)])
def test_bad_fractions_raise(fractions):
    with pytest.raises(ValueError, match="fraction"):
        check_fractions(*fractions)


def test_write_splits_refuses_to_overwrite(tmp_path):
    splits = {"train": [{"id": "ä"}], "validation": [], "test": []}
    assert write_splits(splits, tmp_path) == {"train": 1, "validation": 0, "test": 0}
    assert (tmp_path / "train.jsonl").read_text(encoding="utf-8") == '{"id": "ä"}\n'
    with pytest.raises(ValueError, match="--overwrite"):
        write_splits(splits, tmp_path)
    write_splits({**splits, "train": []}, tmp_path, overwrite=True)
    assert (tmp_path / "train.jsonl").read_text() == ""
    with pytest.raises(ValueError, match="missing"):
        write_splits({"train": []}, tmp_path / "other")


# ---------------------------------------------------------------- debsum

FOO_DEV = {
    "id": "libfoo2-dev",
    "document": "Foo is a small archive format used by the bar tools.  This library reads and writes foo archives and "
    "checks their checksums.\nFeatures: * streaming reads of large archives * random access to members\n"
    "This package contains the development files.",
    "summary": "library for reading foo archives - development files",
}
PYTHON_FOO = {
    "id": "python3-foo",
    "document": "These bindings expose the complete foo archive library to Python 3 programs, including streaming "
    "reads, random access and checksum verification of every member.",
    "summary": "Python 3 bindings for the foo archive library",
}
BAZ = {
    "id": "baz-utils",
    "document": "The baz utilities start, stop and query baz servers from the shell. They print the state of every "
    "worker, rotate the logs and reload the settings without a restart.",
    "summary": "command-line utilities for baz servers",
}


def test_read_translation_parses_every_stanza():
    records = debsum.read_translation(TRANSLATION, progress=False)
    assert [r["id"] for r in records] == [
        "libfoo2-dev",
        "python3-foo",
        "libfoo2-doc",
        "tiny",
        "quux",
        "python3-foo",
        "baz-utils",
    ]
    assert records[0] == FOO_DEV  # continuation lines, paragraph breaks, verbatim list lines, kept double space
    assert records[3] == {
        "id": "tiny",
        "document": "It does one small thing.",
        "summary": "a tiny tool with a short description",
    }


def test_filter_records_applies_length_dedup_and_first_stanza_rules():
    records = debsum.read_translation(TRANSLATION, progress=False)
    # libfoo2-doc: same first 100 characters as libfoo2-dev; tiny: 5 words; quux: 1-word summary;
    # second python3-foo: repeated package
    assert debsum.filter_records(records) == [FOO_DEV, PYTHON_FOO, BAZ]
    assert [r["id"] for r in debsum.filter_records(records, min_words=1, min_summary_words=1)] == [
        "libfoo2-dev",
        "python3-foo",
        "tiny",
        "quux",
        "baz-utils",
    ]
    assert "libfoo2-doc" in [r["id"] for r in debsum.filter_records(records, dedup_chars=200)]
    with pytest.raises(ValueError, match="min_words"):
        debsum.filter_records(records, min_words=10, max_words=5)


@pytest.mark.parametrize(
    "package, stem",
    [
        ("libfoo2-dev", "foo"),
        ("python3-foo", "foo"),
        ("libxalan2-java", "xalan"),
        ("libxalan-c112", "xalan"),
        ("xalan", "xalan"),
        ("python3-zope.event", "zope.event"),
        ("libsparskit2.0", "sparskit"),
        ("node-babel-loader", "babel"),
        ("r-cran-highr", "highr"),
        ("0ad-data", "0ad"),
        ("lib", "lib"),
        ("9base", "9base"),
    ],
)
def test_package_stem(package, stem):
    assert ddtp.package_stem(package) == stem


def test_build_debsum_splits_by_stem():
    splits = debsum.build_debsum(TRANSLATION, validation_fraction=0.3, test_fraction=0.3, progress=False)
    # group "foo" hashes to 0.277 (validation), "baz" to 0.805 (train)
    assert splits == {"train": [BAZ], "validation": [FOO_DEV, PYTHON_FOO], "test": []}


@pytest.mark.parametrize(
    "text, message",
    [
        (" orphan continuation\n", "continuation line outside a field"),
        ("Package foo\n", "Name: value"),
        ("Package: foo\nDescription-md5: 0\n", "no Description-en"),
        ("Description-en: x\n y\n", "no Package field"),
        ("\n\n", "no deb822 stanza"),
    ],
)
def test_bad_translation_files_raise(tmp_path, text, message):
    path = tmp_path / "Translation-en"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        debsum.read_translation(path, progress=False)
    with pytest.raises(ValueError, match="does not exist"):
        debsum.read_translation(tmp_path / "absent", progress=False)


def test_fetch_translations_uses_the_machines_apt_sources_in_a_private_folder(tmp_path, monkeypatch):
    calls = []

    def fake_run(command, check, stdout=None):
        calls.append(command)
        if command[:2] == ["apt-get", "update"]:
            lists = tmp_path / "lists"
            for name in ("bookworm_main_i18n_Translation-en.lz4", "bookworm_main_i18n_Translation-fr.lz4",
                         "bookworm-updates_main_i18n_Translation-en.lz4"):  # fmt: skip
                (lists / f"mirror.example_debian_dists_{name}").write_bytes(b"x")
        else:
            stdout.write((TRANSLATION_FR if command[2].endswith("-fr.lz4") else TRANSLATION).read_bytes())
        return subprocess.CompletedProcess(command, 0)

    helper = tmp_path / "apt-helper"
    helper.write_bytes(b"")
    monkeypatch.setattr(ddtp, "APT_HELPER", str(helper))
    monkeypatch.setattr(ddtp.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(ddtp.subprocess, "run", fake_run)
    paths = ddtp.fetch_translations(tmp_path, ("en", "fr"))
    assert paths == {"en": tmp_path / "Translation-en", "fr": tmp_path / "Translation-fr"}
    assert paths["fr"].read_bytes() == TRANSLATION_FR.read_bytes()
    update, *cats = calls
    options = dict(update[i + 1].split("=", 1) for i in range(2, len(update), 2))
    assert options["Dir::State::Lists"] == str(tmp_path / "lists")
    assert options["Acquire::Languages"] == "en,fr"
    assert options["Acquire::IndexTargets::deb::Packages::DefaultEnabled"] == "false"
    # the machine's own sources: no source list of ours, no host named
    assert not any("SourceList" in name for name in options) and not (tmp_path / "sources.list").exists()
    assert [c[2].rsplit("_dists_", 1)[1] for c in cats] == [
        "bookworm_main_i18n_Translation-en.lz4",
        "bookworm_main_i18n_Translation-fr.lz4",
    ]


def test_fetch_translations_names_a_language_apt_did_not_fetch(tmp_path, monkeypatch):
    helper = tmp_path / "apt-helper"
    helper.write_bytes(b"")
    monkeypatch.setattr(ddtp, "APT_HELPER", str(helper))
    monkeypatch.setattr(ddtp.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(ddtp.subprocess, "run", lambda command, check, stdout=None: None)
    with pytest.raises(ValueError, match="Translation-de"):
        ddtp.fetch_translations(tmp_path, ("de",))


def test_fetch_translations_without_apt_raises(tmp_path, monkeypatch):
    monkeypatch.setattr(ddtp.shutil, "which", lambda name: None)
    with pytest.raises(ValueError, match="apt-get"):
        ddtp.fetch_translations(tmp_path)


def test_a_line_of_non_breaking_spaces_is_not_a_stanza_break():
    lines = ["Package: a\n", "Description-fr: x\n", " y\n", " \u00a0\n", " z\n", "\n", "Package: b\n"]
    stanzas = [fields for _, fields in ddtp.iter_stanzas(lines)]
    assert [s["Package"] for s in stanzas] == ["a", "b"]
    assert ddtp.description_paragraphs(stanzas[0]["Description-fr"]) == ("x", ["y z"])


# ---------------------------------------------------------------- debtrans

DEBTRANS_TRAIN = [
    {"id": "tiny#0", "kind": "synopsis", "en": "a tiny tool with a short description",
     "fr": "un outil minuscule à la description courte, bien plus longue en français qu’en anglais"},
    {"id": "tiny#1", "kind": "paragraph", "en": "It does one small thing.", "fr": "Il fait une petite chose."},
    {"id": "baz-utils#0", "kind": "synopsis", "en": "command-line utilities for baz servers",
     "fr": "utilitaires en ligne de commande pour les serveurs baz"},
    {"id": "baz-utils#1", "kind": "paragraph",
     "en": "The baz utilities start, stop and query baz servers from the shell. They print the state of every "
           "worker, rotate the logs and reload the settings without a restart.",
     "fr": "Les utilitaires baz démarrent, arrêtent et interrogent les serveurs baz depuis l’interpréteur de "
           "commandes. Ils affichent l’état de chaque processus, font tourner les journaux et rechargent la "
           "configuration sans redémarrage."},
]  # fmt: skip


def test_build_debtrans_pairs_by_md5_keeps_text_exactly_and_splits_by_stem():
    splits = debtrans.build_debtrans(
        TRANSLATION, TRANSLATION_FR, "fr", validation_fraction=0.3, test_fraction=0.3, progress=False
    )
    assert splits["train"] == DEBTRANS_TRAIN  # group "baz" and "tiny" in train, "foo" in validation
    assert [r["id"] for r in splits["validation"]] == [
        "libfoo2-dev#0", "libfoo2-dev#1", "libfoo2-dev#2", "libfoo2-dev#3", "libfoo2-doc#0",
    ]  # fmt: skip
    features = splits["validation"][2]
    assert features["en"] == "Features: * streaming reads of large archives * random access to members"
    assert features["fr"] == "Fonctionnalités\u00a0: * lecture en flux de grandes archives * accès direct aux membres"
    # libfoo2-doc: its French paragraphs are run together (a line of non-breaking spaces is no " ."), so the
    # paragraph counts differ and only the synopsis is paired; "orphan" translates no English stanza.
    assert not any(r["id"].startswith(("libfoo2-doc#1", "orphan")) for s in splits.values() for r in s)


def test_debtrans_filters_length_ratio_and_duplicate_pairs():
    rows = [
        {"id": "a#0", "kind": "synopsis", "en": "one two", "fr": "un deux"},
        {"id": "b#0", "kind": "synopsis", "en": "one two", "fr": "un deux"},  # the same pair again
        {"id": "c#0", "kind": "synopsis", "en": "single", "fr": "seul"},  # 1 English word
        {"id": "d#0", "kind": "synopsis", "en": "one two", "fr": "un deux trois quatre cinq six sept huit"},
    ]
    assert [r["id"] for r in debtrans.filter_pairs(rows, "fr")] == ["a#0"]  # d: ratio 4 > 3.5
    assert [r["id"] for r in debtrans.filter_pairs(rows, "fr", min_words=1, max_ratio=4)] == ["a#0", "c#0", "d#0"]
    with pytest.raises(ValueError, match="min_ratio"):
        debtrans.filter_pairs(rows, "fr", min_ratio=2, max_ratio=1)


def test_debtrans_refuses_an_index_of_another_language(tmp_path):
    with pytest.raises(ValueError, match="Translation-de"):
        debtrans.read_descriptions(TRANSLATION_FR, "de", progress=False)


# ---------------------------------------------------------------- wndef

# Real WordNet 3.0 lines (tests/fixtures/corpora/wordnet); ids and texts equal nltk 3.10's reader on the full
# database. classical.s.02 (unclosed quote) and entity.n.01 have no example and are left out.
WNDEF = [
    (
        "able.a.01",
        "able",
        "able to swim",
        "(usually followed by `to') having the necessary means or skill or know-how or authority to do something",
    ),
    ("abounding.s.01", "abounding", "abounding confidence", "existing in abundance"),
    ("able.s.02", "able", "able to learn", "having inherent physical or mental ability or capacity"),
    (
        "classical.s.03",
        "classical",
        "classical mythology",
        'of or pertaining to or characteristic of the ancient Greek and Roman cultures; ; "classical',
    ),
    ("able.s.01", "able", "able teachers", "have the skills and qualifications to do things well"),
    ("able.s.03", "able", "an able seaman", "having a strong healthy body"),
    ("authoritative.s.03", "authoritative", "an authoritative communique", "sanctioned by established authority"),
    ("authoritative.s.01", "authoritative", "an important official", "having authority or ascendancy or influence"),
    ("authoritative.s.02", "authoritative", "the definitive work on Greece", "of recognized authority or excellence"),
    (
        "classical.a.03",
        "classical",
        " a classical scholar",
        "of or relating to the study of the literary works of ancient Greece and Rome",
    ),
    (
        "barely.r.01",
        "barely",
        "they could barely hear the speaker",
        "only a very short time before; ; ; ; ; - W.B.Yeats",
    ),
    (
        "dog.n.01",
        "dog",
        "the dog barked all night",
        "a member of the genus Canis (probably descended from the common "
        "wolf) that has been domesticated by man since prehistoric times; occurs in many breeds",
    ),
    (
        "breathe.v.01",
        "breathe",
        "I can breathe better when the air is clean",
        "draw air into, and expel out of, the lungs",
    ),
]


def test_read_wordnet_gives_nltk_names_and_texts():
    records = wndef.read_wordnet(WORDNET, progress=False)
    assert records == [dict(zip(("id", "word", "example", "definition"), row, strict=True)) for row in WNDEF]


def test_parse_gloss_and_data_line():
    assert wndef.parse_gloss(' not good; "a bad day"; "bad luck"  ') == ("not good", ["a bad day", "bad luck"])
    line = '00014358 00 s 02 abounding 0 galore(ip) 0 001 & 00013887 a 0000 | existing in abundance; "whiskey galore"'
    parsed = wndef.parse_data_line(line)
    assert parsed["lemmas"] == ["abounding", "galore"] and parsed["ss_type"] == "s" and parsed["offset"] == 14358
    with pytest.raises(ValueError, match="no '|'"):
        wndef.parse_data_line("00014358 00 s 01 x 0 000")
    with pytest.raises(ValueError, match="not a WordNet data line"):
        wndef.parse_data_line("00014358 00 s zz x 0 | gloss")


def test_build_wndef_splits_by_lemma():
    splits = wndef.build_wndef(WORDNET, validation_fraction=0.3, test_fraction=0.3, progress=False)
    lemmas = {name: {wndef.lemma_group(r) for r in rows} for name, rows in splits.items()}
    assert lemmas["train"] & lemmas["test"] == set() and lemmas["train"] & lemmas["validation"] == set()
    assert lemmas["test"] & lemmas["validation"] == set()
    assert sum(map(len, splits.values())) == len(WNDEF)
    assert {r["id"] for r in splits["test"]} >= {"able.a.01", "able.s.01", "able.s.02", "able.s.03"}  # able: 0.471
    assert splits == wndef.build_wndef(WORDNET, validation_fraction=0.3, test_fraction=0.3, progress=False)


def test_wndef_bad_input(tmp_path):
    with pytest.raises(ValueError, match="wordnet-base"):
        wndef.read_wordnet(tmp_path, progress=False)
    for path in WORDNET.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "index.verb").write_text("breathe v 9 6 @ ~ * ^ $ + 9 3 00001740\n")
    with pytest.raises(ValueError, match="9 senses announced, 1 listed"):
        wndef.read_wordnet(tmp_path, progress=False)
    (tmp_path / "index.verb").write_text("respire v 1 0 1 0 00001740\n")
    with pytest.raises(ValueError, match="'breathe' is not in index.verb"):
        wndef.read_wordnet(tmp_path, progress=False)


# ---------------------------------------------------------------- SQuAD 1.1 question generation

Q = {
    "q1": {"id": "q1", "answer": "1852", "question": "When was the harbour light built?"},
    "q2": {"id": "q2", "answer": "red and white", "question": "What colours is the light painted?"},
    "q3": {"id": "q3", "answer": "twenty kilometres", "question": "How far away can the lamp be seen?"},
    "q4": {"id": "q4", "answer": "the times of high and low water", "question": "What do tide tables list?"},
}
LIGHT = "The harbour light was built in 1852 and is painted red and white."


def test_read_squad_takes_the_first_answer_and_skips_impossible_questions():
    rows = squad_qg.read_squad(FIXTURES / "squad_train.json")
    assert [r["id"] for r in rows] == ["q1", "q2", "q3", "q4"]
    assert rows[0] == {**Q["q1"], "context": LIGHT, "title": "Harbour_Lights"}
    assert rows[3]["context"] == "Tide tables list the times of high and low water for each day."


def test_build_squad_qg_splits_by_article():
    splits = squad_qg.build_squad_qg(FIXTURES / "squad_train.json", validation_fraction=0.3, test_fraction=0.3)
    # Harbour_Lights hashes to 0.266 (validation), Tide_Tables to 0.379 (test)
    assert [r["id"] for r in splits["validation"]] == ["q1", "q2", "q3"]
    assert [r["id"] for r in splits["test"]] == ["q4"] and splits["train"] == []
    assert splits["validation"][0] == {**Q["q1"], "context": LIGHT}
    with_dev = squad_qg.build_squad_qg(FIXTURES / "squad_train.json", FIXTURES / "squad_dev.json", 0.3, 0.3)
    assert [r["id"] for r in with_dev["train"]] == ["q4"]  # test_fraction unused: Tide_Tables goes to train
    assert with_dev["test"] == [
        {
            "id": "d1",
            "answer": "1990",
            "context": "Keepers lived in the tower until the light was automated in 1990.",
            "question": "When was the light automated?",
        }
    ]
    with pytest.raises(ValueError, match="'q1' occurs twice"):
        squad_qg.build_squad_qg(FIXTURES / "squad_train.json", FIXTURES / "squad_train.json")


@pytest.mark.parametrize(
    "payload, message",
    [
        ("[1, 2]", "'data' list"),
        ("{not json", "not valid JSON"),
        ('{"data": [{"title": "t"}]}', r"data\[0\] has no \['paragraphs'\]"),
        (
            '{"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": [{"id": "x", "question": "q", '
            '"answers": []}]}]}]}',
            "'x'.*has no answer",
        ),
        ('{"data": []}', "no answerable question"),
    ],
)
def test_bad_squad_files_raise(tmp_path, payload, message):
    path = tmp_path / "squad.json"
    path.write_text(payload)
    with pytest.raises(ValueError, match=message):
        squad_qg.read_squad(path)


# ---------------------------------------------------------------- XSum

RELEASE = FIXTURES / "xsum_release"
XSUM_1 = {
    "id": "10000001",
    "document": "The light, built in 1852, was last painted in 1990.\nVolunteers spent three weeks on the work.\n"
    "The council paid for the paint.",
    "summary": "A 170-year-old harbour light has been repainted in its original colours.",
}


def test_read_xsum_release():
    splits = xsum.read_xsum_release(
        RELEASE / "bbc-summary-data", RELEASE / "XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json", progress=False
    )
    assert [r["id"] for r in splits["train"]] == ["10000001", "10000003"] and splits["test"] == []
    assert splits["train"][0] == XSUM_1
    assert splits["validation"] == [
        {
            "id": "10000002",
            "document": "The tables list high and low water for every day of next year.",
            "summary": "New tide tables for the coast have been published a month early.",
        }
    ]


def test_xsum_release_bad_input(tmp_path):
    summaries = tmp_path / "data"
    summaries.mkdir()
    (summaries / "1.summary").write_text("[SN]URL[SN]\nx\n[SN]TITLE[SN]\nt\n[SN]RESTBODY[SN]\nbody\n")
    split_file = tmp_path / "split.json"
    split_file.write_text('{"train": ["1"], "validation": [], "test": []}')
    with pytest.raises(ValueError, match=r"no \[SN\]FIRST-SENTENCE\[SN\] section"):
        xsum.read_xsum_release(summaries, split_file, progress=False)
    (summaries / "1.summary").write_text("[SN]FIRST-SENTENCE[SN]\ns\n[SN]RESTBODY[SN]\nb\n")
    split_file.write_text('{"train": ["1", "2"], "validation": [], "test": []}')
    with pytest.raises(ValueError, match="1 train id.*have no .summary file"):
        xsum.read_xsum_release(summaries, split_file, progress=False)
    kept = xsum.read_xsum_release(summaries, split_file, skip_missing=True, progress=False)
    assert kept["train"] == [{"id": "1", "document": "b", "summary": "s"}]
    split_file.write_text('{"train": ["1"], "validation": ["1"], "test": []}')
    with pytest.raises(ValueError, match="listed twice"):
        xsum.read_xsum_release(summaries, split_file, progress=False)
    split_file.write_text('{"train": ["1"]}')
    with pytest.raises(ValueError, match="id lists"):
        xsum.read_xsum_release(summaries, split_file, progress=False)
    (summaries / "3.summary").write_text("[SN]SOMETHING[SN]\n")
    with pytest.raises(ValueError, match="unknown section"):
        xsum.parse_summary_file(summaries / "3.summary")


def test_read_xsum_jsonl_and_build_xsum(tmp_path):
    folder = FIXTURES / "xsum_jsonl"
    splits = xsum.build_xsum(*(folder / f"{name}.jsonl" for name in SPLITS))
    assert splits["train"] == [
        {"id": "1", "document": "Doc one.\nSecond line.", "summary": "One."},
        {"id": "2", "document": "Doc two.", "summary": "Two."},
    ]
    assert [r["id"] for r in splits["validation"] + splits["test"]] == ["3", "4"]
    with pytest.raises(ValueError, match="either"):
        xsum.build_xsum(folder / "train.jsonl", summary_dir=RELEASE)
    with pytest.raises(ValueError, match="both --summary_dir and --split_file"):
        xsum.build_xsum(summary_dir=RELEASE)
    with pytest.raises(ValueError, match="--validation_file"):
        xsum.build_xsum(folder / "train.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "document": "d"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1 has no \['summary'\]"):
        xsum.read_xsum_jsonl(bad)


# ---------------------------------------------------------------- CLI


@pytest.mark.parametrize(
    "command, counts",
    [
        (["debsum", "--translation_file", str(TRANSLATION)], (1, 2, 0)),
        (["debtrans", "--english_file", str(TRANSLATION), "--translation_file", str(TRANSLATION_FR)], (4, 5, 0)),
        (["wndef", "--wordnet_dir", str(WORDNET)], (None, None, None)),
        (["squad-qg", "--train_file", str(FIXTURES / "squad_train.json")], (0, 3, 1)),
        (
            [
                "xsum",
                "--summary_dir",
                str(RELEASE / "bbc-summary-data"),
                "--split_file",
                str(RELEASE / "XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json"),
            ],
            (2, 1, 0),
        ),
    ],
)
def test_prepare_data_cli(tmp_path, capsys, command, counts):
    fractions = [] if command[0] == "xsum" else ["--validation_fraction", "0.3", "--test_fraction", "0.3"]
    argv = [*command, "--output_dir", str(tmp_path / "out"), "--no_progress", *fractions]
    result = prepare_data.main(argv)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    written = {name: read_jsonl(tmp_path / "out" / f"{name}.jsonl") for name in SPLITS}
    assert {name: len(rows) for name, rows in written.items()} == {name: result[name] for name in SPLITS}
    if counts[0] is not None:
        assert tuple(result[name] for name in SPLITS) == counts
    with pytest.raises(ValueError, match="--overwrite"):
        prepare_data.main(argv)
    assert prepare_data.main([*argv, "--overwrite"]) == result


def test_prepare_data_cli_needs_a_source(tmp_path):
    with pytest.raises(SystemExit):
        prepare_data.main(["debsum", "--output_dir", str(tmp_path)])
    with pytest.raises(ValueError, match="--workdir"):
        prepare_data.main(["debsum", "--fetch", "--output_dir", str(tmp_path)])
    with pytest.raises(ValueError, match="--translation_file"):
        prepare_data.main(["debtrans", "--english_file", str(TRANSLATION), "--output_dir", str(tmp_path)])


def test_no_debian_mirror_host_is_written_into_the_code():
    """The builders take the archive from the machine's apt sources (`ddtp.fetch_translations`); no code, script or
    test names a Debian mirror host (the data READMEs' credit to https://ddtp.debian.org/ is no mirror)."""
    root = Path(__file__).resolve().parent.parent
    host = re.compile(r"(deb|ftp|security|httpredir|cdn-fastly|snapshot)(\.[a-z]{2})?\.debian\.(org|net)", re.I)
    files = [p for d in ("bang_spmd", "trainers", "modeling_bang", "examples", "tests") for p in (root / d).rglob("*")]
    named = [
        str(p.relative_to(root))
        for p in files
        if p.suffix in (".py", ".sh", ".toml", ".cfg") and host.search(p.read_text(encoding="utf-8"))
    ]
    assert named == []
