"""The two things paperfeed does to files besides reading them: cross-process locks and atomic writes.

Locks are `flock`s on a lock file: released by the kernel when the holder dies (even by SIGKILL), so a
crashed process never leaves a stale lock behind.  They coordinate processes of one machine; work shared
by several machines goes through the database.

An atomic write goes to a temporary file in the same directory, is flushed to disk (fsync), and is then
renamed over the target: a reader, or the next run after a crash, sees the old content or the new, never a
torn file.  With `durable=True` the directory is fsynced too, so the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


class LockBusy(RuntimeError):
    """A non-blocking lock that another process holds."""


@contextlib.contextmanager
def file_lock(path: Path, *, blocking: bool = True, shared: bool = False) -> Iterator[None]:
    """Hold an flock on `path` (created, with its folder, if missing); `LockBusy` when `blocking` is False
    and another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(fh, mode)
        except BlockingIOError:
            raise LockBusy(str(path)) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def lock_is_held(path: Path) -> bool:
    """True when some process holds an exclusive lock on `path` (probed with a shared lock, released at once)."""
    if not path.exists():
        return False
    try:
        with file_lock(path, blocking=False, shared=True):
            return False
    except LockBusy:
        return True


def _tmp_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make renames in `path` durable; some filesystems do not support fsync on a directory."""
    with contextlib.suppress(OSError):
        fsync_path(path)


def atomic_write(path: Path, write: Callable[[IO[str]], object], *, durable: bool = False) -> None:
    """Replace `path` with what `write(file)` writes, atomically (see the module docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_for(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, *, durable: bool = False) -> None:
    atomic_write(path, lambda f: f.write(text), durable=durable)


def atomic_replace_with(path: Path, produce: Callable[[Path], object]) -> None:
    """Replace `path` with a file that `produce(tmp_path)` writes itself (e.g. a library's own `save`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_for(path)
    try:
        produce(tmp)
        fsync_path(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
