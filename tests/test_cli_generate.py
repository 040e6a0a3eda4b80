"""`bang-generate` (`bang_spmd.cli.generate`, `bang_spmd.evaluation.decoding`): one output line per source, equal to
`model.generate` decoded."""

import io
import json
import sys

import datasets
import pytest
import torch

from bang_spmd.cli import console
from bang_spmd.cli import generate as program
from bang_spmd.evaluation.decoding import decode_outputs, encode_sources
from bang_spmd.trainers.seq2seq_data import PairEncoding, encode_pairs
from modeling_bang.generation_bang import collapse_repeated_words

from .helpers import tiny_model, tiny_tokenizer


# Words of the tiny tokenizer spell their own ids (5..98); the third source is the longest, so batches are padded.
TEXTS = ["10 11 12 13", "40 41", "70 71 72 73 74 75 76 77"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A lively tiny model (weights large enough that outputs depend on the source) whose generation config decodes
    NAR by default, and its tokenizer, saved together; returns (folder, model, tokenizer)."""
    folder = tmp_path_factory.mktemp("bang_generate_model")
    model, tokenizer = tiny_model(init_std=0.3), tiny_tokenizer()
    model.generation_config.decoding_mode = "nar"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model, tokenizer


def expected_lines(model, tokenizer, sources, mode: str, pairs=None, **settings) -> list[str]:
    """`model.generate` on each source alone (no padding), decoded with skip_special_tokens; in NAR mode keeping
    [UNK] and with the official word-level collapse."""
    lines = []
    for i, text in enumerate(sources):
        ids = tokenizer(text, text_pair=None if pairs is None else pairs[i], return_tensors="pt").input_ids
        output = model.generate(ids, decoding_mode=mode, **settings)
        line = decode_outputs(tokenizer, output, keep_unk=mode == "nar")[0]  # NAR keeps [UNK], as officially
        lines.append(collapse_repeated_words(line) if mode == "nar" else line)
    return lines


def text_args(folder, *extra: str) -> list[str]:
    argv = ["--model", str(folder), "--device", "cpu"]
    for text in TEXTS:
        argv += ["--text", text]
    return argv + list(extra)


@pytest.mark.parametrize(
    "mode, flags, settings",
    [
        ("nar", [], {}),
        ("ar", [], {}),
        ("ar", ["--num_beams", "2", "--length_penalty", "1.5"], {"num_beams": 2, "length_penalty": 1.5}),
        ("semi_nar", ["--semi_nar_block_size", "2"], {"semi_nar_block_size": 2}),
    ],
)
def test_text_sources_give_the_decoded_generate_output(saved, capsys, mode, flags, settings):
    folder, model, tokenizer = saved
    argv = text_args(folder, "--decoding_mode", mode, "--max_new_tokens", "6", "--batch_size", "2", *flags)
    lines = program.main(argv)
    assert lines == expected_lines(model, tokenizer, TEXTS, mode, max_new_tokens=6, **settings)
    assert len(set(lines)) > 1  # the outputs depend on the source
    assert capsys.readouterr().out == "".join(line + "\n" for line in lines)


def test_default_decoding_mode_is_the_generation_config_s(saved):
    folder, model, tokenizer = saved
    lines = program.main(text_args(folder, "--max_new_tokens", "5"))
    assert lines == expected_lines(model, tokenizer, TEXTS, "nar", max_new_tokens=5)


def test_text_file_input_and_output_file(saved, tmp_path):
    folder, model, tokenizer = saved
    source = tmp_path / "sources.txt"
    source.write_text("\n".join(TEXTS) + "\n")
    output = tmp_path / "out" / "generated.txt"
    argv = ["--model", str(folder), "--input_file", str(source), "--output_file", str(output), "--max_new_tokens", "6"]
    lines = program.main(argv + ["--decoding_mode", "ar"])
    assert lines == expected_lines(model, tokenizer, TEXTS, "ar", max_new_tokens=6)
    assert output.read_text().splitlines() == lines


def test_jsonl_sources_are_joined_as_in_training(saved, tmp_path, capsys):
    folder, model, tokenizer = saved
    rows = [
        {"word": "10 11", "example": "12  13", "extra": "14", "definition": "5"},
        {"word": "40", "example": "43", "extra": "41 42", "definition": "6"},
    ]
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    columns = "word,example,extra"
    args = program.parse_args(["--model", str(folder), "--input_file", str(path), "--source_columns", columns])
    ids = encode_sources(program.read_sources(args), tokenizer, 64, truncate=False)
    trained, _ = encode_pairs(
        datasets.Dataset.from_list(rows), tokenizer, PairEncoding(source_columns=columns), "test"
    )
    assert ids == trained["input_ids"]

    argv = ["--model", str(folder), "--input_file", str(path), "--source_columns", columns, "--max_new_tokens", "6"]
    texts, pairs = ["10 11", "40"], ["12 13 14", "43 41 42"]
    assert program.main(argv) == expected_lines(model, tokenizer, texts, "nar", pairs=pairs, max_new_tokens=6)


def test_standard_input_is_read_when_no_source_is_given(saved, monkeypatch, capsys):
    folder, model, tokenizer = saved
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(TEXTS)))
    lines = program.main(["--model", str(folder), "--decoding_mode", "nar", "--max_new_tokens", "6"])
    assert lines == expected_lines(model, tokenizer, TEXTS, "nar", max_new_tokens=6)


def test_console_command_runs_main(saved, monkeypatch, capsys):
    folder, model, tokenizer = saved
    argv = ["bang-generate", "--model", str(folder), "--text", TEXTS[0], "--max_new_tokens", "6"]
    monkeypatch.setattr(sys, "argv", argv)
    assert console.generate() is None
    expected = expected_lines(model, tokenizer, TEXTS[:1], "nar", max_new_tokens=6)
    assert capsys.readouterr().out == expected[0] + "\n"


def test_over_long_source_is_an_error_unless_truncated(saved, tmp_path):
    folder, model, tokenizer = saved
    long_text = " ".join(str(5 + i % 90) for i in range(70))  # 71 tokens with [SEP]; the model holds 64
    source = tmp_path / "sources.txt"
    source.write_text(f"{TEXTS[0]}\n{long_text}\n")
    argv = ["--model", str(folder), "--input_file", str(source), "--max_new_tokens", "4"]
    with pytest.raises(ValueError, match=r"line 2 of .*sources.txt has 71 tokens.*max_position_embeddings \(64\)"):
        program.main(argv)
    lines = program.main(argv + ["--truncate_sources"])
    truncated = tokenizer(long_text, truncation=True, max_length=64).input_ids
    assert len(truncated) == 64 and truncated[-1] == tokenizer.sep_token_id
    output = model.generate(torch.tensor([truncated]), decoding_mode="nar", max_new_tokens=4)
    assert lines[1] == collapse_repeated_words(decode_outputs(tokenizer, output, keep_unk=True)[0])


@pytest.mark.parametrize(
    "stdin, message",
    [("", "No source to generate from: standard input is empty"), ("10 11\n\n12\n", "line 2 of standard input")],
)
def test_empty_input_is_an_error(saved, monkeypatch, stdin, message):
    folder = saved[0]
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with pytest.raises(ValueError, match=message):
        program.main(["--model", str(folder)])


def test_bad_jsonl_rows_are_errors_naming_the_line(saved, tmp_path):
    folder = saved[0]
    path = tmp_path / "data.jsonl"
    argv = ["--model", str(folder), "--input_file", str(path), "--source_columns", "word,example"]
    for content, message in [
        ('{"word": "10", "example": "11"}\n{"word": "12"}\n', r"line 2 of .* has no column\(s\) \['example'\]"),
        ('{"word": "10", "example": "11"}\nnot json\n', "line 2 of .* is not valid JSON"),
        ('{"word": " ", "example": "11"}\n', "The source of line 1 of .* is empty"),
        ("", "No source to generate from"),
    ]:
        path.write_text(content)
        with pytest.raises(ValueError, match=message):
            program.main(argv)


def test_flags_that_do_not_apply_to_the_decoding_mode_are_errors(saved):
    folder = saved[0]
    with pytest.raises(ValueError, match="--num_beams applies to decoding_mode='ar' only; the decoding mode is 'nar'"):
        program.main(text_args(folder, "--num_beams", "4"))  # the generation config's mode: nar
    with pytest.raises(ValueError, match="--semi_nar_block_size applies to decoding_mode='semi_nar' only"):
        program.main(text_args(folder, "--decoding_mode", "ar", "--semi_nar_block_size", "2"))


def test_a_length_is_required_when_the_generation_config_has_none(saved):
    folder = saved[0]  # its generation config sets neither max_new_tokens nor max_length
    with pytest.raises(ValueError, match="Pass --max_new_tokens"):
        program.main(text_args(folder, "--decoding_mode", "ar"))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--text", "10", "--input_file", "x.txt"], "not allowed with argument"),
        (["--input_file", "x.jsonl"], "--source_columns is required"),
        (["--text", "10", "--source_columns", "a"], "--source_columns only applies to a .jsonl"),
        (["--text", "10", "--batch_size", "0"], "--batch_size must be a positive integer"),
        (["--input_file", "missing.txt"], "--input_file missing.txt does not exist"),
        (["--text", "10", "--decoding_mode", "fast"], "invalid choice: 'fast'"),
    ],
)
def test_bad_flags_are_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as error:
        program.parse_args(["--model", "unused", *argv])
    assert error.value.code == 2
    assert message in capsys.readouterr().err


def test_help_lists_the_flags(capsys):
    with pytest.raises(SystemExit) as error:
        program.main(["--help"])
    assert error.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--model", "--text", "--input_file", "--source_columns", "--decoding_mode", "--truncate_sources"):
        assert flag in out
