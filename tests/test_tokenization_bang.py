"""The BANG tokenizers: BANG's `text [SEP]` format, offline round trips, a trained WordPiece vocabulary."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoTokenizer

import modeling_bang
from modeling_bang import build_default_tokenizer, train_wordpiece_tokenizer


PACKAGE_DIR = Path(modeling_bang.__file__).parent
CORPUS = [
    "a library for parsing xml files",
    "command line tool to convert images between formats",
    "python bindings for the xml parsing library",
    "development files for the image conversion library",
] * 5


def test_default_tokenizer_uses_bang_format_and_round_trips_offline(tmp_path):
    tokenizer = build_default_tokenizer()
    assert len(tokenizer) == 30522
    ids = tokenizer("Hello, BANG world!").input_ids
    assert ids[-1] == 102 and 101 not in ids  # "... [SEP]", no [CLS]: the official fairseq data format
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.mask_token_id) == (0, 102, 103)
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    texts = ["Hello, BANG world!", "a debian package description"]
    assert reloaded(texts, padding=True).input_ids == tokenizer(texts, padding=True).input_ids
    assert reloaded.decode(ids, skip_special_tokens=True) == "hello, bang world!"


def test_vocabulary_is_bert_base_uncased():
    lines = (PACKAGE_DIR / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 30522
    assert [lines[i] for i in (0, 100, 101, 102, 103)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def test_trained_wordpiece_tokenizer_keeps_bang_format_and_special_ids(tmp_path):
    tokenizer = train_wordpiece_tokenizer(CORPUS, vocab_size=120, min_frequency=1)
    assert len(tokenizer) <= 120
    assert [tokenizer.convert_tokens_to_ids(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [
        0,
        1,
        2,
        3,
        4,
    ]
    ids = tokenizer("A library for parsing XML files").input_ids
    assert ids[-1] == tokenizer.eos_token_id == 3 and tokenizer.unk_token_id not in ids
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded(CORPUS[:4]).input_ids == tokenizer(CORPUS[:4]).input_ids
    assert reloaded.decode(ids, skip_special_tokens=True) == "a library for parsing xml files"


def test_tokenizer_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="vocab_size"):
        train_wordpiece_tokenizer(CORPUS, vocab_size=5)
    with pytest.raises(ValueError, match="does not exist"):
        build_default_tokenizer(tmp_path / "missing.txt")
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\nhello\n")
    with pytest.raises(ValueError, match=r"\[CLS\]"):
        build_default_tokenizer(tmp_path / "vocab.txt")


def test_train_tokenizer_script_reads_train_splits_only(tmp_path):
    for name, record in {
        "debsum": {"id": "p", "document": "a library for parsing xml files", "summary": "xml parser"},
        "wndef": {"id": "w", "word": "parse", "example": "parse the file", "definition": "analyse syntactically"},
        "debtrans-enfr": {"id": "p#0", "kind": "synopsis", "en": "Parser of XML files", "fr": "Analyseur de fichiers"},
    }.items():
        (tmp_path / "data" / name).mkdir(parents=True)
        (tmp_path / "data" / name / "train.jsonl").write_text(json.dumps(record) + "\n")
        (tmp_path / "data" / name / "test.jsonl").write_text(json.dumps({**record, "summary": "zebra"}) + "\n")
    command = [
        str(Path(sys.executable).parent / "bang-train-tokenizer"),
        "--data_dir",
        str(tmp_path / "data"),
        "--vocab_size",
        "80",
    ]
    command += ["--min_frequency", "1", "--output_dir", str(tmp_path / "tok")]
    command += ["--cased", "--keep_spacing", "--model_max_length", "64"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "tok")
    vocabulary = tokenizer.get_vocab()
    assert "▁parse" in vocabulary and not any("zebra" in piece for piece in vocabulary)
    assert tokenizer.model_max_length == 64
    text = "Analyseur de fichiers XML"  # cased: the capitals come back
    assert tokenizer.decode(tokenizer(text).input_ids, skip_special_tokens=True) == text
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "--overwrite" in again.stderr


FRENCH_CORPUS = [
    "outil d’analyse des fichiers de configuration",
    "bibliothèque C++ pour l’accès aux données (fichiers de développement)",
    "Caractéristiques\u00a0: affichage, examen et «\u00a0sauvegarde\u00a0» des blocs",
    "Outil graphique pour GNU ddrescue",
] * 5


def test_cased_spacing_preserving_tokenizer_decodes_the_original_text(tmp_path):
    tokenizer = train_wordpiece_tokenizer(FRENCH_CORPUS, vocab_size=300, lowercase=False, keep_spacing=True)
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    for text in FRENCH_CORPUS[:4] + ["GNU d’analyse, (C++)"]:
        ids = reloaded(text).input_ids
        assert ids[-1] == reloaded.sep_token_id
        expected = " ".join(text.split())  # whitespace runs (non-breaking spaces too) become one space
        assert reloaded.decode(ids, skip_special_tokens=True) == expected
    assert reloaded.decode(reloaded("Outil").input_ids, skip_special_tokens=True) == "Outil"


def test_bert_style_tokenizer_loses_spacing_around_punctuation():
    tokenizer = train_wordpiece_tokenizer(FRENCH_CORPUS, vocab_size=300, lowercase=False)
    decoded = tokenizer.decode(tokenizer("outil d’analyse").input_ids, skip_special_tokens=True)
    assert decoded == "outil d ’ analyse"  # why generation tasks scored on raw text use keep_spacing=True
