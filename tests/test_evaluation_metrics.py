"""The offline generation metrics (`bang_spmd.evaluation.metrics`), their local `evaluate` module and the WordNet
preparation.

METEOR needs WordNet 3.0: the tests copy Debian's /usr/share/wordnet (packages wordnet-base, wordnet-sense-index)
into a temporary NLTK data folder, or use one nltk already finds; without either they are skipped.
"""

import math
import os
import socket
from pathlib import Path

import nltk
import pytest
import sacrebleu
from rouge_score import rouge_scorer

from bang_spmd.cli import prepare_wordnet
from bang_spmd.evaluation import metrics, wordnet
from bang_spmd.evaluation.metrics import METRIC_NAMES, compute_generation_metrics, rouge_l


WORDNET_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "corpora" / "wordnet"
NO_WORDNET = (
    "WordNet 3.0 is not installed: run `apt-get install wordnet-base wordnet-sense-index` (Debian) for the METEOR "
    "tests"
)


@pytest.fixture(scope="session")
def nltk_data(tmp_path_factory):
    """An NLTK data folder with WordNet that nltk searches during the test, or a skip."""
    if all((wordnet.DEBIAN_WORDNET_DIR / name).is_file() for name in wordnet.REQUIRED_FILES):
        root = tmp_path_factory.mktemp("nltk_data")
        wordnet.prepare_nltk_wordnet(root)
        nltk.data.path.insert(0, str(root))
        yield root
        nltk.data.path.remove(str(root))
        return
    found = wordnet.find_nltk_wordnet()
    if found is None:
        pytest.skip(NO_WORDNET)
    yield found.parent.parent


IDENTICAL = ["the harbour light was built in 1852", "tide tables list the times of high and low water"]


def test_identical_texts_score_100_for_rouge_and_bleu():
    for value in metrics.rouge_f1(IDENTICAL, list(IDENTICAL)).values():
        assert value == pytest.approx(100.0)
    assert metrics.bleu4(IDENTICAL, list(IDENTICAL)) == pytest.approx(100.0)


def test_identical_texts_all_metrics(nltk_data):
    result = compute_generation_metrics(IDENTICAL, list(IDENTICAL))
    assert set(result) == set(METRIC_NAMES)
    for name in ("rouge1_f1", "rouge2_f1", "rougeL_f1", "bleu4"):
        assert result[name] == pytest.approx(100.0)
    # METEOR's fragmentation penalty never vanishes: 0.5 * (1 chunk / matches) ** 3 with 7 and 10 matches
    expected = 100.0 * (1 - 0.5 * ((1 / 7) ** 3 + (1 / 10) ** 3) / 2)
    assert result["meteor"] == pytest.approx(expected, abs=1e-9) and result["meteor"] > 99.0


def test_disjoint_texts_score_0():
    predictions, references = ["alpha beta gamma delta"], ["one two three four"]
    assert metrics.rouge_f1(predictions, references) == {"rouge1_f1": 0.0, "rouge2_f1": 0.0, "rougeL_f1": 0.0}
    assert metrics.bleu4(predictions, references) == 0.0


def test_disjoint_texts_all_metrics(nltk_data):
    result = compute_generation_metrics(["alpha beta gamma delta"], ["one two three four"])
    assert result.pop("chrf") > 0  # the texts share letters: chrF compares character n-grams
    assert result == {name: 0.0 for name in METRIC_NAMES if name != "chrf"}
    assert compute_generation_metrics(["xyz qvw"], ["abc def"], with_meteor=False)["chrf"] == 0.0


def test_chrf_is_sacrebleus_corpus_chrf_on_detokenised_text():
    import sacrebleu

    predictions = ["outil d’analyse des fichiers", "bibliothèque C++ pour Python"]
    references = ["outil d’analyse de fichiers", "bibliothèque C++ pour Python 3"]
    expected = sacrebleu.corpus_chrf(predictions, [references]).score
    assert metrics.chrf(predictions, references) == pytest.approx(expected)
    assert metrics.chrf(references, references) == pytest.approx(100.0)
    # BERT-style decoding puts spaces around the apostrophe: BLEU pays for it, chrF ignores whitespace
    spaced = [p.replace("’", " ’ ") for p in references]
    assert metrics.bleu4(spaced, references) < 70.0 and metrics.chrf(spaced, references) == pytest.approx(100.0)


def test_validation_metric_names_its_score_and_refuses_unknown_names():
    predictions = references = ["the cat sat on the mat"]
    assert metrics.validation_metric("bleu4")(predictions, references) == {"bleu4": pytest.approx(100.0)}
    assert metrics.validation_metric("rougeL_f1")(predictions, references) == {"rougeL_f1": pytest.approx(100.0)}
    with pytest.raises(ValueError, match="chrf"):
        metrics.validation_metric("bertscore")


def test_small_case_by_hand_and_against_the_libraries():
    predictions = ["the cats are sitting on a mat", "the cat sat on the mat"]
    references = ["the cat sat on the mat", "the cat sat on the red mat"]
    result = metrics.rouge_f1(predictions, references)
    # Example 1 with stemming (cats -> cat, sitting -> sit): unigram matches the, cat, on, mat = 4 of 7 and 6 ->
    # F1 8/13; bigrams: "the cat" = 1 of 6 and 5 -> F1 2/11. Example 2: 6 of 6 and 7 -> 12/13; bigrams 4 of 5 and 6
    # -> 8/11.
    assert result["rouge1_f1"] == pytest.approx(100 * (8 / 13 + 12 / 13) / 2)
    assert result["rouge2_f1"] == pytest.approx(100 * (2 / 11 + 8 / 11) / 2)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    for key in ("rouge1", "rouge2", "rougeL"):
        direct = [scorer.score(r, p)[key].fmeasure for p, r in zip(predictions, references, strict=True)]
        assert result[f"{key}_f1"] == pytest.approx(100 * sum(direct) / 2)
    assert metrics.bleu4(predictions, references) == pytest.approx(
        sacrebleu.corpus_bleu(predictions, [references]).score
    )
    # BLEU by hand on example 2 alone: precisions 6/6, 4/5, 3/4, 2/3; brevity penalty exp(1 - 7/6)
    single = metrics.bleu4(predictions[1:], references[1:])
    assert single == pytest.approx(100 * math.exp(1 - 7 / 6) * (1 * 0.8 * 0.75 * (2 / 3)) ** 0.25)


def test_rouge_l_without_stemming_equals_the_training_helper():
    predictions, references = ["the cats are sitting on a mat", "dogs barked"], ["the cat sat on the mat", "a dog"]
    unstemmed = metrics.rouge_f1(predictions, references, stemmer=False)["rougeL_f1"]
    assert unstemmed == pytest.approx(rouge_l(predictions, references))
    assert metrics.rouge_f1(predictions, references)["rougeL_f1"] > unstemmed


def test_compute_generation_metrics_uses_the_parts(nltk_data):
    predictions = ["the cats are sitting on a mat", "dogs barked"]
    references = ["the cat sat on the mat", "a dog barked"]
    result = compute_generation_metrics(predictions, references, rouge_stemmer=False)
    assert result == {
        **metrics.rouge_f1(predictions, references, stemmer=False),
        "bleu4": metrics.bleu4(predictions, references),
        "chrf": metrics.chrf(predictions, references),
        "meteor": metrics.meteor(predictions, references),
    }
    assert 0.0 < result["meteor"] < 100.0


@pytest.mark.parametrize(
    "predictions, references, message",
    [
        (["a", "b"], ["a"], "2 predictions but 1 references"),
        ([], [], "No predictions"),
        ("a b", ["a b"], "must be a list"),
        (["a", None], ["a", "b"], r"predictions\[1\] is a NoneType"),
    ],
)
def test_bad_inputs_raise(predictions, references, message):
    for function in (compute_generation_metrics, metrics.rouge_f1, metrics.bleu4, metrics.meteor):
        with pytest.raises(ValueError, match=message):
            function(predictions, references)


def test_missing_wordnet_says_how_to_install(monkeypatch):
    monkeypatch.setattr(wordnet, "find_nltk_wordnet", lambda: None)
    with pytest.raises(ValueError, match="apt-get install .*wordnet-base.*bang-prepare-wordnet"):
        compute_generation_metrics(["a b"], ["a b"])
    with pytest.raises(ValueError, match="METEOR needs WordNet"):
        metrics.meteor(["a b"], ["a b"])


def test_evaluate_load_offline_gives_the_same_dict(nltk_data, tmp_path, monkeypatch):
    import evaluate
    import huggingface_hub

    predictions = ["the cats are sitting on a mat", "hello world"]
    references = ["the cat sat on the mat", "hello there world"]
    expected = compute_generation_metrics(predictions, references)

    def no_network(*args, **kwargs):
        raise AssertionError("evaluate.load of the local module tried to open a network connection")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    metric = metrics.load_metric(cache_dir=str(tmp_path))
    assert isinstance(metric, evaluate.Metric) and metric.name == "bang_generation_metrics"
    assert metric.compute(predictions=predictions, references=references) == pytest.approx(expected)
    assert metric.compute(predictions=predictions, references=references, rouge_stemmer=False)[
        "rougeL_f1"
    ] == pytest.approx(rouge_l(predictions, references))


def test_local_module_folder_holds_the_script():
    assert (metrics.METRIC_DIR / "bang_generation_metrics.py").is_file()


# ---------------------------------------------------------------- WordNet preparation


def test_lexnames_is_wordnet_30s_list():
    lines = wordnet.lexnames_text().splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3" and lines[3] == "03\tnoun.Tops\t1" and lines[28] == "28\tnoun.time\t1"
    assert lines[29] == "29\tverb.body\t2" and lines[43] == "43\tverb.weather\t2" and lines[44] == "44\tadj.ppl\t3"
    assert [line.split("\t")[0] for line in lines] == [f"{i:02d}" for i in range(45)]


def test_check_lexnames_against_data_files(tmp_path):
    wordnet.check_lexnames(WORDNET_FIXTURE)  # real lines: data.verb uses 29, data.noun 03 and 05, ...
    for path in WORDNET_FIXTURE.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    text = (tmp_path / "data.adv").read_text().replace("00002621 02 r", "00002621 05 r")
    (tmp_path / "data.adv").write_text(text)
    with pytest.raises(ValueError, match="data.adv .* uses lexicographer files \\[5\\]"):
        wordnet.check_lexnames(tmp_path)


@pytest.mark.skipif(not (wordnet.DEBIAN_WORDNET_DIR / "data.noun").is_file(), reason=NO_WORDNET)
def test_prepare_nltk_wordnet_copies_and_refuses_to_overwrite(tmp_path, capsys, monkeypatch):
    # nltk reading the prepared folder is what the METEOR tests check; skip loading it a second time here
    monkeypatch.setattr(wordnet, "check_with_nltk", lambda root: "WordNet 3.0: dog.n.01 (not loaded)")
    folder = prepare_wordnet.main(["--target", str(tmp_path)])
    assert folder == tmp_path / "corpora" / "wordnet"
    for name in (*wordnet.REQUIRED_FILES, "lexnames"):
        assert (folder / name).is_file() and not (folder / name).is_symlink()
    assert (folder / "lexnames").read_text() == wordnet.lexnames_text()
    assert "WordNet 3.0: dog.n.01" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--overwrite"):
        wordnet.prepare_nltk_wordnet(tmp_path)
    wordnet.prepare_nltk_wordnet(tmp_path, overwrite=True)


def test_prepare_nltk_wordnet_without_source_raises(tmp_path):
    with pytest.raises(ValueError, match="apt-get install"):
        wordnet.prepare_nltk_wordnet(tmp_path / "target", source=tmp_path)


def test_default_target(monkeypatch, tmp_path):
    monkeypatch.setenv("NLTK_DATA", f"{tmp_path}{os.pathsep}/elsewhere")
    assert wordnet.default_target() == tmp_path
    monkeypatch.delenv("NLTK_DATA")
    assert wordnet.default_target() == Path.home() / "nltk_data"
