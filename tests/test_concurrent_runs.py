"""Concurrent runs cannot overwrite each other (`bang_spmd.trainers.run_files`): two `bang-distill` runs on one output
file, one cache folder, or one training output directory: the second refuses at once, naming the first, and the
first completes with every row; writes are fsync'ed before the rename; interrupted writes' temporary files are
removed by the next run."""

import json
import os
import subprocess
import sys
import time

import datasets
import pytest

from bang_spmd.cli import console
from bang_spmd.cli import distill as distill_program
from bang_spmd.cli import finetune as finetune_program
from bang_spmd.data.jsonl import write_json_lines
from bang_spmd.trainers import run_files
from bang_spmd.trainers.distillation import (
    DISTILLED_HASH_COLUMN,
    distill_dataset,
    distillation_cache_key,
    distilled_sha256,
)
from bang_spmd.trainers.run_files import LockedError, lock_file_for, remove_stale_temporary_files

from .helpers import REPO_ROOT, tiny_tokenizer
from .test_distillation import cli_args, config, distilled_directly, read_jsonl, teacher_model, tiny_rows


# Holds the lock of argv[1] (with this package's own `exclusive_lock`, loaded from its file so that the process
# starts in a fraction of a second) until its standard input closes: "another run".
HOLDER = """import importlib.util, sys
spec = importlib.util.spec_from_file_location("run_files", sys.argv[2])
run_files = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_files)
with run_files.exclusive_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""


class OtherRun:
    """A process holding the lock of `path` for the `with` block."""

    def __init__(self, path):
        self.path = path

    def __enter__(self) -> int:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(self.path), run_files.__file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline() == "held\n"
        return self.process.pid

    def __exit__(self, *exc) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture
def teacher(tmp_path):
    folder = tmp_path / "teacher"
    teacher_model().save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def write_rows(path, count: int):
    path.write_text("".join(json.dumps(row) + "\n" for row in tiny_rows(count)))
    return path


def wait_for_lock(path, pid: int, process, timeout: float = 120.0) -> None:
    """Waits until the lock file of `path` names `pid` (the process has claimed it)."""
    lock, deadline = lock_file_for(path), time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lock.is_file() and f'"pid": {pid},' in lock.read_text():
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError(f"{lock} was never claimed by pid {pid}")


def test_two_distill_runs_on_one_output_one_refuses_the_other_completes(teacher, tmp_path, monkeypatch):
    data, output = write_rows(tmp_path / "train.jsonl", 60), tmp_path / "distilled.jsonl"
    args = [*cli_args(teacher, data, output, tmp_path / "cache"), "--batch_size", "1"]  # 60 batches: it takes a while
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env["HF_DATASETS_CACHE"] = str(tmp_path / "datasets-cache")
    first = subprocess.Popen(
        [sys.executable, "-m", "bang_spmd.cli.distill", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_lock(output, first.pid, first)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "datasets-cache-2"))
    with pytest.raises(
        LockedError, match=rf"--output_file\) .*distilled.jsonl is in use by another run \(pid {first.pid},"
    ):
        distill_program.main([*args, "--overwrite"])
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    assert "Wrote 60 rows" in out
    written = read_jsonl(output)  # every row once, in order, with the hash of its own source and targets
    expected = distilled_directly(data, tmp_path)
    assert [row["id"] for row in written] == [row["id"] for row in expected]
    assert [row["distilled_labels"] for row in written] == [row["distilled_labels"] for row in expected]
    assert all(
        row[DISTILLED_HASH_COLUMN] == distilled_sha256([row["word"], row["example"]], row["distilled_labels"])
        for row in written
    )
    with pytest.raises(ValueError, match="already exists; pass --overwrite"):  # once it is done, nothing is lost
        distill_program.main(args)


def test_a_run_on_a_cache_folder_in_use_refuses(tmp_path):
    rows, model, tokenizer = tiny_rows(4), teacher_model(), tiny_tokenizer()
    key = distillation_cache_key(rows, model, tokenizer, config())
    with OtherRun(tmp_path / "cache" / key) as pid:
        with pytest.raises(
            LockedError, match=rf"The distillation cache .*{key} is in use by another run \(pid {pid},"
        ):
            distill_dataset(rows, model, tokenizer, config(), tmp_path / "cache", show_progress=False)
        assert not (tmp_path / "cache" / key).exists()  # nothing decoded
    distilled = distill_dataset(rows, model, tokenizer, config(), tmp_path / "cache", show_progress=False)
    assert len(distilled) == 4


def test_a_training_run_into_an_output_dir_in_use_refuses(tmp_path, monkeypatch, capsys):
    data = write_rows(tmp_path / "train.jsonl", 4)
    argv = ["--train_file", str(data), "--output_dir", str(tmp_path / "run"), "--max_steps", "1", "--config_preset",
            "tiny", "--source_columns", "word,example", "--target_column", "definition"]  # fmt: skip
    with OtherRun(tmp_path / "run") as pid:
        with pytest.raises(
            LockedError, match=rf"The output directory \(--output_dir\) .*run is in use by .*pid {pid},"
        ):
            finetune_program.main(argv)
        monkeypatch.setattr(sys, "argv", ["bang-finetune", *argv])
        with pytest.raises(SystemExit) as stop:
            console.finetune()
        err = capsys.readouterr().err
        assert stop.value.code == 2 and f"is in use by another run (pid {pid}," in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_temporary_files_are_removed_by_the_next_run(teacher, tmp_path):
    data, output = write_rows(tmp_path / "train.jsonl", 4), tmp_path / "out" / "distilled.jsonl"
    output.parent.mkdir()
    stale, live = output.parent / f".distilled.jsonl.tmp-{dead_pid()}", output.parent / f".x.jsonl.tmp-{os.getppid()}"
    stale.write_text('{"half": ')
    live.write_text("still being written")
    distill_program.main(cli_args(teacher, data, output, tmp_path / "cache"))
    assert not stale.exists() and live.exists()
    assert len(read_jsonl(output)) == 4
    assert remove_stale_temporary_files(output.parent) == []


def test_atomic_writes_fsync_before_the_rename(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    write_json_lines([{"a": 1}, {"a": 2}], tmp_path / "rows.jsonl")
    assert calls[:2] == ["fsync", "replace"]  # the data reach the disk before the name points at them
    assert read_jsonl(tmp_path / "rows.jsonl") == [{"a": 1}, {"a": 2}]
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]
