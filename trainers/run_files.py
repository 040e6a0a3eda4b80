"""The files a run writes: an advisory lock per output, atomic writes and moves, the temporary files of dead runs,
and failed writes named.

* `exclusive_lock(path, what)`: a context manager holding `fcntl.flock` on the lock file next to `path`
  (`lock_file_for`: `.NAME.lock` in the same folder, so that an output folder stays empty until the run writes into
  it). A second run on the same output refuses at once with a `LockedError` naming the run that holds it (its pid,
  start time and command, which the holder writes into the lock file). The kernel drops the lock when its holder
  exits, however it ends, so a killed run never leaves a stale lock; the lock file itself stays.
* `write_atomically(path, text)`: a temporary file `.NAME.tmp-PID` in the same folder, flushed and fsync'ed, then
  renamed over `path` (`os.replace`) and the folder fsync'ed: readers see the old file or the whole new one.
* `staging_path(path)`: `_NAME.tmp-PID` next to `path`, where a folder (a checkpoint, a model;
  `bang_spmd.trainers.staged_saving`) is written before it is moved into place; the leading underscore keeps it out
  of the uploads of the output directory by transformers' `Trainer` (`ignore_patterns=["_*", "checkpoint-*"]`, also
  while a checkpoint is pushed in the background) and by `bang-push`.
* `move_folder_into_place(staged, path)`: renames a complete folder to `path` (replacing an older one).
* `staged_folder(path, description)`: a context manager yielding a staging folder that replaces the folder `path`
  once the block ends normally (a trained tokenizer); removed on any failure.
* `move_files_into(staged, folder, last)`: moves a complete set of files into a folder that holds other files too,
  the file that completes the set (an export's metadata) last.
* `move_model_files_into(staged, folder)`: moves a complete saved model into a folder that holds other files too,
  `config.json` last, so that the folder holds a whole model or none at every moment (function docstring).
* `remove_stale_temporary_files(folder)`: removes the `.NAME.tmp-PID` files and `_NAME.tmp-PID` folders whose
  process no longer exists (an interrupted write or save), and logs each; a run calls it while holding its lock,
  so no live writer of its outputs is touched.
* `naming_write_failures(path)`: a failed write in the block (a full disk, a file size or quota limit, a read-only
  or forbidden place, also when safetensors or `torch.save` report it in their own way) becomes a `WriteFailedError`
  (an OSError) that names what was written and why, e.g. `Could not write the model into out/run: No space left on
  device`, instead of a library's traceback.

POSIX only (`fcntl`); locks are advisory, so they bind this package's programs, not other writers.
"""

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from safetensors import SafetensorError


logger = logging.getLogger(__name__)  # no transformers import: a lock holder starts in a fraction of a second

CONFIG_NAME = "config.json"  # transformers' CONFIG_NAME: what makes a folder a saved model

TEMPORARY_NAME = re.compile(r"[._].+\.tmp-(\d+)")  # a temporary file (`.NAME.tmp-PID`) or folder (`_NAME.tmp-PID`)


class LockedError(OSError):
    """An output is in use by another run (its lock is held)."""


class WriteFailedError(OSError):
    """A file or folder could not be written (`naming_write_failures`); nothing partial was left in its place."""


def lock_file_for(path: str | Path) -> Path:
    """`.NAME.lock` next to `path` (made absolute, so that `.` or `out/` name their folder)."""
    path = Path(path).absolute()
    return path.parent / f".{path.name}.lock"


def _holder(lock_path: Path) -> str:
    try:
        record = json.loads(lock_path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        record = {}
    if not isinstance(record, dict) or "pid" not in record:
        return "another process"
    return f"pid {record['pid']}, started {record.get('started', '?')}: {record.get('command', '?')}"


@contextlib.contextmanager
def exclusive_lock(path: str | Path, what: str = "The output") -> Iterator[Path]:
    """Holds the advisory lock of `path` for the `with` block (module docstring); yields the lock file.

    Raises:
        LockedError: another process holds it; the message names `what`, `path` and that process.
    """
    lock_path = lock_file_for(path)
    with naming_write_failures(lock_path, f"the lock file {lock_path}", f"nothing was written for {path}"):
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(
                f"{what} {path} is in use by another run ({_holder(lock_path)}); wait for it to finish, or write "
                "somewhere else."
            ) from None
        record = {
            "pid": os.getpid(),
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "?",
        }
        with naming_write_failures(lock_path, f"the lock file {lock_path}", f"nothing was written for {path}"):
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
        yield lock_path
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _pid_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def staging_path(path: str | Path, pid: int | None = None) -> Path:
    """`_NAME.tmp-PID` next to `path` (PID: this process's unless given), where the folder `path` is written before
    it is moved into place (module docstring); `remove_stale_temporary_files` removes it once its process is
    gone."""
    path = Path(path)
    return path.with_name(f"_{path.name}.tmp-{os.getpid() if pid is None else pid}")


def remove_stale_temporary_files(folder: str | Path) -> list[Path]:
    """Removes the temporary files and folders (`TEMPORARY_NAME`) of `folder` whose process is gone, logging each;
    returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.iterdir()):
        found = TEMPORARY_NAME.fullmatch(path.name)
        if not found or int(found.group(1)) == os.getpid() or _pid_is_alive(int(found.group(1))):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        logger.warning(f"Removed {path}: the unfinished write of process {found.group(1)}, which has ended.")
        removed.append(path)
    return removed


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomically(path: str | Path, text: str | Iterator[str]) -> None:
    """Writes `text` (a string, or strings written one after the other) to `path` through `.NAME.tmp-PID` in the
    same folder: flushed and fsync'ed before `os.replace`, then the folder fsync'ed. An interrupted write leaves only
    the temporary file (`remove_stale_temporary_files` removes it later), never a partial `path`; a failed one
    (full disk, ...) removes it and is a `WriteFailedError` naming `path`, which keeps its former content."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give the path of a file to write.")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with naming_write_failures(path, outcome=f"{path} keeps its former content, if it had one"):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                for part in [text] if isinstance(text, str) else text:
                    f.write(part)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    _fsync_folder(path.parent)


def move_folder_into_place(staged: str | Path, path: str | Path) -> None:
    """Renames the complete folder `staged` to `path` (same file system) and fsyncs their parent: readers see no
    folder or the whole one. An existing `path` is first renamed aside (to its `staging_path` with `.replaced`), then
    deleted once the new folder is in place; a crash between the two renames leaves neither `path` nor a partial
    one, and the folder aside is removed as stale by the next run."""
    staged, path = Path(staged), Path(path)
    aside = staging_path(path.with_name(f"{path.name}.replaced")) if path.exists() else None
    if aside is not None:
        os.replace(path, aside)
    os.replace(staged, path)
    _fsync_folder(path.parent)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


# The sha256 record of a saved model's weights (`model_setup.record_weight_digests`); hidden: a local record, neither
# uploaded nor exported (bang_spmd.hub).
WEIGHT_DIGESTS = ".weights.sha256"
# The weight files of a saved model (and their record) that a newer model in the same folder replaces or makes stale.
WEIGHT_FILE_PATTERNS = (
    "*.safetensors",
    "*.safetensors.index.json",
    "pytorch_model*.bin",
    "*.bin.index.json",
    WEIGHT_DIGESTS,
)


def move_model_files_into(staged: str | Path, folder: str | Path) -> None:
    """Moves the files of `staged`, a folder holding one complete saved model, into `folder`, which may hold other
    things (checkpoints, run files, an earlier model), then removes `staged`.

    A model folder is recognised by its `config.json` (transformers and this package load nothing from a folder
    without one), so the order makes every moment safe: (1) `folder`'s former `config.json` is removed, so the
    earlier model, if any, stops being one; (2) its weight files that the new model does not have (other shards,
    an index, the sha256 record `WEIGHT_DIGESTS` of the former weights) are removed; (3) every new file but
    `config.json` is renamed into `folder`, replacing the earlier one; (4) `config.json` is renamed last, then
    `folder` is fsync'ed. A crash before (4) leaves a folder without `config.json`, refused as "no config.json"
    (never an old config over new weights, or a config without weights); a crash after it leaves the complete new
    model.
    """
    move_files_into(staged, folder, last=CONFIG_NAME, stale=WEIGHT_FILE_PATTERNS)


@contextlib.contextmanager
def staged_folder(path: str | Path, description: str) -> Iterator[Path]:
    """Yields a staging folder (`staging_path(path)`) to write the whole folder `path` into; when the block ends
    normally the staging folder replaces `path` (`move_folder_into_place`). A failed write (full disk, ...) or any
    other error removes the staging folder, and a refused write is a `WriteFailedError` naming `description`:
    `path` is never left half-written (it keeps its former content, if it had any)."""
    path = Path(path)
    staging = staging_path(path)
    outcome = f"{path} keeps its former content, if it had any"
    try:
        with naming_write_failures(path, description, outcome):
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            yield staging
            move_folder_into_place(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def move_files_into(staged: str | Path, folder: str | Path, last: str, stale: tuple[str, ...] = ()) -> None:
    """Moves every file of the complete folder `staged` into `folder` (which may hold other files), the file `last`
    after all the others, then removes `staged`: the file `last` marks the set complete to its readers (an export's
    metadata, a model's `config.json`), so any moment leaves the former set or the whole new one readable. `last`'s
    former copy is removed first, so the old set stops being complete before any of its files is replaced or removed;
    then `folder`'s files matching a `stale` glob pattern that the new set does not have (a former model's other
    shards) are removed."""
    staged, folder = Path(staged), Path(folder)
    names = sorted(path.name for path in staged.iterdir())
    if last not in names:
        raise ValueError(f"{staged} lacks {last}, which completes it.")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / last).unlink(missing_ok=True)
    _fsync_folder(folder)
    for pattern in stale:
        for path in folder.glob(pattern):
            if path.name not in names:
                path.unlink()
    for name in names:
        if name != last:
            os.replace(staged / name, folder / name)
    _fsync_folder(folder)
    os.replace(staged / last, folder / last)
    _fsync_folder(folder)
    staged.rmdir()


# errno values of a write that the machine refused: no space or quota, a file size limit, a read-only or forbidden
# place, an I/O error.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO})
_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def write_failure_reason(error: BaseException, path: str | Path) -> str | None:
    """Why a write into `path` failed, when `error` is a refused write; None for any other error (a bug keeps its
    traceback). Recognised: an OSError with an errno of `WRITE_ERRNOS`; safetensors' `SafetensorError` "I/O error:
    ... (os error N)" and the bare `Exception` "... (os error N)" of tokenizers' `save` (N of `WRITE_ERRNOS`); and
    PyTorch's `torch.save` writer, whose RuntimeError ("[enforce fail at inline_container.cc ...] unexpected pos
    ...") names no cause, so the free space of `path`'s file system is given with it."""
    if isinstance(error, OSError) and error.errno in WRITE_ERRNOS:
        return os.strerror(error.errno)
    if isinstance(error, SafetensorError) or type(error) is Exception:  # tokenizers raises a bare Exception
        found = _RUST_OS_ERROR.search(str(error))
        return os.strerror(int(found.group(1))) if found and int(found.group(1)) in WRITE_ERRNOS else None
    if isinstance(error, RuntimeError) and "inline_container" in str(error):
        existing = next((p for p in [Path(path), *Path(path).absolute().parents] if p.exists()), Path("/"))
        free = shutil.disk_usage(existing).free
        return f"torch.save stopped writing ({' '.join(str(error).split())}); {free} bytes are free on that disk"
    return None


@contextlib.contextmanager
def naming_write_failures(path: str | Path, description: str | None = None, outcome: str = "") -> Iterator[None]:
    """Turns a refused write into `path` inside the block (`write_failure_reason`) into a `WriteFailedError` "Could
    not write {description}: {reason}; {outcome}." (`description` defaults to `path`; `outcome` says what was left,
    e.g. that nothing partial was). Other errors, and a `WriteFailedError` of an inner block, pass unchanged."""
    try:
        yield
    except WriteFailedError:
        raise
    except Exception as error:
        reason = write_failure_reason(error, path)
        if reason is None:
            raise
        message = f"Could not write {description or path}: {reason}" + (f"; {outcome}." if outcome else ".")
        raise WriteFailedError(message) from error


__all__ = [
    "WEIGHT_DIGESTS",
    "LockedError",
    "WriteFailedError",
    "exclusive_lock",
    "lock_file_for",
    "move_files_into",
    "move_folder_into_place",
    "move_model_files_into",
    "naming_write_failures",
    "remove_stale_temporary_files",
    "staged_folder",
    "staging_path",
    "write_atomically",
    "write_failure_reason",
]
