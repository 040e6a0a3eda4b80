"""Bad input is never accepted silently: every case below, on the API and on the programs, fails with a message that
names the file, line, column, tensor or flag and what was expected, before any expensive work starts.

Also: a folder whose config names its own code runs nothing unless `--trust_remote_code` is given (a marker file
written on import shows it), the programs turn user errors into one line and exit code 2, and concurrent runs on
one output refuse instead of overwriting each other. Everything uses the tiny config and runs in-process.
"""

import json
import re
import sys

import pytest
import transformers.dynamic_module_utils as dynamic_modules
from transformers import AutoConfig

from bang_spmd.cli import console
from bang_spmd.cli import distill as distill_program
from bang_spmd.cli import evaluate as evaluate_program
from bang_spmd.cli import export as export_program
from bang_spmd.cli import finetune as finetune_program
from bang_spmd.cli import generate as generate_program
from bang_spmd.cli import pretrain as pretrain_program
from bang_spmd.cli import train as train_program

from .helpers import tiny_model, tiny_tokenizer


WORDS = ["10 11", "12 13 14", "15", "16 17", "18 19 20"]
ROWS = [{"id": f"r{i}", "word": w, "example": "30 31", "definition": "40 41 42"} for i, w in enumerate(WORDS)]


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny BANG model (decoding NAR by default, 8 new tokens) saved with its tokenizer; and a training file."""
    root = tmp_path_factory.mktemp("bad_input")
    folder = root / "model"
    model = tiny_model(init_std=0.3)
    model.generation_config.decoding_mode = "nar"
    model.generation_config.max_new_tokens = 8
    model.save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder, write_jsonl(root / "train.jsonl", ROWS)


# ---------------------------------------------------------------------------------------------------------------
# Remote code runs only when asked
# ---------------------------------------------------------------------------------------------------------------

FOREIGN_CODE = """import pathlib
pathlib.Path({marker!r}).write_text("the folder's code ran")
from transformers import PretrainedConfig, PreTrainedModel


class ForeignConfig(PretrainedConfig):
    model_type = "foreign_remote"


class ForeignModel(PreTrainedModel):
    config_class = ForeignConfig
"""


@pytest.fixture
def foreign(tmp_path, saved, monkeypatch):
    """A folder with a foreign model_type whose auto_map points at `foreign.py`, which writes `marker` when imported
    (the tiny tokenizer's files are there too, with an auto_map of their own); returns (folder, marker)."""
    monkeypatch.setattr(dynamic_modules, "HF_MODULES_CACHE", str(tmp_path / "modules"))
    folder, marker = tmp_path / "foreign", tmp_path / "marker.txt"
    tiny_tokenizer().save_pretrained(folder)
    (folder / "foreign.py").write_text(FOREIGN_CODE.format(marker=str(marker)))
    auto_map = {"AutoConfig": "foreign.ForeignConfig", "AutoModelForSeq2SeqLM": "foreign.ForeignModel"}
    config = {"model_type": "foreign_remote", "architectures": ["ForeignModel"], "auto_map": auto_map}
    (folder / "config.json").write_text(json.dumps(config))
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    tokenizer_config["auto_map"] = {"AutoTokenizer": ["foreign.ForeignTokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    return folder, marker


def test_the_foreign_folder_runs_its_code_when_trusted(foreign):
    folder, marker = foreign
    AutoConfig.from_pretrained(folder, trust_remote_code=True)
    assert marker.read_text() == "the folder's code ran"


def remote_code_cases(folder, data, out):
    """(program, argv, expected message) for every program that loads a model or tokenizer the user names."""
    columns = ["--source_columns", "word,example", "--target_column", "definition"]
    training = ["--train_file", data, "--output_dir", str(out / "run"), "--max_steps", "1", *columns]
    distilling = ["--data_file", data, "--output_file", str(out / "d.jsonl"), "--cache_dir", str(out / "cache")]
    pretraining = ["--train_files", data, "--output_dir", str(out / "pre")]
    trusted = "would run that code. Pass --trust_remote_code if you trust it"
    return [
        (generate_program, ["--model", folder, "--text", "10 11"], trusted),
        (evaluate_program, ["--model", folder, "--data_file", data, *columns], trusted),
        (distill_program, ["--teacher", folder, *distilling, *columns], trusted),
        (
            distill_program,
            ["--teacher", str(out / "model"), "--student_tokenizer", folder, *distilling, *columns],
            trusted,
        ),
        (train_program, [*training, "--config_preset", "tiny", "--teacher_name_or_path", folder], trusted),
        (train_program, [*training, "--model_name_or_path", folder], "not a BANG model"),
        (train_program, [*training, "--config_preset", "tiny", "--tokenizer_name_or_path", folder], trusted),
        (finetune_program, [*training, "--model_name_or_path", folder], "not a BANG model"),
        (pretrain_program, [*pretraining, "--model_name_or_path", folder], "not a BANG model"),
        (export_program, ["--model", folder, "--output_dir", str(out / "onnx")], "not a BANG model"),
    ]


@pytest.mark.parametrize("case", range(10))
def test_a_foreign_auto_map_runs_no_code_without_trust_remote_code(foreign, saved, tmp_path, case):
    folder, marker = foreign
    (tmp_path / "model").symlink_to(saved[0])
    program, argv, message = remote_code_cases(str(folder), saved[1], tmp_path)[case]
    with pytest.raises(ValueError, match=message):
        program.main(argv)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------------------------
# The programs: one line, exit status 2, --debug for the traceback
# ---------------------------------------------------------------------------------------------------------------


def run_command(monkeypatch, capsys, command: str, argv: list[str]) -> tuple[int, str]:
    """Runs the console command `command` (e.g. `bang-generate`) on `argv`; returns its exit status and stderr."""
    monkeypatch.setattr(sys, "argv", [command, *argv])
    entry = getattr(console, command.removeprefix("bang-").replace("-", "_"))
    with pytest.raises(SystemExit) as stop:
        entry()
    return stop.value.code, capsys.readouterr().err


def assert_one_line_error(status: int, err: str, command: str, message: str) -> None:
    assert status == 2
    lines = [line for line in err.splitlines() if line.startswith(f"{command}: error: ")]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize("case", range(10))
def test_the_programs_refuse_foreign_code_in_one_line(foreign, saved, tmp_path, monkeypatch, capsys, case):
    folder, marker = foreign
    (tmp_path / "model").symlink_to(saved[0])
    program, argv, message = remote_code_cases(str(folder), saved[1], tmp_path)[case]
    command = "bang-" + program.__name__.rpartition(".")[2].replace("_", "-")
    status, err = run_command(monkeypatch, capsys, command, argv)
    assert_one_line_error(status, err, command, message)
    assert not marker.exists()


def test_debug_shows_the_traceback(monkeypatch, capsys, tmp_path):
    argv = ["--model", str(tmp_path / "missing"), "--text", "10"]
    status, err = run_command(monkeypatch, capsys, "bang-generate", argv)
    assert_one_line_error(status, err, "bang-generate", "missing does not exist")
    monkeypatch.setattr(sys, "argv", ["bang-generate", *argv, "--debug"])
    with pytest.raises(ValueError, match="missing does not exist"):
        console.generate()


def test_an_internal_error_keeps_its_traceback(monkeypatch):
    def broken(argv):
        raise KeyError("a bug, not a user error")

    monkeypatch.setattr(generate_program, "main", broken)
    monkeypatch.setattr(sys, "argv", ["bang-generate"])
    with pytest.raises(KeyError, match="a bug"):
        console.generate()


def test_a_converter_refuses_a_text_file_in_one_line(monkeypatch, capsys, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    status, err = run_command(monkeypatch, capsys, "bang-convert", [str(text), str(tmp_path / "out")])
    assert status == 2 and re.search(r"error: .*notes.txt .*PyTorch checkpoint", err) and "Traceback" not in err
