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

Every segment starts with a header line, ``{"journal": 1, "after_snapshot":
true}``: whether the store had a snapshot (or older segments) when the segment
began. A segment that continues a snapshot is worth little without it, so a
start that finds it missing refuses (see :mod:`~sandbox.backends.tinydb.database`)
instead of serving part of the store. Segments of older sandboxes have no header.

When the process dies mid-append the last line is torn: replay drops it (a
crash can only tear the record that was never acknowledged) and truncates
the segment there. A complete, checksum-valid last record without its newline
is kept. A damaged line before the last one is corruption, reported.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.backends.tinydb.snapshot import StoreCorruptError, fsync_directory

log = logging.getLogger("sandbox.backends.tinydb")

Record = dict[str, Any]
#: The member only a segment's header line has.
HEADER = "journal"


class JournalFailedError(OSError):
    """A journal fsync failed: nothing written since can be promised durable."""


def segment_path(store: Path, generation: int) -> Path:
    return store.with_name(f"{store.name}.journal.{generation}")


def generation_of(segment: Path) -> int:
    return int(segment.name.rsplit(".", 1)[1])


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


def header_line(after_snapshot: bool) -> bytes:
    """The first line of a segment: whether the store it continues had a snapshot."""
    return encode_line(json.dumps({HEADER: 1, "after_snapshot": after_snapshot},
                                  separators=(",", ":")))


def _decode_line(line: bytes) -> Record | None:
    """A CRC-valid line's JSON object, or None."""
    crc, _, data = line.partition(b" ")
    try:
        if len(crc) != 8 or int(crc, 16) != zlib.crc32(data):
            return None
        record = json.loads(data)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


@dataclass
class SegmentScan:
    """What one segment holds, read without changing it."""

    path: Path
    records: list[Record] = field(default_factory=list)
    #: Bytes of the records (the header not counted): what a compaction would fold in.
    record_bytes: int = 0
    #: The header's word: True when the segment continues a snapshot; None without a
    #: header (a segment of an older sandbox, or one whose header write was cut short).
    after_snapshot: bool | None = None
    #: Where a torn last record starts (a crash mid-append), or None.
    torn_at: int | None = None
    size: int = 0
    #: The last record is complete and valid but its newline is missing (it is kept).
    unterminated: bool = False


def scan_segment(path: Path) -> SegmentScan:
    """Read a segment; a damaged record before the last one is a ``StoreCorruptError``.

    The last line may be torn (the process died writing it, so it was never
    acknowledged): it is reported in ``torn_at``, not dropped here. A complete,
    checksum-valid last record whose newline is missing is no torn record: kept.
    """
    data = path.read_bytes()
    scan = SegmentScan(path, size=len(data))
    offset = 0
    while offset < len(data):
        end = data.find(b"\n", offset)
        last = end < 0 or end + 1 == len(data)
        line_end = len(data) if end < 0 else end
        decoded = _decode_line(data[offset:line_end])
        if offset == 0 and decoded is not None and HEADER in decoded:
            scan.after_snapshot = decoded.get("after_snapshot") is True
        elif decoded is not None and "t" in decoded and "k" in decoded:
            scan.records.append(decoded)
            scan.record_bytes += line_end + 1 - offset
        elif last:
            scan.torn_at = offset
            break
        else:
            number = len(scan.records) + 1 + (scan.after_snapshot is not None)
            raise StoreCorruptError(
                f"{path}: record {number} (byte {offset}) is damaged; the journal cannot be "
                "replayed past it")
        scan.unterminated = end < 0
        offset = line_end + 1
    return scan


def drop_torn(scan: SegmentScan) -> None:
    """Cut a torn last record off its segment, so nothing is ever appended behind it."""
    if scan.torn_at is not None:
        log.warning("%s: dropping a torn last record (%d bytes)", scan.path,
                    scan.size - scan.torn_at)
        os.truncate(scan.path, scan.torn_at)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _open_segment(path: Path, after_snapshot: bool) -> tuple[int, int]:
    """A new segment, its header written (not yet synced): (fd, size)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            header = header_line(after_snapshot)
            _write_all(fd, header)
            size = len(header)
    except BaseException:
        os.close(fd)
        raise
    return fd, size


_sync = getattr(os, "fdatasync", os.fsync)


class Journal:
    """The active segment: append under the write lock, :meth:`wait` for durability."""

    def __init__(self, store: Path, generation: int, *, after_snapshot: bool) -> None:
        self._store = store
        self.generation = generation
        self._fd, self._offset = _open_segment(segment_path(store, generation), after_snapshot)
        self._header_bytes = self._offset
        self._retired: list[int] = []
        self._directory_dirty = True
        self._cond = threading.Condition()
        self._written = 0
        self._synced = 0
        self._syncing = False
        self._failure: OSError | None = None
        #: Bytes appended since the last rotation: what the next compaction folds in.
        self.pending_bytes = 0

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
        # Once the snapshot of the old segments is written they go: the new one needs it.
        fd, size = _open_segment(segment_path(self._store, self.generation + 1), True)
        with self._cond:
            self._retired.append(self._fd)
            self._fd, self._offset = fd, size
            self._header_bytes = size
            self.generation += 1
            self._directory_dirty = True
            self.pending_bytes = 0
        return self.generation - 1

    @property
    def holds_records(self) -> bool:
        """Whether the active segment holds any record besides its header."""
        return self._offset > self._header_bytes

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
