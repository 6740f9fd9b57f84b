"""The snapshot: the store as one TinyDB JSON document, replaced atomically.

The snapshot is exactly what ``tinydb.TinyDB(path)`` reads (``{table: {doc_id:
document}}``), so an older sandbox's store file opens unchanged and a
snapshot can still be inspected with TinyDB. It is written to a temporary file
in the same directory, flushed and fsynced, then renamed over the old one: at
any instant the path holds either the previous or the new document.

The tables hand over their documents already encoded (see
:mod:`sandbox.storage.table`), so writing only joins bytes, a few hundred
documents at a time: a compaction runs in a background thread, and one
``json.dumps`` of a 150 MB store would hold the interpreter lock (and stall
every request) for seconds.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

#: Documents encoded per write: small enough to let request threads in between.
CHUNK = 256

Tables = dict[str, dict[str, Any]]
FrozenTables = Sequence[tuple[str, Sequence[tuple[int, bytes]]]]


class StoreCorruptError(RuntimeError):
    """The store file or its journal exists but cannot be read as a store."""


def read_snapshot(path: Path) -> Tables:
    """The snapshot's tables; ``{}`` when there is none yet (or it is empty)."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return {}
    if not text.strip():
        return {}
    try:
        # orjson parses a 150 MB store several times faster than json: start-up time.
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise StoreCorruptError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
        raise StoreCorruptError(f"{path} does not hold a TinyDB document")
    return data


def encode(doc: Any) -> str:
    """A document as stored: strict, compact JSON (no NaN), non-ASCII kept as is."""
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _chunks(tables: FrozenTables) -> Iterable[bytes]:
    yield b"{"
    for number, (name, rows) in enumerate(tables):
        yield b'%s%s: {' % (b", " if number else b"", json.dumps(name).encode())
        for start in range(0, len(rows), CHUNK):
            part = b", ".join(b'"%d": %s' % row for row in rows[start:start + CHUNK])
            yield (b", " if start else b"") + part
        yield b"}"
    yield b"}"


def write_snapshot(path: Path, tables: FrozenTables) -> None:
    """Replace the snapshot at ``path`` with ``tables``: (name, [(doc_id, JSON bytes)])."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600; keep the mode the store file already had.
        os.chmod(tmp, _mode(path))
        with os.fdopen(fd, "wb") as handle:
            for data in _chunks(tables):
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def remove_leftovers(path: Path) -> list[Path]:
    """Delete the temporary snapshot files a crashed run left beside ``path``."""
    removed = []
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed


def _mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o644


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable (a power cut could undo it)."""
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
