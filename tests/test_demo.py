"""The demo app's logic (`bang_spmd.demo`), its program (`bang-demo`) and its Space folder, without a browser.

`decode_all_modes` with a tiny random model: every mode the model supports, the lossless mode equal to AR greedy,
positive times, messages for empty and over-long input; the model card's headline numbers and examples; the
program's one-line errors; the package working without gradio. The tests that build the Gradio page skip with a
message when gradio (the `demo` extra) is not installed; `test_demo_browser.py` drives the page in Chromium.
"""

import importlib.util
import json
import runpy
import sys
from pathlib import Path

import pytest
import tomllib

from bang_spmd.demo import card_summary, decode_all_modes, demo_modes, encode_input, example_inputs, load_demo
from bang_spmd.demo.card import DEFAULT_EXAMPLES, examples_from_file, snippet_examples
from bang_spmd.demo.modes import EMPTY_INPUT_MESSAGE, MAX_CHARACTERS, NO_TEXT_MESSAGE, DemoRun, ModeResult
from bang_spmd.model_cards import write_model_card

from .helpers import REPO_ROOT, save_tiny_pretrained, tiny_model, tiny_tokenizer, translation_rows


HAS_GRADIO = importlib.util.find_spec("gradio") is not None
needs_gradio = pytest.mark.skipif(not HAS_GRADIO, reason="gradio is not installed: pip install 'bang-spmd[demo]'")
MAX_NEW_TOKENS = 12
MODE_KEYS = ["ar_greedy", "ar_beam4", "nar", "semi_nar_k2", "semi_nar_verify_k2"]
CARD_EXAMPLES = ["server library", "graphical client tool"]


def write_demo_model(folder: Path) -> Path:
    """A tiny random BANG (two predicting streams) with a model card whose model-index holds two results."""
    rows = translation_rows(40)
    save_tiny_pretrained(folder, [r["en"] for r in rows] + [r["fr"] for r in rows])
    write_model_card(
        folder,
        model_type="spmd",
        results=[
            {"decoding_mode": "nar", "bleu4": 12.5, "max_new_tokens": MAX_NEW_TOKENS, "label": "NAR"},
            {"decoding_mode": "ar", "num_beams": 4, "bleu4": 20.25, "label": "AR beam 4"},
        ],
        repo_id="you/bang-tiny-demo",
        dataset={"name": "debtrans sample", "split": "test"},
        training={"steps": 0, "data": "none: random weights"},
        example_inputs=CARD_EXAMPLES,
    )
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return write_demo_model(tmp_path_factory.mktemp("demo-model"))


@pytest.fixture(scope="module")
def demo(model_dir):
    return load_demo(str(model_dir), max_new_tokens=MAX_NEW_TOKENS)


def test_every_mode_is_decoded_and_timed_and_verify_equals_ar_greedy(demo):
    assert [m.key for m in demo.modes] == MODE_KEYS
    for text in ["server library", "graphical client tool documentation", "5 6 7"]:
        run = decode_all_modes(demo.model, demo.tokenizer, text, demo.modes)
        assert run.message is None and run.notes == []
        assert [r.key for r in run.results] == MODE_KEYS
        assert all(isinstance(r.output, str) and r.ms > 0 for r in run.results)
        verify, greedy = run.result("semi_nar_verify_k2"), run.result("ar_greedy")
        assert verify.output == greedy.output and verify.same_as_ar_greedy is True
        assert 1.0 <= verify.tokens_per_pass <= 2.0
    settings = {m.key: m.settings for m in demo.modes}
    assert settings["ar_greedy"]["num_beams"] == 1 and settings["ar_beam4"]["num_beams"] == 4
    assert settings["ar_beam4"]["early_stopping"] is True  # fairseq's beam search, as bang-generate
    assert settings["semi_nar_k2"]["semi_nar_acceptance"] == "all"
    assert settings["semi_nar_verify_k2"]["semi_nar_acceptance"] == "verify"
    assert {settings[k]["semi_nar_block_size"] for k in MODE_KEYS[3:]} == {2}
    assert all(s["max_new_tokens"] == MAX_NEW_TOKENS for s in settings.values())


def test_the_default_call_builds_the_modes_and_takes_the_median_of_repeats(demo):
    run = decode_all_modes(demo.model, demo.tokenizer, "server library", max_new_tokens=MAX_NEW_TOKENS, repeats=3)
    assert [r.key for r in run.results] == MODE_KEYS and all(r.ms > 0 for r in run.results)


def test_a_one_stream_model_has_no_semi_nar_modes():
    model = tiny_model(ngram=1)
    assert [m.key for m in demo_modes(model, max_new_tokens=6)] == ["ar_greedy", "ar_beam4", "nar"]
    run = decode_all_modes(model, tiny_tokenizer(), "5 6 7", max_new_tokens=6)
    assert [r.key for r in run.results] == ["ar_greedy", "ar_beam4", "nar"]


def test_no_output_length_is_an_error_naming_the_flag():
    model = tiny_model()
    model.generation_config.max_new_tokens = None
    model.generation_config.max_length = None
    with pytest.raises(ValueError, match="--max_new_tokens"):
        demo_modes(model)


@pytest.mark.parametrize("text", ["", "   ", "\n\t \n", None])
def test_empty_input_is_a_message_and_nothing_is_decoded(demo, text):
    run = decode_all_modes(demo.model, demo.tokenizer, text, demo.modes)
    assert run.results == [] and run.message == EMPTY_INPUT_MESSAGE and run.source_tokens == 0


@pytest.mark.parametrize("text", ["\u200b", "\ufeff\u200b", "[SEP]", "[CLS][PAD]"])
def test_an_input_the_tokenizer_keeps_no_text_of_is_a_message(demo, text):
    run = decode_all_modes(demo.model, demo.tokenizer, text, demo.modes)
    assert run.results == [] and run.message == NO_TEXT_MESSAGE


def test_an_over_long_input_is_truncated_to_the_positions_with_a_note(demo):
    positions = demo.model.config.max_position_embeddings
    run = decode_all_modes(demo.model, demo.tokenizer, "server library " * 100, demo.modes)
    assert run.message is None and run.source_tokens == positions
    assert len(run.notes) == 1 and "truncated to its first" in run.notes[0] and str(positions) in run.notes[0]
    assert [r.key for r in run.results] == MODE_KEYS
    assert run.result("semi_nar_verify_k2").output == run.result("ar_greedy").output


def test_a_pasted_book_is_cut_before_tokenizing(demo):
    ids, notes, message = encode_input(demo.tokenizer, "server " * (MAX_CHARACTERS // 6), 64)
    assert message is None and len(ids) <= 64
    assert f"first {MAX_CHARACTERS:,}" in notes[0] and "truncated" in notes[1]


def test_the_card_gives_the_headline_numbers_and_the_examples(model_dir, demo):
    card = card_summary(str(model_dir))
    assert card.note is None and card.model_name == "bang-tiny-demo"
    assert [(h.value, h.dataset, h.split) for h in card.headlines] == [
        (12.5, "debtrans sample", "test"),
        (20.25, "debtrans sample", "test"),
    ]
    assert all("BLEU-4" in h.metric for h in card.headlines)
    table = card.markdown()
    assert "| metric | value | data set | split |" in table and "20.25" in table and "12.50" in table
    assert card.examples == CARD_EXAMPLES and demo.examples == CARD_EXAMPLES
    assert "2 predicting stream(s)" in demo.describe() and f"{MAX_NEW_TOKENS} new tokens" in demo.describe()


def test_no_card_or_a_broken_card_still_gives_a_page(tmp_path):
    assert card_summary(str(tmp_path)).headlines == [] and card_summary(str(tmp_path)).note is None
    assert example_inputs(card_summary(str(tmp_path))) == DEFAULT_EXAMPLES
    (tmp_path / "README.md").write_text("---\nlicense: [unclosed\n---\n# x\n", encoding="utf-8")
    broken = card_summary(str(tmp_path))
    assert broken.headlines == [] and broken.note.startswith("The model card could not be read")
    placeholder = 'batch = tokenizer(["Replace this with a source text of the kind the model was trained on."], x)'
    assert snippet_examples(placeholder) == []
    assert snippet_examples('tokenizer(["a b", "c"], ["p", "q"], return_tensors="pt")') == ["a b", "c"]


def test_an_examples_file_wins_and_its_bad_rows_are_named(tmp_path, model_dir):
    good = tmp_path / "examples.jsonl"
    good.write_text("".join(json.dumps({"text": f"text {i}", "other": 1}) + "\n" for i in range(12)))
    assert examples_from_file(good, "text") == [f"text {i}" for i in range(10)]
    assert example_inputs(card_summary(str(model_dir)), good, "text")[0] == "text 0"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"source": "no text column"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2 has no column 'text'"):
        examples_from_file(bad, "text")
    bad.write_text('{"text": 5}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: column 'text' must be a string"):
        examples_from_file(bad, "text")


def run_demo_program(argv, capsys, usage: bool = False) -> str:
    """`bang-demo argv` under the programs' error policy; returns its standard error after exit status 2: one line,
    or with `usage` (a bad flag, argparse's way) the usage and one error line."""
    from bang_spmd.cli import demo as program
    from bang_spmd.cli.console import run_program

    with pytest.raises(SystemExit) as stop:
        run_program(program.main, "bang-demo", argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    if usage:
        assert err.startswith("usage: bang-demo"), err
        return err.splitlines()[-1]
    assert err.count("\n") == 1, err
    return err


@needs_gradio
def test_an_unknown_model_is_a_one_line_program_error(tmp_path, capsys):
    err = run_demo_program(["--model", str(tmp_path / "no-such-model")], capsys)
    assert err.startswith("bang-demo: error: --model") and "does not exist" in err
    (tmp_path / "empty").mkdir()
    assert "has no config.json" in run_demo_program(["--model", str(tmp_path / "empty")], capsys)
    assert "--port must be between" in run_demo_program(["--model", "x", "--port", "70000"], capsys, usage=True)


def test_without_gradio_the_package_works_and_the_program_says_what_to_install(monkeypatch, capsys, demo):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` raises ImportError
    from bang_spmd.demo.app import require_gradio

    with pytest.raises(ImportError, match=r"pip install 'bang-spmd\[demo\]'"):
        require_gradio()
    err = run_demo_program(["--model", "bang-mini"], capsys)
    assert "pip install 'bang-spmd[demo]'" in err
    assert decode_all_modes(demo.model, demo.tokenizer, "server", demo.modes).results  # the logic needs no gradio


def test_the_demo_extra_and_the_program_are_declared():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert any(r.startswith("gradio") for r in project["optional-dependencies"]["demo"])
    assert not any(r.startswith(("gradio", "playwright")) for r in project["dependencies"])
    assert project["scripts"]["bang-demo"] == "bang_spmd.cli.console:demo"


def test_the_space_folder_has_the_spaces_layout():
    space = REPO_ROOT / "examples" / "space"
    header = (space / "README.md").read_text(encoding="utf-8").split("---")[1]
    fields = dict(line.split(": ", 1) for line in header.strip().splitlines())
    assert fields["sdk"] == "gradio" and fields["app_file"] == "app.py"
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    requirement = [line for line in (space / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    assert requirement == [f"./bang_spmd-{version}-py3-none-any.whl[demo]"]
    if HAS_GRADIO:
        import gradio

        assert fields["sdk_version"].split(".")[0] == gradio.__version__.split(".")[0]


@needs_gradio
def test_the_space_app_builds_the_page_of_the_model_in_bang_model(model_dir, monkeypatch):
    import gradio

    monkeypatch.setenv("BANG_MODEL", str(model_dir))
    monkeypatch.setenv("BANG_MAX_NEW_TOKENS", str(MAX_NEW_TOKENS))
    space = runpy.run_path(str(REPO_ROOT / "examples" / "space" / "app.py"), run_name="space_app")
    assert isinstance(space["demo"], gradio.Blocks)


def test_a_space_without_an_output_length_uses_its_default_and_the_program_asks_for_one(model_dir):
    assert load_demo(str(model_dir), fallback_max_new_tokens=7).max_new_tokens == 7  # the tiny config sets none
    assert load_demo(str(model_dir), max_new_tokens=5, fallback_max_new_tokens=7).max_new_tokens == 5
    with pytest.raises(ValueError, match="Pass --max_new_tokens"):
        load_demo(str(model_dir))


@needs_gradio
def test_the_page_answer_escapes_outputs_and_shows_messages(demo):
    from bang_spmd.demo.app import build_app, decode_for_page, results_html

    assert build_app(demo) is not None
    message, table, frame = decode_for_page(demo, "server library", 7)
    assert message == "" and 'data-run="7"' in table and table.count("<tr data-mode=") == len(MODE_KEYS)
    assert list(frame["mode"]) == [m.label for m in demo.modes] and (frame["ms per sample"] > 0).all()
    message, table, frame = decode_for_page(demo, "  ", 8)
    assert EMPTY_INPUT_MESSAGE in message and 'data-run="8"' in table and "<tr" not in table and frame is None
    run = DemoRun([ModeResult("nar", "NAR", "<script>alert(1)</script>", 1.0, 3, {"decoding_mode": "nar"})])
    assert "<script>" not in results_html(run) and "&lt;script&gt;" in results_html(run)


@needs_gradio
def test_a_failing_call_is_a_message_not_a_traceback(demo, monkeypatch):
    from bang_spmd.demo import app

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory\nwhile decoding")

    monkeypatch.setattr(app, "decode_all_modes", broken)
    message, table, frame = app.decode_for_page(demo, "server library")
    assert message == "⚠️ Decoding failed (RuntimeError): out of memory while decoding" and frame is None
