"""A TinyDB storage that never leaves a half-written file behind.

TinyDB's stock ``JSONStorage`` truncates the file and writes in place, so a
crash mid-write loses the whole store. Here every write goes to a temporary
file in the same directory, is flushed and fsynced, then renamed over the old
file: at any instant the path holds either the previous or the new document.

The document is parsed once and kept: TinyDB reads the whole store on every
query, and parsing it each time made a lookup cost as much as a full scan.
TinyDB changes the document it read in place and hands it back to ``write``,
so the cache is the live document; a failed write drops it, and the next read
reloads what is on disk. This is safe because one process owns the file (the
repository lock serialises access inside it) and the repository hands out
copies only.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from tinydb.storages import Storage


class StoreCorruptError(RuntimeError):
    """The store file exists but does not hold a TinyDB JSON document."""


class AtomicJSONStorage(Storage):
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._data: dict[str, dict[str, Any]] | None = None

    def read(self) -> dict[str, dict[str, Any]] | None:
        if self._data is None:
            try:
                text = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                return None
            if not text.strip():
                return None
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise StoreCorruptError(f"{self.path} is not valid JSON: {exc}") from exc
            if not isinstance(data, dict):
                raise StoreCorruptError(f"{self.path} does not hold a TinyDB document")
            self._data = data
        return self._data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        try:
            self._replace_file(json.dumps(data, ensure_ascii=False))
        except BaseException:
            self._data = None
            raise
        self._data = data

    def _replace_file(self, text: str) -> None:
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            # mkstemp creates 0600; keep the mode the store file already had.
            os.chmod(tmp, self._mode())
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_directory(self.path.parent)

    def _mode(self) -> int:
        try:
            return self.path.stat().st_mode & 0o777
        except FileNotFoundError:
            return 0o644

    def close(self) -> None:
        self._data = None


def _fsync_directory(directory: Path) -> None:
    # The rename itself must reach the disk, or a power cut can undo it.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
