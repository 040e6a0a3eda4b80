"""Bad input is never accepted silently: every case below, on the API and on the programs, fails with a message that
names the file, line, column, tensor or flag and what was expected, before any expensive work starts.

Also: a folder whose config names its own code runs nothing unless `--trust_remote_code` is given (a marker file
written on import shows it), and the programs turn user errors into one line and exit code 2 (`--debug` shows the
traceback). Everything uses the tiny config and runs in-process. Concurrent runs: `test_concurrent_runs.py`.
"""

import hashlib
import json
import re
import shutil
import sys

import datasets
import pytest
import torch
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
from bang_spmd.evaluation.split_evaluation import Decoding
from bang_spmd.recipes import DataArguments
from bang_spmd.trainers import (
    DISTILLED_HASH_COLUMN,
    DISTILLED_LABELS,
    PairEncoding,
    Seq2SeqCollator,
    SPMDDataCollator,
    check_distilled_row,
    distilled_sha256,
    encode_pairs,
)
from bang_spmd.trainers.distillation import OLD_SOURCE_HASH_COLUMN
from bang_spmd.trainers.model_setup import check_training_arguments, load_pretrained_tokenizer, record_weight_digests
from bang_spmd.trainers.spmd_trainer import check_distilled_value
from modeling_bang import BangConfig, BangForConditionalGeneration

from .helpers import random_batch, tiny_model, tiny_tokenizer


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
    gold = [*training, "--mixing_strategy", "gold"]
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
        (train_program, [*gold, "--config_preset", "tiny", "--teacher_name_or_path", folder], trusted),
        (train_program, [*gold, "--model_name_or_path", folder], "not a BANG model"),
        (train_program, [*gold, "--config_preset", "tiny", "--tokenizer_name_or_path", folder], trusted),
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


@pytest.mark.parametrize("outcome", ["returns", "user error", "internal error"])
def test_a_program_ends_its_process_group_however_it_ends(outcome, tmp_path):
    def program(argv):
        assert torch.distributed.is_initialized()
        if outcome == "user error":
            raise ValueError("bad flag")
        if outcome == "internal error":
            raise KeyError("a bug")

    store = torch.distributed.FileStore(str(tmp_path / "store"), 1)
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        expected = {"returns": None, "user error": SystemExit, "internal error": KeyError}[outcome]
        if expected is None:
            console.run_program(program, "bang-test", [])
        else:
            with pytest.raises(expected):
                console.run_program(program, "bang-test", [])
        assert not torch.distributed.is_initialized()
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def test_a_converter_refuses_a_text_file_in_one_line(monkeypatch, capsys, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    status, err = run_command(monkeypatch, capsys, "bang-convert", [str(text), str(tmp_path / "out")])
    assert status == 2 and re.search(r"error: .*notes.txt .*PyTorch checkpoint", err) and "Traceback" not in err


# ---------------------------------------------------------------------------------------------------------------
# Data files: every program reads them first and names the file, line and column
# ---------------------------------------------------------------------------------------------------------------

GOOD = {"id": "x", "word": "10 11", "example": "12", "definition": "13 14"}
BAD_FILES = [  # (file content, message)
    (json.dumps({**GOOD, "definition": 123}) + "\n", r":1: column 'definition' must be a string, got int 123"),
    (json.dumps({**GOOD, "word": ["a", "b"]}) + "\n", r":1: column 'word' must be a string, got list \['a', 'b'\]"),
    (json.dumps({**GOOD, "word": None}) + "\n", r":1: column 'word' must be a string, got null"),
    (json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "definition": "  "}) + "\n", r":2: column 'definition' is empty"),
    (json.dumps({**GOOD, "word": ""}) + "\n", r":1: column 'word' is empty"),
    (json.dumps(GOOD) + "\n" + json.dumps(GOOD)[:-3] + "\n", r":2 is not valid JSON"),
    (json.dumps(GOOD) + "\n[1, 2]\n", r":2 is not a JSON object"),
    (json.dumps(GOOD)[:-1] + ', "word": "15"}\n', r":1: the key 'word' appears twice in one object"),
    ("", r" has no rows: it is empty"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "example"}) + "\n", r":1: no column\(s\) \['example'\]"),
]


def data_program_argv(program: str, model, data: str, out) -> list[str]:
    """The command line of `program` reading `data` (columns word,example -> definition)."""
    columns = ["--source_columns", "word,example", "--target_column", "definition"]
    if program == "finetune":
        return ["--train_file", data, "--output_dir", str(out / "run"), "--max_steps", "1", *columns]
    if program == "train":
        return ["--train_file", data, "--output_dir", str(out / "run"), "--max_steps", "1", "--mixing_strategy",
                "gold", *columns]  # fmt: skip
    if program == "train_validation":
        return ["--train_file", write_jsonl(out / "ok.jsonl", ROWS), "--validation_file", data, "--output_dir",
                str(out / "run"), "--max_steps", "1", "--mixing_strategy", "gold", *columns]  # fmt: skip
    if program == "distill":
        return ["--teacher", str(model), "--data_file", data, "--output_file", str(out / "d.jsonl"), "--cache_dir",
                str(out / "cache"), *columns]  # fmt: skip
    if program == "evaluate":
        return ["--model", str(model), "--data_file", data, *columns]
    raise AssertionError(program)


PROGRAMS = {
    "finetune": finetune_program,
    "train": train_program,
    "train_validation": train_program,
    "distill": distill_program,
    "evaluate": evaluate_program,
}


@pytest.mark.parametrize("program", sorted(PROGRAMS))
@pytest.mark.parametrize("content, message", BAD_FILES, ids=range(len(BAD_FILES)))
def test_a_bad_data_file_is_refused_naming_line_and_column(saved, tmp_path, program, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(str(path)) + message):
        PROGRAMS[program].main(data_program_argv(program, saved[0], str(path), tmp_path))
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_a_folder_given_as_the_data_file_is_named(saved, tmp_path, program):
    folder = tmp_path / "data"
    folder.mkdir()
    with pytest.raises(ValueError, match=re.escape(str(folder)) + r" is a folder; give the JSON Lines file"):
        PROGRAMS[program].main(data_program_argv(program, saved[0], str(folder), tmp_path))


def test_a_folder_given_as_the_output_file_is_one_line(saved, tmp_path, monkeypatch, capsys):
    argv = ["--model", str(saved[0]), "--text", "10 11", "--output_file", str(tmp_path)]
    status, err = run_command(monkeypatch, capsys, "bang-generate", argv)
    assert_one_line_error(status, err, "bang-generate", f"{tmp_path} is a folder; give the path of a file to write.")
    assert not [path for path in tmp_path.iterdir() if ".tmp-" in path.name]


def test_a_key_given_twice_is_one_line_naming_file_line_and_key(saved, tmp_path, monkeypatch, capsys):
    path = tmp_path / "twice.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD)[:-1] + ', "definition": "15"}\n', encoding="utf-8")
    status, err = run_command(
        monkeypatch, capsys, "bang-finetune", data_program_argv("finetune", None, str(path), tmp_path)
    )
    assert_one_line_error(status, err, "bang-finetune", f"{path}:2: the key 'definition' appears twice in one object")


@pytest.mark.parametrize(
    "content, message",
    [
        (json.dumps({"word": 5}) + "\n", r"line 1 of .*: column 'word' must be a string, got int 5"),
        (json.dumps({"word": None}) + "\n", r"line 1 of .*: column 'word' must be a string, got null"),
        ("{oops\n", r"line 1 of .* is not valid JSON"),
        ('{"word": "10", "word": "11"}\n', r"line 1 of .*: the key 'word' appears twice in one object"),
    ],
)
def test_bang_generate_refuses_bad_jsonl_sources(saved, tmp_path, content, message):
    path = tmp_path / "in.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        generate_program.main(["--model", str(saved[0]), "--input_file", str(path), "--source_columns", "word"])


# ---------------------------------------------------------------------------------------------------------------
# Flags: counts, columns and decoding options
# ---------------------------------------------------------------------------------------------------------------

FLAG_CASES = [  # (program, extra flags, message)
    ("finetune", ["--max_steps", "-5"], "--max_steps must be a positive number of optimizer steps, or -1"),
    ("finetune", ["--max_steps", "0"], "--max_steps must be a positive number of optimizer steps"),
    ("train", ["--max_steps", "-5"], "--max_steps must be a positive number of optimizer steps"),
    ("finetune", ["--max_steps", "-1", "--num_train_epochs", "0"], "--num_train_epochs must be positive"),
    ("finetune", ["--max_train_samples", "0"], "--max_train_samples must be a positive integer"),
    ("train", ["--max_train_samples", "0"], "--max_train_samples must be a positive integer"),
    ("finetune", ["--max_eval_samples", "-2"], "--max_eval_samples must be a positive integer"),
    ("finetune", ["--source_columns", ","], "--source_columns ',' names no column"),
    ("train", ["--source_columns", ","], "--source_columns ',' names no column"),
    ("finetune", ["--max_target_length", "0"], "--max_target_length must be an integer of at least 2"),
    ("finetune", ["--per_device_train_batch_size", "0"], "--per_device_train_batch_size must be a positive"),
    ("finetune", ["--gradient_accumulation_steps", "0"], "--gradient_accumulation_steps must be a positive"),
    ("finetune", ["--learning_rate", "-0.1"], "--learning_rate must be a positive number"),
    ("finetune", ["--save_steps", "-3"], "--save_steps must be positive"),
    ("finetune", ["--validation_metric", "accuracy"], "--validation_metric must be one of"),
    ("distill", ["--source_columns", ","], "--source_columns ',' names no column"),
    ("distill", ["--max_samples", "0"], "--max_samples must be a positive integer"),
    ("distill", ["--num_beams", "0"], "`num_beams` must be a positive integer"),
    ("evaluate", ["--decoding_mode", "nar", "--num_beams", "4"], "--num_beams only apply to another decoding mode"),
    ("evaluate", ["--decoding_mode", "ar", "--semi_nar_block_size", "3"], "--semi_nar_block_size only apply"),
    ("evaluate", ["--decoding_mode", "semi_nar", "--length_penalty", "2"], "--length_penalty only apply"),
    ("evaluate", ["--batch_size", "0"], "--batch_size must be a positive integer"),
    ("evaluate", ["--max_new_tokens", "0"], "--max_new_tokens must be a positive integer"),
    ("evaluate", ["--source_columns", ","], "--source_columns ',' names no column"),
]


@pytest.mark.parametrize("program, flags, message", FLAG_CASES, ids=range(len(FLAG_CASES)))
def test_a_bad_flag_is_refused_before_any_work(saved, tmp_path, program, flags, message):
    argv = data_program_argv(program, saved[0], saved[1], tmp_path) + flags
    with pytest.raises(ValueError, match=re.escape(message)):
        PROGRAMS[program].main(argv)
    assert not (tmp_path / "run").exists() and not (tmp_path / "d.jsonl").exists()


def test_semi_nar_blocks_longer_than_the_streams_are_refused(saved, tmp_path):
    argv = ["--model", str(saved[0]), "--text", "10 11", "--decoding_mode", "semi_nar", "--semi_nar_block_size", "5"]
    with pytest.raises(ValueError, match=r"--semi_nar_block_size 5 is more than the model's 2 predicting streams"):
        generate_program.main(argv)
    argv = data_program_argv("evaluate", saved[0], saved[1], tmp_path)
    with pytest.raises(ValueError, match=r"--semi_nar_block_size 9 is more than the model's 2 predicting streams"):
        evaluate_program.main([*argv, "--decoding_mode", "semi_nar", "--semi_nar_block_size", "9"])


# ---------------------------------------------------------------------------------------------------------------
# Empty sources and semi-NAR blocks: refused by `generate` in every decoding mode, and by the programs by name
# ---------------------------------------------------------------------------------------------------------------

SOURCE_ROWS = torch.tensor([[10, 11, 2], [2, 0, 0], [1, 2, 0], [10, 2, 0]])  # text, [SEP] alone, [CLS] [SEP], text
SOURCE_MASK = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0], [0, 1, 0]])  # row 3's text is masked out


@pytest.mark.parametrize("mode", ["ar", "nar", "semi_nar"])
def test_generate_refuses_source_rows_without_text(mode):
    model = tiny_model()
    message = (
        r"Row\(s\) \[1, 2, 3\] of the 4 source rows \(`input_ids`\) hold no text: every token is \[PAD\], \[CLS\]"
    )
    with pytest.raises(ValueError, match=message):
        model.generate(SOURCE_ROWS, attention_mask=SOURCE_MASK, decoding_mode=mode, max_new_tokens=4)
    with pytest.raises(ValueError, match=r"Row\(s\) \[1, 2\] of the 4 source rows"):  # the mask defaults to non-[PAD]
        model.generate(input_ids=SOURCE_ROWS, decoding_mode=mode, max_new_tokens=4)
    model.generate(SOURCE_ROWS[:1], decoding_mode=mode, max_new_tokens=4)  # a source with text decodes


@pytest.mark.parametrize("acceptance", ["all", "verify", "confidence"])
def test_generate_refuses_semi_nar_blocks_longer_than_the_streams(acceptance):
    model = tiny_model()  # two predicting streams
    settings = {"decoding_mode": "semi_nar", "semi_nar_acceptance": acceptance, "max_new_tokens": 4}
    message = r"`semi_nar_block_size` 3 is more than the model's 2 predicting streams \(config.ngram\)"
    with pytest.raises(ValueError, match=message):
        model.generate(SOURCE_ROWS[:1], semi_nar_block_size=3, **settings)
    with pytest.raises(ValueError, match=r"`semi_nar_block_size` must be a positive integer, got 0"):
        model.generate(SOURCE_ROWS[:1], semi_nar_block_size=0, **settings)
    model.generation_config.semi_nar_block_size = 3  # the generation config's value is checked as well
    with pytest.raises(ValueError, match=message):
        model.generate(SOURCE_ROWS[:1], **settings)
    model.generate(SOURCE_ROWS[:1], semi_nar_block_size=2, **settings)
    model.generate(SOURCE_ROWS[:1], decoding_mode="nar", max_new_tokens=4)  # other modes do not read the block


# Text that holds no text once tokenized: here a special token written out; with a BERT normalizer, zero-width and
# control characters too (test_demo.py), which are no whitespace for Python, so the data checks let them through.
NO_TEXT = "[CLS]"
EMPTY_SOURCE_CASES = [  # (command, argv builder, message)
    (
        "bang-generate",
        lambda model, data, out: ["--model", model, "--text", "10", "--text", NO_TEXT],
        "The source of --text 2 holds no text once tokenized (its tokens: [CLS] [SEP])",
    ),
    (
        "bang-generate",
        lambda model, data, out: ["--model", model, "--text", "[PAD]  [SEP]"],
        "The source of --text 1 holds no text once tokenized (its tokens: [PAD] [SEP] [SEP])",
    ),
    (
        "bang-evaluate",
        lambda model, data, out: data_program_argv("evaluate", model, data, out),
        "The source of evaluation example 'r1' holds no text once tokenized (its tokens: [CLS] [SEP] [SEP])",
    ),
    (
        "bang-finetune",
        lambda model, data, out: [
            *data_program_argv("finetune", model, data, out),
            "--config_preset",
            "tiny",
            "--tokenizer_name_or_path",
            model,
            "--report_to",
            "none",
        ],  # fmt: skip
        "The source of training example 'r1' holds no text once tokenized (its tokens: [CLS] [SEP] [SEP])",
    ),
    (
        "bang-distill",
        lambda model, data, out: data_program_argv("distill", model, data, out),
        "dataset[1]: the source holds no text once tokenized (its tokens: [CLS] [SEP] [SEP])",
    ),
]


@pytest.mark.parametrize("command, build, message", EMPTY_SOURCE_CASES, ids=[c[0] for c in EMPTY_SOURCE_CASES])
def test_the_programs_refuse_a_source_without_text_in_one_line(saved, tmp_path, monkeypatch, capsys, command, build,
                                                               message):  # fmt: skip
    rows = [ROWS[0], {**ROWS[1], "word": NO_TEXT, "example": ""}, ROWS[2]]
    data = write_jsonl(tmp_path / "no_text.jsonl", rows)
    status, err = run_command(monkeypatch, capsys, command, build(str(saved[0]), data, tmp_path))
    assert_one_line_error(status, err, command, message)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "d.jsonl").exists()  # nothing decoded


def test_distill_refuses_sources_the_teacher_cannot_hold_before_decoding(saved, tmp_path):
    rows = [*ROWS, {**ROWS[0], "word": " ".join(str(5 + i % 90) for i in range(70))}]  # row 6: 71+ tokens > 64
    argv = data_program_argv("distill", saved[0], write_jsonl(tmp_path / "long.jsonl", rows), tmp_path)
    with pytest.raises(ValueError, match=r"The source of row 6 has \d+ tokens, more than the teacher's max_position"):
        distill_program.main([*argv, "--max_source_length", "100"])
    assert not (tmp_path / "cache").exists()  # nothing was decoded
    with pytest.raises(ValueError, match=r"--max_new_tokens 100 exceeds the teacher's max_position_embeddings \(64\)"):
        distill_program.main([*argv, "--max_new_tokens", "100"])


# ---------------------------------------------------------------------------------------------------------------
# Distilled rows: their labels, and the hash of the source they were distilled from
# ---------------------------------------------------------------------------------------------------------------


def distilled(row: dict, targets: list[list[int]]) -> dict:
    """`row` with the distilled `targets` and their hash, as bang-distill writes them."""
    row_hash = distilled_sha256([row["word"], row["example"]], targets)
    return {**row, DISTILLED_LABELS: targets, DISTILLED_HASH_COLUMN: row_hash}


def distilled_rows() -> list[dict]:
    """ROWS with one distilled target each (a different one per row)."""
    return [distilled(row, [[40 + i, 41, 2]]) for i, row in enumerate(ROWS)]


def rotated(rows, columns=(DISTILLED_LABELS, DISTILLED_HASH_COLUMN)):
    """The `columns` moved one row down (the last row's to the first)."""
    moved = [{k: v for k, v in row.items() if k in columns} for row in rows]
    return [{**row, **moved[i - 1]} for i, row in enumerate(rows)]


def written_by_an_earlier_version(row: dict) -> dict:
    """`row` as the previous bang-distill wrote it: the hash of its source alone, in `distilled_source_sha256`."""
    return {**{k: v for k, v in row.items() if k != DISTILLED_HASH_COLUMN}, OLD_SOURCE_HASH_COLUMN: "0" * 64}


NOT_THE_PAIR = r"the source \(columns \['word', 'example'\]\) and the distilled targets are not the pair bang-distill"
DISTILLED_CASES = [  # (rows, message)
    (lambda rows: rotated(rows), r":1: " + NOT_THE_PAIR),  # rows' distilled columns rotated, hash with them
    (lambda rows: rotated(rows, [DISTILLED_LABELS]), r":1: " + NOT_THE_PAIR),  # targets rotated, hash with the source
    (lambda rows: [rows[0], {**rows[1], DISTILLED_LABELS: [[40, 42, 2]]}], r":2: " + NOT_THE_PAIR),  # target edited
    (lambda rows: [{**rows[0], "word": "10 12"}], r":1: " + NOT_THE_PAIR),  # source edited
    (lambda rows: [rows[0], {**rows[1], DISTILLED_LABELS: []}], r":2: distilled_labels is empty \(\[\]\)"),
    (lambda rows: [{**rows[0], DISTILLED_LABELS: "40 41"}], r":1: distilled_labels must be a list of token-id lists"),
    (lambda rows: [{**rows[0], DISTILLED_LABELS: [[]]}], r":1: distilled target 0 must be a non-empty list"),
    (lambda rows: [{**rows[0], DISTILLED_LABELS: [["40"]]}], r":1: distilled target 0 must hold non-negative int"),
    (lambda rows: [{**rows[0], DISTILLED_LABELS: [[40, -100]]}], r":1: distilled target 0 must hold non-negative"),
    (lambda rows: [{k: v for k, v in rows[0].items() if k != DISTILLED_HASH_COLUMN}], r":1: no distilled_sha256"),
    (lambda rows: [{k: v for k, v in rows[0].items() if k != DISTILLED_LABELS}], r":1: no distilled_labels column"),
    (
        lambda rows: [rows[0], written_by_an_earlier_version(rows[1])],
        r":2: written by an earlier bang-distill, whose distilled_source_sha256 covers the source only, .* run "
        r"bang-distill again on the original data file",
    ),
    (
        lambda rows: [rows[0], rows[1], distilled(ROWS[2], [[40, 2], [41, 2]]), rows[3]],
        r"distilled.jsonl:3: 2 distilled target\(s\), but the file's first row \(.*distilled.jsonl:1\) has 1; every "
        r"row needs the same number",
    ),
]


@pytest.mark.parametrize("change, message", DISTILLED_CASES, ids=range(len(DISTILLED_CASES)))
def test_bang_train_refuses_distilled_rows_that_do_not_fit(saved, tmp_path, change, message):
    path = write_jsonl(tmp_path / "distilled.jsonl", change(distilled_rows()))
    argv = data_program_argv("train", saved[0], path, tmp_path)
    argv[argv.index("gold")] = "select"
    with pytest.raises(ValueError, match=message):
        train_program.main(argv)
    assert not (tmp_path / "run").exists()


def test_bang_train_refuses_distilled_rows_read_with_other_source_columns(saved, tmp_path):
    path = write_jsonl(tmp_path / "distilled.jsonl", distilled_rows())
    argv = data_program_argv("train", saved[0], path, tmp_path) + ["--source_columns", "word"]
    argv[argv.index("gold")] = "select"
    with pytest.raises(ValueError, match=r"other --source_columns than bang-distill's"):
        train_program.main(argv)


def test_bang_train_refuses_distilled_rows_that_do_not_fit_in_one_line(saved, tmp_path, monkeypatch, capsys):
    path = write_jsonl(tmp_path / "distilled.jsonl", rotated(distilled_rows(), [DISTILLED_LABELS]))
    argv = data_program_argv("train", saved[0], path, tmp_path)
    argv[argv.index("gold")] = "select"
    status, err = run_command(monkeypatch, capsys, "bang-train", argv)
    assert_one_line_error(status, err, "bang-train", "distilled.jsonl:1: the source (columns ['word', 'example']) and")


# ---------------------------------------------------------------------------------------------------------------
# Model folders
# ---------------------------------------------------------------------------------------------------------------


def damaged_folder(saved, tmp_path, damage: str):
    folder = tmp_path / "damaged"
    shutil.copytree(saved[0], folder)
    weights = folder / "model.safetensors"
    if damage == "no_config":
        (folder / "config.json").unlink()
    elif damage == "config_not_json":
        (folder / "config.json").write_text("{not json")
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif damage == "not_safetensors":
        weights.write_bytes(b"hello")
    elif damage == "nan_weights":
        from safetensors.torch import load_file, save_file

        tensors = load_file(weights)
        name = sorted(tensors)[0]
        tensors[name] = torch.full_like(tensors[name], float("nan"))
        save_file(tensors, weights, metadata={"format": "pt"})
    elif damage == "file":
        shutil.rmtree(folder)
        folder.write_text("a file\n")
    elif damage == "generation_config_not_json":
        (folder / "generation_config.json").write_text("{not json")
    elif damage in ("other_model_type", "wider_config"):
        config = json.loads((folder / "config.json").read_text())
        config.update({"model_type": "bert"} if damage == "other_model_type" else {"hidden_size": 32})
        (folder / "config.json").write_text(json.dumps(config))
    elif damage == "missing":
        shutil.rmtree(folder)
    return folder


MODEL_CASES = [  # (damage, message)
    ("missing", r"--model .*damaged does not exist \(neither a folder nor a Hub id"),
    ("file", r"--model .*damaged is a file; give the model's folder"),
    ("no_config", r"--model .*damaged has no config.json, so it is not a saved model folder"),
    ("config_not_json", r"--model: .*config.json is not valid JSON"),
    ("truncated", r"--model: .*model.safetensors is truncated: \d+ bytes, its header describes \d+"),
    ("not_safetensors", r"--model: .*model.safetensors is not a safetensors file"),
    ("nan_weights", r"--model .*damaged: the weight .* holds NaN or infinite values; the weight file is damaged"),
    ("generation_config_not_json", r"--model: .*generation_config.json is not valid JSON"),
    ("wider_config", r"--model .*damaged could not be loaded: .* holds weights of another shape than its config"),
]


@pytest.mark.parametrize("damage, message", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_a_bad_model_folder_says_what_is_wrong(saved, tmp_path, damage, message):
    folder = damaged_folder(saved, tmp_path, damage)
    with pytest.raises(ValueError, match=message):
        generate_program.main(["--model", str(folder), "--text", "10 11"])


@pytest.mark.parametrize("program", ["evaluate", "distill"])
def test_the_other_programs_check_the_model_folder_too(saved, tmp_path, program):
    folder = damaged_folder(saved, tmp_path, "truncated")
    argv = data_program_argv(program, folder, saved[1], tmp_path)
    with pytest.raises(ValueError, match=r"model.safetensors is truncated"):
        PROGRAMS[program].main(argv)


def test_finetune_names_a_start_folder_without_config(saved, tmp_path):
    folder = damaged_folder(saved, tmp_path, "no_config")
    argv = data_program_argv("finetune", saved[0], saved[1], tmp_path) + ["--model_name_or_path", str(folder)]
    with pytest.raises(ValueError, match=r"--model_name_or_path .*damaged has no config.json"):
        finetune_program.main(argv)


def without_embedding(saved, tmp_path):
    """A copy of the saved model whose weight file lacks the shared embedding (the encoder's and decoder's input and
    the tied head)."""
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "no_embedding"
    shutil.copytree(saved[0], folder)
    weights = folder / "model.safetensors"
    tensors = {k: v for k, v in load_file(weights).items() if k != "model.shared.weight"}
    save_file(tensors, weights, metadata={"format": "pt"})
    return folder


def test_the_programs_refuse_a_checkpoint_without_its_embedding(saved, tmp_path, monkeypatch, capsys):
    folder = without_embedding(saved, tmp_path)
    status, err = run_command(monkeypatch, capsys, "bang-generate", ["--model", str(folder), "--text", "10 11"])
    needs = "lacks weights that BangForConditionalGeneration needs: "
    assert_one_line_error(status, err, "bang-generate", needs)
    assert "model.shared.weight" in err and "could not be loaded" in err
    argv = data_program_argv("finetune", saved[0], saved[1], tmp_path) + ["--model_name_or_path", str(folder)]
    with pytest.raises(ValueError, match=rf"--model_name_or_path .*no_embedding could not be loaded: .*{needs}"):
        finetune_program.main(argv)
    assert not (tmp_path / "run").exists()  # refused before training


API_FOLDER_CASES = [  # (damage, message of BangForConditionalGeneration.from_pretrained)
    ("no_config", r"The model .*damaged has no config.json, so it is not a saved model folder"),
    ("config_not_json", r"The model: .*damaged/config.json is not valid JSON"),
    ("truncated", r"The model: .*damaged/model.safetensors is truncated: \d+ bytes, its header describes \d+"),
    ("not_safetensors", r"The model: .*damaged/model.safetensors is not a safetensors file \(size 5 bytes"),
    ("generation_config_not_json", r"The model: .*damaged/generation_config.json is not valid JSON"),
    ("other_model_type", r"The model .*damaged holds a 'bert' model \(its config.json\), not a BANG model"),
    (
        "wider_config",
        r"another shape than its config describes: model.decoder.embed_layer_norm.bias \(\(16,\) in the checkpoint, ",
    ),
    ("nan_weights", r"The checkpoint .*damaged: the weight .* holds NaN or infinite values"),
    ("config_file", r"The model .*damaged/config.json is a file; give the model's folder"),
]


@pytest.mark.parametrize("damage, message", API_FOLDER_CASES, ids=[c[0] for c in API_FOLDER_CASES])
def test_from_pretrained_names_the_file_of_a_damaged_folder(saved, tmp_path, damage, message):
    folder = damaged_folder(saved, tmp_path, damage)
    if damage == "config_file":
        folder = folder / "config.json"
    with pytest.raises(ValueError, match=message):
        BangForConditionalGeneration.from_pretrained(folder)


def test_from_pretrained_takes_a_folder_without_config_when_the_config_is_given(saved, tmp_path):
    folder = damaged_folder(saved, tmp_path, "no_config")
    model = BangForConditionalGeneration.from_pretrained(folder, config=BangConfig.from_pretrained(saved[0]))
    assert torch.equal(
        model.model.shared.weight, BangForConditionalGeneration.from_pretrained(saved[0]).lm_head.weight
    )


def test_a_mistyped_local_path_says_it_is_no_folder_and_no_hub_model(saved, tmp_path, monkeypatch, capsys):
    """`outputs/does-not-exist` has the form of a Hub id: the message says that it is not a local folder and why the
    Hub could not provide it (offline here), in the API and in the programs."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs").mkdir()
    both = f"outputs/does-not-exist is not a local folder (no such directory relative to {tmp_path}) and the Hub "
    both += "could not provide it: "
    with pytest.raises(OSError, match=re.escape(both)):
        BangForConditionalGeneration.from_pretrained("outputs/does-not-exist")
    argv = ["--model", "outputs/does-not-exist", "--text", "1"]
    assert_one_line_error(*run_command(monkeypatch, capsys, "bang-generate", argv), "bang-generate", "--model " + both)
    with pytest.raises(ValueError, match=re.escape("--tokenizer_name_or_path " + both)):
        load_pretrained_tokenizer("outputs/does-not-exist", "--tokenizer_name_or_path")


# ---------------------------------------------------------------------------------------------------------------
# The API: configs, tensors, collators, encodings
# ---------------------------------------------------------------------------------------------------------------


def forward_inputs(change: str) -> dict:
    model = tiny_model()
    input_ids, attention_mask, labels = random_batch(model.config)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels, "mode": "nar"}
    if change == "empty":
        inputs.update(input_ids=input_ids[:0], attention_mask=attention_mask[:0], labels=labels[:0])
    elif change == "mask_shape":
        inputs["attention_mask"] = attention_mask[:, :-1]
    elif change == "label_rows":
        inputs["labels"] = labels[:2]
    elif change == "float_ids":
        inputs["input_ids"] = input_ids.float()
    elif change == "float_labels":
        inputs.update(labels=labels.float(), mode="ar")
    elif change == "all_ignored":
        inputs.update(labels=torch.full_like(labels, -100), mode="ar")
    elif change.startswith("row_ignored_"):  # one row of three without a target token, in each mode
        inputs.update(labels=labels.index_fill(0, torch.tensor([1]), -100), mode=change.removeprefix("row_ignored_"))
    elif change == "one_dimensional":
        inputs.update(input_ids=input_ids[0], attention_mask=attention_mask[0], labels=labels[0])
    elif change == "mask_values":
        inputs["attention_mask"] = attention_mask * 0.5
    return model, inputs


FORWARD_CASES = [
    ("empty", r"`input_ids` is an empty batch \(shape \(0, 9\)\)"),
    ("mask_shape", r"`attention_mask` has shape \(3, 8\) but `input_ids` \(3, 9\)"),
    ("label_rows", r"`labels` has 2 rows but the batch has 3 sources"),
    ("float_ids", r"`input_ids` must hold integer token ids \(torch.long\), got a torch.float32 tensor"),
    ("float_labels", r"`labels` must hold integer token ids \(torch.long\), got a torch.float32 tensor"),
    ("all_ignored", r"`labels` holds no target token \(every value is -100"),
    ("row_ignored_nar", r"`labels` row\(s\) \[1\] of 3 hold no target token \(every value is -100"),
    ("row_ignored_ngram", r"`labels` row\(s\) \[1\] of 3 hold no target token"),
    ("row_ignored_ar", r"`labels` row\(s\) \[1\] of 3 hold no target token"),
    ("one_dimensional", r"`input_ids` must be a \(batch, length\) tensor, got shape \(9,\)"),
    ("mask_values", r"`attention_mask` must hold 1 for the tokens to attend to and 0 for padding"),
]


GENERATE_INPUT_CASES = [  # (change, message): refused by generate before any decoding, in every decoding mode
    ("float_ids", r"`input_ids` must hold integer token ids \(torch.long\), got a torch.float32 tensor"),
    ("one_dimensional", r"`input_ids` must be a \(batch, length\) tensor, got shape \(9,\)"),
    ("mask_shape", r"`attention_mask` has shape \(3, 8\) but `input_ids` \(3, 9\)"),
    ("mask_values", r"`attention_mask` must hold 1 for the tokens to attend to and 0 for padding"),
]


@pytest.mark.parametrize("decoding_mode", ["ar", "nar", "semi_nar"])
@pytest.mark.parametrize("change, message", GENERATE_INPUT_CASES, ids=[c[0] for c in GENERATE_INPUT_CASES])
def test_generate_refuses_bad_source_tensors_naming_them(change, message, decoding_mode):
    model, inputs = forward_inputs(change)
    with pytest.raises(ValueError, match=message):
        model.generate(
            inputs["input_ids"], attention_mask=inputs["attention_mask"], decoding_mode=decoding_mode, max_new_tokens=3
        )


@pytest.mark.parametrize("change, message", FORWARD_CASES, ids=[c[0] for c in FORWARD_CASES])
def test_bad_model_inputs_are_value_errors_naming_the_tensor(change, message):
    model, inputs = forward_inputs(change)
    with pytest.raises(ValueError, match=message):
        model(**inputs)


def collate(features):
    return SPMDDataCollator(pad_token_id=0, eos_token_id=2)(features)


EXAMPLE = {"input_ids": [10, 11, 2], "labels": [12, 2], DISTILLED_LABELS: [[13, 2]]}
API_CASES = [  # (call, exception, message)
    (lambda: BangConfig(vocab_size=50, pad_token_id=500), r"`pad_token_id` \(500\) is outside the vocabulary of s"),
    (lambda: BangConfig.from_preset("tiny", cls_token_id=99), r"`cls_token_id` \(99\) is outside the vocabulary of"),
    (lambda: BangConfig(vocab_size=50, eos_token_id=-1), r"`eos_token_id` must be a non-negative integer token id"),
    (lambda: collate([]), r"SPMDDataCollator got an empty batch"),
    (lambda: collate(EXAMPLE), r"SPMDDataCollator takes a list of examples"),
    (lambda: collate([{"input_ids": [10, 2]}]), r"Examples \[0\] have no `labels` column"),
    (lambda: collate([{**EXAMPLE, "input_ids": [10.0, 2.0]}]), r"input_ids of batch example 0 must hold non-neg"),
    (lambda: collate([{**EXAMPLE, "labels": [12, -100]}]), r"labels \(gold target\) of batch example 0 .*-100"),
    (lambda: collate([{**EXAMPLE, "labels": torch.tensor([1.0])}]), r"must hold integer token ids, got a torch.fl"),
    (lambda: collate([{**EXAMPLE, DISTILLED_LABELS: "13 2"}]), r"distilled_labels of batch example 0 must be a n"),
    (lambda: collate([{**EXAMPLE, DISTILLED_LABELS: []}]), r"distilled_labels of batch example 0 must be a non"),
    (lambda: collate([{**EXAMPLE, "input_ids": []}]), r"The input_ids of batch example 0 are empty"),
    (lambda: Seq2SeqCollator(0, "nar")([]), r"Seq2SeqCollator got an empty batch"),
    (lambda: Seq2SeqCollator(0, "nar")([{"input_ids": [5, 2], "labels": [-100]}]), r"batch example 0 must be a non"),
    (lambda: PairEncoding(source_columns=" , "), r"--source_columns ' , ' names no column"),
    (lambda: PairEncoding(max_source_length=1), r"--max_source_length must be an integer of at least 2"),
    (lambda: DataArguments(max_train_samples=0), r"--max_train_samples must be a positive integer"),
    (lambda: Decoding(decoding_mode="nar", num_beams=4), r"--num_beams 4 does not apply to decoding_mode 'nar'"),
    (lambda: Decoding(decoding_mode="fast"), r"--decoding_mode must be one of"),
    (lambda: check_distilled_value("1 2", "row 3"), r"row 3: distilled_labels must be a list of token-id lists"),
    (lambda: check_distilled_value([], "row 3"), r"row 3: distilled_labels is empty \(\[\]\)"),
    (lambda: check_distilled_value([[1, True]], "row 3"), r"row 3: distilled target 0 must hold non-negative"),
    (lambda: check_training_arguments(training_args(max_steps=-5)), r"--max_steps must be a positive number"),
    (lambda: check_training_arguments(training_args(per_device_eval_batch_size=0)), r"--per_device_eval_batch_size"),
    (lambda: check_training_arguments(training_args(seed=-1)), r"--seed must not be negative"),
    (lambda: check_training_arguments(training_args(weight_decay=-1.0)), r"--weight_decay must not be negative"),
]


def training_args(**overrides):
    from transformers import TrainingArguments

    return TrainingArguments(output_dir="unused", report_to="none", **overrides)


@pytest.mark.parametrize("call, message", API_CASES, ids=range(len(API_CASES)))
def test_bad_api_input_is_a_value_error_with_its_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    "rows, message",
    [
        (
            [{**GOOD, "definition": 123}],
            r"The training example 'x': column 'definition' must be a string, got int 123",
        ),
        ([{**GOOD, "id": 7, "word": "  "}], r"The training example 7: column 'word' is empty"),
        ([GOOD, {**GOOD, "id": "y", "example": None}], r"example 'y': column 'example' must be a string, got null"),
    ],
)
def test_encode_pairs_refuses_values_that_are_not_text(rows, message):
    dataset = datasets.Dataset.from_list(rows)
    with pytest.raises(ValueError, match=message):
        encode_pairs(dataset, tiny_tokenizer(), PairEncoding(), "training")


def test_distilled_rows_carry_the_hash_of_their_source_and_targets():
    row = distilled_rows()[0]
    check_distilled_row("train.jsonl:1", row, ["word", "example"])  # as written: accepted
    payload = '{"distilled_labels":[[40,41,2]],"source":["10 11","30 31"]}'  # the format files keep across versions
    assert row[DISTILLED_HASH_COLUMN] == hashlib.sha256(payload.encode()).hexdigest()
    assert row[DISTILLED_HASH_COLUMN] == distilled_sha256(
        [" 10  11 ", "30\t31"], [[40, 41, 2]]
    )  # as the student reads
    assert row[DISTILLED_HASH_COLUMN] != distilled_sha256(["10 11", "30 31"], [[40, 41, 2], [40, 2]])
    with pytest.raises(ValueError, match=r"train.jsonl:1: the source .* and the distilled targets are not the pair"):
        check_distilled_row("train.jsonl:1", {**row, "example": "13"}, ["word", "example"])


# ---------------------------------------------------------------------------------------------------------------
# bang-train-tokenizer, bang-pretrain
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, message",
    [
        (
            '{"example": "a b", "definition": 123}\n',
            r"wndef/train.jsonl:1: field 'definition' must be a string, got int",
        ),
        ('{"example": "a b", "definition": "c"}\n{"example": null, "definition": "c"}\n', r"train.jsonl:2: field 'e"),
        ('{"example": "a b", "definition": "c"}\nnot json\n', r"wndef/train.jsonl:2 is not valid JSON"),
        ('{"example": "a b"}\n', r"wndef/train.jsonl:1 has no field\(s\) \['definition'\]"),
    ],
)
def test_bang_train_tokenizer_names_the_file_and_line(tmp_path, monkeypatch, capsys, content, message):
    (tmp_path / "data" / "wndef").mkdir(parents=True)
    (tmp_path / "data" / "wndef" / "train.jsonl").write_text(content)
    argv = ["--data_dir", str(tmp_path / "data"), "--datasets", "wndef", "--output_dir", str(tmp_path / "tok")]
    status, err = run_command(monkeypatch, capsys, "bang-train-tokenizer", [*argv, "--vocab_size", "50"])
    assert status == 2 and re.search(message, err) and "Traceback" not in err, err


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.txt", "\n\n", r"hold no text \(every line is blank\)"),
        ("texts.jsonl", '{"text": 5}\n', r"texts.jsonl:1: column 'text' must be a string, got int 5"),
        ("texts.jsonl", "", r"The pretraining file .*texts.jsonl has no rows"),
        ("texts.jsonl", '{"text": "10 11"}\n{"text": " "}\n', r"texts.jsonl:2: column 'text' is empty"),
        ("texts.jsonl", '{"text": "10", "text": "11"}\n', r"texts.jsonl:1: the key 'text' appears twice"),
    ],
)
def test_bang_pretrain_reads_its_text_first(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    argv = ["--train_files", str(tmp_path / name), "--output_dir", str(tmp_path / "pre"), "--config_preset", "tiny"]
    with pytest.raises(ValueError, match=message):
        pretrain_program.main([*argv, "--max_steps", "1", "--report_to", "none"])


def test_bang_pretrain_refuses_negative_steps(tmp_path):
    (tmp_path / "t.txt").write_text("10 11\n")
    argv = ["--train_files", str(tmp_path / "t.txt"), "--output_dir", str(tmp_path / "pre"), "--max_steps", "-5"]
    with pytest.raises(ValueError, match=r"--max_steps must be a positive number of optimizer steps"):
        pretrain_program.main(argv)


def test_a_weight_file_changed_after_it_was_saved_is_refused(saved, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(saved[0], folder)
    record_weight_digests(folder)
    generate_program.main(["--model", str(folder), "--text", "10 11"])  # as saved: it loads
    weights = folder / "model.safetensors"
    payload = bytearray(weights.read_bytes())
    payload[-8:] = b"\x00\x00\x80\x3f" * 2  # two weights overwritten with 1.0: finite, and the header still fits
    weights.write_bytes(bytes(payload))
    with pytest.raises(ValueError, match=r"model.safetensors differs from the file that was saved \(its sha256"):
        generate_program.main(["--model", str(folder), "--text", "10 11"])


def test_the_training_programs_record_the_sha256_of_their_weights(saved, tmp_path):
    argv = data_program_argv("finetune", saved[0], saved[1], tmp_path)
    argv += ["--config_preset", "tiny", "--tokenizer_name_or_path", str(saved[0]), "--report_to", "none"]
    finetune_program.main([*argv, "--use_cpu", "--per_device_train_batch_size", "2", "--save_strategy", "no"])
    record = json.loads((tmp_path / "run" / ".weights.sha256").read_text())
    assert sorted(record) == ["model.safetensors"]
    generate_program.main(["--model", str(tmp_path / "run"), "--text", "10 11", "--max_new_tokens", "4"])


def latin1_file(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b'\n{"word": "caf\xe9", "example": "x", "definition": "y"}\n')
    return path


def long_file(tmp_path) -> str:
    return write_jsonl(tmp_path / "long.jsonl", [ROWS[0], {**ROWS[1], "word": " ".join(["10"] * 70)}])


MORE_PROGRAM_CASES = [  # (program, argv builder, message)
    (
        "generate",
        lambda s, t: ["--model", s, "--text", "10", "--device", "cuda:7"],
        r"--device cuda:7: (CUDA is not|this machine has)",
    ),
    ("generate", lambda s, t: ["--model", s, "--text", "10", "--device", "gpu0"], r"--device 'gpu0' is not a device"),
    (
        "evaluate",
        lambda s, t: [*data_program_argv("evaluate", s, str(latin1_file(t)), t)],
        r"latin1.jsonl:2 is not UTF",
    ),
    (
        "finetune",
        lambda s, t: data_program_argv("finetune", s, str(latin1_file(t)), t),
        r"latin1.jsonl:2 is not UTF-8",
    ),
    (
        "evaluate",
        lambda s, t: [*data_program_argv("evaluate", s, long_file(t), t), "--max_source_length", "100"],
        r"example 2 has 7\d tokens after truncation to --max_source_length 100, more than the model's max_position",
    ),  # fmt: skip
    (
        "distill",
        lambda s, t: [*data_program_argv("distill", s, str(t / "ok.jsonl"), t), "--teacher_tokenizer", str(t / "no")],
        r"--teacher_tokenizer .*no does not exist",
    ),  # fmt: skip
    ("generate", lambda s, t: ["--model", str(t / "ok.jsonl"), "--text", "10"], r"--model .*ok.jsonl is a file; give"),
]
MORE_PROGRAMS = {**PROGRAMS, "generate": generate_program}


@pytest.mark.parametrize("program, build, message", MORE_PROGRAM_CASES, ids=range(len(MORE_PROGRAM_CASES)))
def test_more_bad_program_input(saved, tmp_path, program, build, message):
    write_jsonl(tmp_path / "ok.jsonl", ROWS)
    with pytest.raises(ValueError, match=message):
        MORE_PROGRAMS[program].main(build(str(saved[0]), tmp_path))


def test_bang_convert_prophetnet_names_a_missing_folder(monkeypatch, capsys, tmp_path):
    status, err = run_command(monkeypatch, capsys, "bang-convert-prophetnet", [str(tmp_path / "nowhere"), "out"])
    assert status == 2 and "nowhere does not exist (neither a folder nor a Hub id)" in err and "Repo id" not in err
