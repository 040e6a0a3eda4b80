"""Saves that a crash, a kill or a full disk cannot leave half-written: `StagedSavingMixin`, mixed into every trainer
of this package through `bang_spmd.trainers.recipe.BangTrainerMixin`.

transformers' `Trainer._save_checkpoint` writes straight into `output_dir/checkpoint-N` (the model, the optimizer,
scheduler and RNG states, then `trainer_state.json`, then it rotates old checkpoints), and `Trainer.save_model` writes
straight into `output_dir`. A process killed in the middle leaves a `checkpoint-N` without its state, which
`--resume_from_checkpoint auto` (transformers' `get_last_checkpoint`: the highest N) then picks and fails on; a full
disk leaves a model folder with `config.json` and no weights. Here every save is written into a staging folder in
the output directory (`run_files.staging_path`: `_NAME.tmp-PID`, on the same file system, out of transformers'
uploads of the output directory, created with the process's umask so that the moved files get the permissions a
plain save gives) and moved into place once complete:

* A checkpoint: transformers writes `checkpoint-N` into `output_dir/_checkpoint-N.tmp-PID/` (its run directory is
  redirected there for the call, `_get_output_dir`), its rotation finds nothing else there; once every process has
  written its files, `checkpoint-N` is renamed into `output_dir` (`run_files.move_folder_into_place`, one rename) and
  only then are the old checkpoints rotated (`save_total_limit`, transformers' `rotate_checkpoints`). A SIGKILL at any
  moment leaves the previous checkpoints, or those and the complete new one.
* The final model (`save_model()` outside a checkpoint: the programs' last save, `push_to_hub`): written into
  `output_dir/_model.tmp-PID/`, then moved into `output_dir` beside its checkpoints and run files with `config.json`
  last (`run_files.move_model_files_into`, which also removes the former model's weight files and their sha256
  record): at every moment the folder holds a whole model or none (a folder without `config.json` is no model to any
  loader).
* A refused write (no space left, a file size limit, a read-only or forbidden place) removes the staging folder and is
  an OSError naming the checkpoint or folder and the reason (`run_files.naming_write_failures`): the output directory
  keeps no partial checkpoint or model.
* The staging folders and temporary files of processes that have ended are removed when training starts
  (`run_files.remove_stale_temporary_files`, which logs them); the programs also remove them before choosing the
  checkpoint to resume from (`model_setup.resolve_resume_checkpoint`), which skips, and logs, incomplete
  `checkpoint-*` folders that other code wrote.

Under `accelerate launch` the processes agree on the staging name (the main process's pid) and wait for each other
before the move.
"""

import os
import shutil
from pathlib import Path

from accelerate.utils import broadcast_object_list
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints
from transformers.utils import logging

from .run_files import (
    move_folder_into_place,
    move_model_files_into,
    naming_write_failures,
    remove_stale_temporary_files,
    staging_path,
)


logger = logging.get_logger(__name__)

FINAL_MODEL_STAGING = "model"  # the final model is staged in output_dir/_model.tmp-PID/


class StagedSavingMixin:
    """Checkpoints and the final model written into a staging folder and moved into place (module docstring). Mix it
    in before `transformers.Trainer` (or a subclass) in the bases."""

    _staging_run_dir: str | None = None  # while a checkpoint is written: where transformers writes it
    _main_pid: int | None = None

    def _staging_pid(self) -> int:
        """The main process's pid, the one staging name of all processes (a collective call the first time)."""
        if self._main_pid is None:
            pids = [os.getpid()]
            if self.args.world_size > 1:
                pids = broadcast_object_list(pids, from_process=0)
            self._main_pid = pids[0]
        return self._main_pid

    def _new_staging_folder(self, path: Path) -> Path:
        staging = staging_path(path, self._staging_pid())
        if self.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)  # left by an earlier process that had this pid
            with naming_write_failures(path.parent, f"into {path.parent}"):
                staging.mkdir(parents=True)
        return staging

    def train(self, *args, **kwargs):
        if self.args.should_save:
            remove_stale_temporary_files(self.args.output_dir)
        return super().train(*args, **kwargs)

    def _get_output_dir(self, trial) -> str:
        return self._staging_run_dir if self._staging_run_dir is not None else super()._get_output_dir(trial)

    def _save_checkpoint(self, model, trial) -> None:
        run_dir = Path(super()._get_output_dir(trial))
        final = run_dir / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staging = self._new_staging_folder(final)
        self._staging_run_dir = str(staging)
        try:
            with naming_write_failures(final, f"the checkpoint {final}", "the earlier checkpoints are kept"):
                super()._save_checkpoint(model, trial)
        except BaseException:
            if self.args.should_save:
                shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            self._staging_run_dir = None
        self.accelerator.wait_for_everyone()  # every process has written its files (RNG states, shards)
        if not self.args.should_save:
            return
        written = staging / final.name
        if self.state.best_model_checkpoint == str(written):  # transformers recorded the staged path
            self.state.best_model_checkpoint = str(final)
            self.state.save_to_json(str(written / TRAINER_STATE_NAME))
        with naming_write_failures(final, f"the checkpoint {final}", "the earlier checkpoints are kept"):
            move_folder_into_place(written, final)
            staging.rmdir()
        rotate_checkpoints(
            output_dir=str(run_dir),
            save_total_limit=self.args.save_total_limit,
            best_model_checkpoint=self.state.best_model_checkpoint,
            use_mtime=True,
        )

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        if self._staging_run_dir is not None:  # a checkpoint's model: the checkpoint is staged as a whole
            return super().save_model(output_dir, _internal_call)
        folder = Path(output_dir if output_dir is not None else self.args.output_dir)
        staging = self._new_staging_folder(folder / FINAL_MODEL_STAGING)
        described = f"the model into {folder}"
        try:
            with naming_write_failures(folder, described, "no part of it was moved there"):
                super().save_model(str(staging), _internal_call=True)  # pushed below, once in place
        except BaseException:
            if self.args.should_save:
                shutil.rmtree(staging, ignore_errors=True)
            raise
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            with naming_write_failures(
                folder, described, f"{folder} holds no model (no config.json) until saved again"
            ):
                move_model_files_into(staging, folder)
        if self.args.push_to_hub and not _internal_call:  # what transformers' save_model does after saving
            self.push_to_hub(commit_message="Model save", revision=self.args.hub_revision)


__all__ = ["StagedSavingMixin"]
