"""One owner per store: an OS file lock beside the store file.

Two processes writing one store lose each other's writes, so the first one
takes an exclusive ``flock`` on ``<store>.lock`` and writes its pid there;
a second one fails at once with a message naming the file and that pid. The
OS drops the lock when the owner dies, even by ``kill -9``, so a crash never
leaves the store locked.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class StoreLockedError(OSError):
    """Another process owns the store."""


def lock_path(store: Path) -> Path:
    return store.with_name(store.name + ".lock")


class OwnerLock:
    """The held lock on ``store``; :meth:`release` gives it up."""

    def __init__(self, store: Path) -> None:
        self.path = lock_path(store)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_pid(fd)
            os.close(fd)
            raise StoreLockedError(
                f"the store {store} is in use by another sandbox process "
                f"(pid {other or 'unknown'}, lock file {self.path}); stop that process "
                "or choose another --db") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return ""
