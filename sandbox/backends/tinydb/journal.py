"""The journal: every change appended beside the snapshot, fsynced with group commit.

A record is one line, ``<crc32 hex> <json>\\n``, holding ``{"t": table,
"k": doc_id, "d": document}`` (the document as it now is), ``{"t": table,
"k": doc_id, "b": [document, ...]}`` (one ``insert_many``: its documents at
``doc_id`` and the ids after it, all or none) or, with neither, the removal
of ``doc_id``. Records are idempotent "put"/"remove" operations, so
replaying a segment the snapshot already contains changes nothing: a crash
between writing a snapshot and deleting the segments it covers is harmless.

The journal is a series of segments, ``<store>.journal.<generation>``;
compaction starts a new one and, once the snapshot holding the old ones is on
disk, deletes them. Appending writes to the OS (under the store's write lock,
microseconds); :meth:`Journal.wait` then makes it durable outside that lock.
Concurrent writers share one fsync: whoever finds no fsync in flight syncs
everything appended so far and wakes every writer it covered (group commit).

When the process dies mid-append the last line is torn: replay drops it (a
crash can only tear the record that was never acknowledged) and truncates
the segment there. A damaged line before the last one is corruption, reported.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import zlib
from pathlib import Path
from typing import Any

from sandbox.backends.tinydb.snapshot import StoreCorruptError, fsync_directory

log = logging.getLogger("sandbox.backends.tinydb")

Record = dict[str, Any]


class JournalFailedError(OSError):
    """A journal fsync failed: nothing written since can be promised durable."""


def segment_path(store: Path, generation: int) -> Path:
    return store.with_name(f"{store.name}.journal.{generation}")


def segments(store: Path) -> list[tuple[int, Path]]:
    """The journal segments beside ``store``, oldest first."""
    found = []
    for path in store.parent.glob(f"{store.name}.journal.*"):
        suffix = path.name.rsplit(".", 1)[1]
        if suffix.isdigit():
            found.append((int(suffix), path))
    return sorted(found)


def encode_line(payload: str) -> bytes:
    data = payload.encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(data), data)


def _decode_line(line: bytes) -> Record | None:
    crc, _, data = line.partition(b" ")
    try:
        if len(crc) != 8 or int(crc, 16) != zlib.crc32(data):
            return None
        record = json.loads(data)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "t" in record and "k" in record else None


def read_segment(path: Path) -> list[Record]:
    """The records of one segment; a torn last record is dropped and cut off the file."""
    data = path.read_bytes()
    records: list[Record] = []
    offset = 0
    while offset < len(data):
        end = data.find(b"\n", offset)
        record = None if end < 0 else _decode_line(data[offset:end])
        if record is None:
            last = end < 0 or end + 1 == len(data)
            if not last:
                raise StoreCorruptError(
                    f"{path}: record {len(records) + 1} (byte {offset}) is damaged; the "
                    "journal cannot be replayed past it")
            log.warning("%s: dropping a torn last record (%d bytes)", path, len(data) - offset)
            os.truncate(path, offset)
            break
        records.append(record)
        offset = end + 1
    return records


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _open_segment(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


_sync = getattr(os, "fdatasync", os.fsync)


class Journal:
    """The active segment: append under the write lock, :meth:`wait` for durability."""

    def __init__(self, store: Path, generation: int) -> None:
        self._store = store
        self.generation = generation
        self._fd = _open_segment(segment_path(store, generation))
        self._offset = os.fstat(self._fd).st_size
        self._retired: list[int] = []
        self._directory_dirty = True
        self._cond = threading.Condition()
        self._written = 0
        self._synced = 0
        self._syncing = False
        self._failure: OSError | None = None
        #: Bytes appended since the last rotation: what the next compaction folds in.
        self.pending_bytes = self._offset

    def append(self, line: bytes) -> int:
        """Write one record (the caller holds the write lock); returns its sequence number."""
        if self._failure is not None:
            raise JournalFailedError(f"the journal of {self._store} failed earlier "
                                     f"({self._failure}); restart the sandbox") from None
        try:
            _write_all(self._fd, line)
        except BaseException:
            # A partial record must not stay behind a later one: cut it off.
            try:
                os.ftruncate(self._fd, self._offset)
            except OSError as exc:
                self._failure = exc
            raise
        self._offset += len(line)
        self.pending_bytes += len(line)
        with self._cond:
            self._written += 1
            return self._written

    def rotate(self) -> int:
        """Continue in a new segment (under the write lock); returns the last old generation."""
        fd = _open_segment(segment_path(self._store, self.generation + 1))
        with self._cond:
            self._retired.append(self._fd)
            self._fd, self._offset = fd, 0
            self.generation += 1
            self._directory_dirty = True
            self.pending_bytes = 0
        return self.generation - 1

    def wait(self, seq: int) -> None:
        """Return once record ``seq`` is on disk, syncing if no one else is."""
        with self._cond:
            while self._synced < seq:
                if self._failure is not None:
                    raise JournalFailedError(f"writing the journal of {self._store} failed: "
                                             f"{self._failure}") from None
                if self._syncing:
                    self._cond.wait()
                    continue
                self._sync_locked()

    def _sync_locked(self) -> None:
        self._syncing = True
        target = self._written
        fds = [self._fd, *self._retired]
        retired = list(self._retired)
        directory, self._directory_dirty = self._directory_dirty, False
        self._cond.release()
        error: OSError | None = None
        try:
            for fd in fds:
                _sync(fd)
            if directory:
                fsync_directory(self._store.parent)
        except OSError as exc:
            error = exc
        finally:
            self._cond.acquire()
        self._syncing = False
        if error is not None:
            self._failure = error
        else:
            self._synced = max(self._synced, target)
            for fd in retired:
                self._retired.remove(fd)
                os.close(fd)
        self._cond.notify_all()

    def close(self) -> None:
        """Sync what was appended and close every segment."""
        with self._cond:
            while self._syncing:
                self._cond.wait()
            if self._failure is None and (self._synced < self._written or self._retired):
                self._sync_locked()
            for fd in [self._fd, *self._retired]:
                os.close(fd)
            self._retired = []
            self._fd = -1
