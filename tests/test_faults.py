"""A killed run, a full disk or a file size limit leaves nothing half-written and says so in one line
(`bang_spmd.trainers.staged_saving`, `bang_spmd.trainers.run_files`): a run killed while it writes a checkpoint
resumes with `--resume_from_checkpoint auto` from the newest complete one, logging what it skipped; a refused write
ends `bang-finetune`, `bang-train`, `bang-pretrain` and `bang-generate` with one line naming the path (exit status 2)
and leaves no partial checkpoint, model folder or output file, an earlier model or file intact. Tiny models; the
kill and the file size limit (`RLIMIT_FSIZE`) need a subprocess, a real full disk a tmpfs (mounted where the machine
allows it); the other cases make the writer fail as it does on a full disk."""

import errno
import json
import os
import re
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from bang_spmd.cli import export as export_program
from bang_spmd.cli import finetune as finetune_program
from bang_spmd.cli import train as train_program
from bang_spmd.trainers.model_setup import resolve_resume_checkpoint
from bang_spmd.trainers.recipe import BangTrainer, BangTrainingArguments
from bang_spmd.trainers.run_files import move_model_files_into
from bang_spmd.trainers.seq2seq_data import Seq2SeqCollator
from modeling_bang import BangForConditionalGeneration
from modeling_bang.modeling_bang import plain_file_mode

from .helpers import REPO_ROOT, tiny_model, tiny_tokenizer
from .test_bad_input import ROWS, assert_one_line_error, run_command, write_jsonl
from .test_recipe import pairs


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    """A folder with the tiny tokenizer, and a training file of 20 rows (5 steps of 4)."""
    root = tmp_path_factory.mktemp("faults")
    tiny_tokenizer().save_pretrained(root / "tokenizer")
    return root / "tokenizer", write_jsonl(root / "train.jsonl", ROWS * 4)


def finetune_argv(start, output_dir, *more: str) -> list[str]:
    tokenizer, data = start
    return ["--train_file", data, "--source_columns", "word,example", "--target_column", "definition",
            "--config_preset", "tiny", "--tokenizer_name_or_path", str(tokenizer), "--output_dir", str(output_dir),
            "--per_device_train_batch_size", "4", "--use_cpu", "--report_to", "none", "--disable_tqdm", "true",
            *more]  # fmt: skip


def environment(tmp_path) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
            "HF_DATASETS_CACHE": str(tmp_path / "datasets-cache")}  # fmt: skip


def saved_tiny_model(folder: Path) -> Path:
    """A tiny model whose outputs depend on its input, saved with its tokenizer."""
    tiny_model(init_std=0.3).save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# ---------------------------------------------------------------------------------------------------------------
# A run killed while it writes a checkpoint
# ---------------------------------------------------------------------------------------------------------------

# bang-finetune, killed by SIGKILL while it writes checkpoint-4: its model and optimizer state are written, its RNG
# state and trainer state are not.
KILLED_AT_STEP_4 = """import os, signal, sys
from transformers import Trainer
save_rng_state = Trainer._save_rng_state
def save_rng_state_or_die(self, output_dir):
    if self.state.global_step == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    save_rng_state(self, output_dir)
Trainer._save_rng_state = save_rng_state_or_die
from bang_spmd.cli import console
sys.argv = ["bang-finetune", *sys.argv[1:]]
console.finetune()
"""


def test_a_run_killed_while_writing_a_checkpoint_resumes_from_the_last_complete_one(start, tmp_path, caplog):
    out = tmp_path / "run"
    argv = finetune_argv(start, out, "--max_steps", "6", "--save_steps", "2", "--save_total_limit", "2")
    killed = subprocess.run([sys.executable, "-c", KILLED_AT_STEP_4, *argv], cwd=REPO_ROOT, env=environment(tmp_path),
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    (staged,) = out.glob("_checkpoint-4.tmp-*")  # the half-written checkpoint is only in its staging folder
    assert names(out) == [staged.name, "checkpoint-2"]
    assert {"model.safetensors", "optimizer.pt"} <= set(names(staged / "checkpoint-4"))
    assert "trainer_state.json" not in names(staged / "checkpoint-4")

    results = finetune_program.main([*argv, "--resume_from_checkpoint", "auto"])
    assert results["global_step"] == 6
    pid = staged.name.rsplit("-", 1)[1]
    assert f"Removed {staged}: the unfinished write of process {pid}, which has ended." in caplog.messages
    assert f"--resume_from_checkpoint auto: {out / 'checkpoint-2'}" in caplog.messages
    assert [name for name in names(out) if name.startswith(("_", "checkpoint"))] == ["checkpoint-4", "checkpoint-6"]
    state = json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    for weights in (out / "model.safetensors", out / "checkpoint-6" / "model.safetensors"):
        assert stat.S_IMODE(weights.stat().st_mode) == plain_file_mode()
    BangForConditionalGeneration.from_pretrained(out)  # the final model, complete


def test_resuming_from_a_checkpoint_that_lacks_weights_is_refused(start, tmp_path, monkeypatch, capsys):
    """transformers' Trainer only logs the weights a resumed checkpoint lacks and trains them from their random
    initialisation; the package's trainers refuse it, naming them (tied weights, which safetensors does not store,
    are not missing)."""
    out = tmp_path / "run"
    finetune_program.main(finetune_argv(start, out, "--max_steps", "2", "--save_steps", "2"))
    weights = out / "checkpoint-2" / "model.safetensors"
    state = {k: v for k, v in load_file(weights).items() if not k.startswith("model.encoder.layers.1.")}
    save_file(state, weights, metadata={"format": "pt"})
    resumed = finetune_argv(start, out, "--max_steps", "4", "--save_steps", "2", "--resume_from_checkpoint", "auto")
    status, err = run_command(monkeypatch, capsys, "bang-finetune", resumed)
    message = "The checkpoint loaded into the model lacks weights it needs: model.encoder.layers.1."
    assert_one_line_error(status, err, "bang-finetune", message)
    assert "embed_tokens" not in err and "lm_head" not in err


def complete_checkpoint(folder: Path, step: int) -> Path:
    tiny_model().save_pretrained(folder)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


def test_resume_auto_skips_checkpoints_that_other_code_left_incomplete(tmp_path, caplog):
    """transformers' own `Trainer` (or an older version of this package) writes straight into `checkpoint-N`: a
    save interrupted there leaves a folder without `trainer_state.json`, or with a cut weight file."""
    complete_checkpoint(tmp_path / "checkpoint-2", 2)
    no_state = complete_checkpoint(tmp_path / "checkpoint-4", 4)
    (no_state / "trainer_state.json").unlink()
    cut = complete_checkpoint(tmp_path / "checkpoint-6", 6)
    (cut / "model.safetensors").write_bytes((cut / "model.safetensors").read_bytes()[:-64])
    arguments = SimpleNamespace(output_dir=str(tmp_path), resume_from_checkpoint="auto")
    assert resolve_resume_checkpoint(arguments, overwrite_output_dir=False) == str(tmp_path / "checkpoint-2")
    skipped = [m for m in caplog.messages if "skipping" in m]
    assert skipped == [
        f"--resume_from_checkpoint auto: skipping {cut}: the checkpoint: {cut}/model.safetensors is truncated: "
        f"{(cut / 'model.safetensors').stat().st_size} bytes, its header describes "
        f"{(cut / 'model.safetensors').stat().st_size + 64}; copy or save it again.",
        f"--resume_from_checkpoint auto: skipping {no_state}: it has no trainer_state.json, which a checkpoint save "
        "writes last: the save did not finish.",
    ]
    arguments.resume_from_checkpoint = str(no_state)
    with pytest.raises(ValueError, match=r"--resume_from_checkpoint .*checkpoint-4 cannot be resumed from: it has no"):
        resolve_resume_checkpoint(arguments, overwrite_output_dir=False)


def test_checkpoints_are_moved_into_place_complete_and_rotated_after(tmp_path):
    """The best checkpoint is recorded under its final name (not its staging folder), in the state and in the
    checkpoint's own trainer_state.json; `save_total_limit` keeps it and the newest."""
    arguments = BangTrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=6, per_device_train_batch_size=8, report_to="none",
        disable_tqdm=True, dataloader_pin_memory=False, save_strategy="steps", save_steps=2, eval_strategy="steps",
        eval_steps=2, save_total_limit=1, load_best_model_at_end=True, metric_for_best_model="loss",
    )  # fmt: skip
    run = BangTrainer(model=tiny_model().train(), args=arguments, train_dataset=pairs(48),
                      eval_dataset=pairs(8, seed=1), data_collator=Seq2SeqCollator(0, "ar"))  # fmt: skip
    run.train()
    best = run.state.best_model_checkpoint
    assert Path(best).parent == tmp_path / "out" and Path(best).is_dir()
    assert json.loads((Path(best) / "trainer_state.json").read_text())["best_model_checkpoint"] == best
    assert names(tmp_path / "out") == sorted({Path(best).name, "checkpoint-6"})


# ---------------------------------------------------------------------------------------------------------------
# A refused write: full disk, file size limit
# ---------------------------------------------------------------------------------------------------------------


def limit_file_size(limit: int):
    """A preexec function: files of the process may not grow beyond `limit` bytes, and a write beyond it fails with
    EFBIG ("File too large") instead of killing the process (SIGXFSZ ignored)."""

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limited


def test_bang_finetune_on_a_file_size_limit_leaves_no_model_files(start, tmp_path):
    """The issue's case: the final save failed in safetensors or a copy and left config.json and code without
    weights, with a traceback and exit status 1."""
    out = tmp_path / "run"
    argv = finetune_argv(start, out, "--max_steps", "2", "--save_strategy", "no")
    failed = subprocess.run([sys.executable, "-m", "bang_spmd.cli.finetune", *argv], cwd=REPO_ROOT,
                            env=environment(tmp_path), preexec_fn=limit_file_size(60_000), capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    message = f"Could not write the model into {out}: File too large; no part of it was moved there."
    assert_one_line_error(failed.returncode, failed.stderr, "bang-finetune", message)
    assert not out.exists() or names(out) == []


def no_space(*args, **kwargs):
    raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")


def test_bang_train_on_a_full_disk_keeps_the_model_it_would_replace(start, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    argv = [*finetune_argv(start, out, "--max_steps", "1", "--save_strategy", "no"), "--mixing_strategy", "gold"]
    train_program.main(argv)
    before = {name: (out / name).read_bytes() for name in names(out) if (out / name).is_file()}
    monkeypatch.setattr("transformers.modeling_utils.safe_save_file", no_space)
    status, err = run_command(monkeypatch, capsys, "bang-train", [*argv, "--overwrite_output_dir"])
    message = f"Could not write the model into {out}: No space left on device; no part of it was moved there."
    assert_one_line_error(status, err, "bang-train", message)
    assert {name: (out / name).read_bytes() for name in before} == before and names(out) == sorted(before)


def test_bang_pretrain_on_a_full_disk_names_the_checkpoint(tmp_path, monkeypatch, capsys):
    (tmp_path / "text.txt").write_text("10 11 12 13 14 15 16\n" * 40)
    out = tmp_path / "pre"
    argv = ["--train_files", str(tmp_path / "text.txt"), "--output_dir", str(out), "--config_preset", "tiny",
            "--max_steps", "2", "--save_steps", "1", "--per_device_train_batch_size", "4", "--use_cpu",
            "--report_to", "none", "--disable_tqdm", "true"]  # fmt: skip
    real_save = torch.save

    def torch_writer_fails(obj, f, *args, **kwargs):
        if str(f).endswith("optimizer.pt"):  # what PyTorch's zip writer raises on a full disk
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 28480 vs 28368")
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", torch_writer_fails)
    status, err = run_command(monkeypatch, capsys, "bang-pretrain", argv)
    checkpoint = out / "checkpoint-1"
    message = f"Could not write the checkpoint {checkpoint}: torch.save stopped writing ([enforce fail at inline_con"
    assert_one_line_error(status, err, "bang-pretrain", message)
    assert re.search(r"\d+ bytes are free on that disk; the earlier checkpoints are kept\.", err)
    assert not [name for name in names(out) if name.startswith(("_", "checkpoint"))]


@pytest.fixture
def small_disk(tmp_path):
    """A 200 KiB tmpfs: a real full disk (ENOSPC). Needs root (mount); skipped where it cannot be mounted."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode(errors='replace').strip()}); the file size "
                    "limit tests cover the same code")  # fmt: skip
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_bang_finetune_on_a_full_tmpfs_leaves_no_model_files(start, small_disk, monkeypatch, capsys):
    out = small_disk / "run"
    argv = finetune_argv(start, out, "--max_steps", "1", "--save_strategy", "no")
    status, err = run_command(monkeypatch, capsys, "bang-finetune", argv)
    assert_one_line_error(status, err, "bang-finetune", f"Could not write the model into {out}: No space left on")
    assert names(out) == []


def test_bang_generate_on_a_full_disk_keeps_the_former_output(tmp_path, monkeypatch, capsys):
    """The issue's case: a full disk left a 0-byte output file. Here the disk fills when the outputs are flushed to
    it (`fsync` fails with ENOSPC, as on a file system that allocates late)."""
    model = saved_tiny_model(tmp_path / "model")
    output = tmp_path / "generated.txt"
    output.write_text("former\n")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    argv = ["--model", str(model), "--text", "10 11", "--text", "12", "--max_new_tokens", "4", "--output_file",
            str(output)]  # fmt: skip
    status, err = run_command(monkeypatch, capsys, "bang-generate", argv)
    message = f"Could not write {output}: No space left on device; {output} keeps its former content, if it had one."
    assert_one_line_error(status, err, "bang-generate", message)
    assert output.read_text() == "former\n" and names(tmp_path) == ["generated.txt", "model"]


# ---------------------------------------------------------------------------------------------------------------
# Moving a finished model into a folder that holds another: a whole model or none at every moment
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("crash_at", range(12))
def test_a_crash_while_a_model_is_moved_in_leaves_a_whole_model_or_none(tmp_path, monkeypatch, crash_at):
    """The new model is sharded (shards and an index), the one it replaces is not; the move is cut after
    `crash_at` renames. Whatever is left loads as the new model, or is refused for having no config.json."""
    folder, staged = tmp_path / "out", tmp_path / "out" / "_model.tmp-1"
    tiny_model(seed=1).save_pretrained(folder)
    (folder / "checkpoint-2").mkdir()
    new = tiny_model(seed=2)
    new.save_pretrained(staged, max_shard_size="30KB")
    renames, real_replace = [], os.replace

    def replace_or_crash(source, target):
        if len(renames) == crash_at:
            raise KeyboardInterrupt("killed")
        renames.append(target)
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace_or_crash)
    moves = len(names(staged))
    if crash_at < moves:
        with pytest.raises(KeyboardInterrupt):
            move_model_files_into(staged, folder)
    else:
        move_model_files_into(staged, folder)
    monkeypatch.setattr(os, "replace", real_replace)
    assert "checkpoint-2" in names(folder)
    if (folder / "config.json").is_file():
        assert crash_at >= moves and not staged.exists() and "model.safetensors" not in names(folder)
        reloaded = BangForConditionalGeneration.from_pretrained(folder)
        assert all(torch.equal(reloaded.state_dict()[k], v) for k, v in new.state_dict().items())
    else:
        with pytest.raises(ValueError, match="has no config.json, so it is not a saved model folder"):
            BangForConditionalGeneration.from_pretrained(folder)


# ---------------------------------------------------------------------------------------------------------------
# The other programs' outputs on a full disk: one line naming the output, nothing partial left
# ---------------------------------------------------------------------------------------------------------------


def fill(disk: Path) -> None:
    """Leaves no free byte on the tmpfs `disk`."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError, match="No space left"):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)


def wndef_data(folder: Path) -> Path:
    (folder / "wndef").mkdir(parents=True)
    rows = [{"word": f"w{i}", "example": f"{i} a b c", "definition": f"d {i} e f"} for i in range(30)]
    write_jsonl(folder / "wndef" / "train.jsonl", rows)
    return folder


def test_bang_train_tokenizer_on_a_full_tmpfs_leaves_no_folder(small_disk, tmp_path, monkeypatch, capsys):
    fill(small_disk)
    out = small_disk / "tok"
    argv = ["--data_dir", str(wndef_data(tmp_path / "data")), "--datasets", "wndef", "--vocab_size", "40",
            "--output_dir", str(out)]  # fmt: skip
    status, err = run_command(monkeypatch, capsys, "bang-train-tokenizer", argv)
    assert_one_line_error(status, err, "bang-train-tokenizer", f"Could not write the tokenizer into {out}: No space")
    assert names(small_disk) == ["filler"]


def test_bang_prepare_pretraining_text_on_a_full_tmpfs_leaves_no_file(small_disk, tmp_path, monkeypatch, capsys):
    fill(small_disk)
    out = small_disk / "corpus.txt"
    argv = ["--data_dir", str(wndef_data(tmp_path / "data")), "--datasets", "wndef", "--output_file", str(out)]
    status, err = run_command(monkeypatch, capsys, "bang-prepare-pretraining-text", argv)
    assert_one_line_error(status, err, "bang-prepare-pretraining-text", f"Could not write {out}: No space left")
    assert names(small_disk) == ["filler"]


def test_bang_evaluate_on_a_full_tmpfs_leaves_no_file(small_disk, tmp_path, monkeypatch, capsys):
    model = saved_tiny_model(tmp_path / "model")
    data = write_jsonl(tmp_path / "test.jsonl", ROWS)
    fill(small_disk)
    out = small_disk / "predictions.jsonl"
    argv = ["--model", str(model), "--data_file", data, "--source_columns", "word,example", "--target_column",
            "definition", "--max_new_tokens", "4", "--meteor", "no", "--output_file", str(out)]  # fmt: skip
    status, err = run_command(monkeypatch, capsys, "bang-evaluate", argv)
    assert_one_line_error(status, err, "bang-evaluate", f"Could not write {out}: No space left on device")
    assert names(small_disk) == ["filler"]


def test_a_lock_file_that_cannot_be_written_is_named(small_disk, tmp_path, monkeypatch, capsys):
    fill(small_disk)
    model = saved_tiny_model(tmp_path / "model")
    data = write_jsonl(tmp_path / "train.jsonl", ROWS)
    out = small_disk / "distilled.jsonl"
    argv = ["--teacher", str(model), "--data_file", data, "--source_columns", "word,example", "--target_column",
            "definition", "--max_new_tokens", "4", "--output_file", str(out),
            "--cache_dir", str(tmp_path / "cache")]  # fmt: skip
    status, err = run_command(monkeypatch, capsys, "bang-distill", argv)
    assert_one_line_error(status, err, "bang-distill", f"Could not write the lock file {small_disk}/.distilled.jsonl")
    assert not out.exists()


def test_bang_export_on_a_full_disk_leaves_the_former_export_whole(tmp_path, monkeypatch, capsys):
    """The ONNX file fails to write (ENOSPC) while a former export is in the folder: it stays whole and loadable."""
    model = saved_tiny_model(tmp_path / "model")
    out = tmp_path / "onnx"
    argv = ["--model", str(model), "--canvas_length", "6", "--output_dir", str(out)]
    export_program.main(argv)
    before = {name: (out / name).read_bytes() for name in names(out)}

    def no_space_for_the_graph(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch.onnx, "export", no_space_for_the_graph)
    status, err = run_command(monkeypatch, capsys, "bang-export", [*argv[:3], "8", *argv[4:]])
    assert_one_line_error(status, err, "bang-export", f"Could not write the export into {out}: No space left")
    assert {name: (out / name).read_bytes() for name in names(out)} == before
