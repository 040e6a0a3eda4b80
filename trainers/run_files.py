"""The files a run writes: an advisory lock per output, atomic writes, and the temporary files of dead runs.

* `exclusive_lock(path, what)`: a context manager holding `fcntl.flock` on the lock file next to `path`
  (`lock_file_for`: `.NAME.lock` in the same folder, so that an output folder stays empty until the run writes into
  it). A second run on the same output refuses at once with a `LockedError` naming the run that holds it (its pid,
  start time and command, which the holder writes into the lock file). The kernel drops the lock when its holder
  exits, however it ends, so a killed run never leaves a stale lock; the lock file itself stays.
* `write_atomically(path, text)`: a temporary file `.NAME.tmp-PID` in the same folder, flushed and fsync'ed, then
  renamed over `path` (`os.replace`) and the folder fsync'ed: readers see the old file or the whole new one.
* `remove_stale_temporary_files(folder)`: removes the `.NAME.tmp-PID` files whose process no longer exists (an
  interrupted write); a run calls it while holding its lock, so no live writer of its outputs is touched.

POSIX only (`fcntl`); locks are advisory, so they bind this package's programs, not other writers.
"""

import contextlib
import datetime
import fcntl
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path


TEMPORARY_NAME = re.compile(r"\..+\.tmp-(\d+)")


class LockedError(OSError):
    """An output is in use by another run (its lock is held)."""


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


def remove_stale_temporary_files(folder: str | Path) -> list[Path]:
    """Removes the `.NAME.tmp-PID` files of `folder` whose process is gone; returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.iterdir():
        found = TEMPORARY_NAME.fullmatch(path.name)
        if found and path.is_file() and int(found.group(1)) != os.getpid() and not _pid_is_alive(int(found.group(1))):
            path.unlink(missing_ok=True)
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
    the temporary file (`remove_stale_temporary_files` removes it later), never a partial `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
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


__all__ = [
    "LockedError",
    "exclusive_lock",
    "lock_file_for",
    "remove_stale_temporary_files",
    "write_atomically",
]
