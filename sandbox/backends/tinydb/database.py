"""The journaled TinyDB store: snapshot + journal, write section, compaction.

Opening takes the owner lock, removes temporary files a crashed run left,
loads the snapshot, replays the journal segments in order and continues in a
new segment. Every table lives in memory (:class:`TinyTable`).

The write section (``repo.lock``) is a re-entrant lock held only while a write
changes memory and appends its record, and while the observers run; leaving
the outermost section releases the lock and *then* waits for the journal
fsync (shared with concurrent writers). Readers therefore never wait for the
disk: ``get`` takes no lock, and a search waits at most for an in-memory
change.

Compaction, once the journal outgrows the snapshot (at least
``compact_after`` bytes), starts a new segment and takes a shallow copy of
every table under the lock (milliseconds), then writes the snapshot from that
frozen copy in a background thread and deletes the segments it covers.
``close()`` compacts whatever the journal still holds.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from sandbox.backends.tinydb.bulk import Filling
from sandbox.backends.tinydb.journal import (
    Journal,
    Record,
    SegmentScan,
    drop_torn,
    encode_line,
    generation_of,
    scan_segment,
    segment_path,
    segments,
)
from sandbox.backends.tinydb.owner import OwnerLock
from sandbox.backends.tinydb.snapshot import (
    Adder,
    StoreCorruptError,
    encode,
    fsync_directory,
    load_snapshot,
    remove_leftovers,
    snapshot_state,
    write_snapshot,
)
from sandbox.backends.tinydb.table import TinyTable

log = logging.getLogger("sandbox.backends.tinydb")

#: A journal smaller than this is never worth a compaction.
MIN_COMPACT_BYTES = 8 * 1024 * 1024


def missing_parts(path: Path, state: str, scans: list[SegmentScan]) -> list[str]:
    """What the store at ``path`` lacks to be whole: a snapshot the journal continues, or
    journal segments between others (the oldest segment's header says what came first)."""
    problems = []
    if scans and scans[0].after_snapshot and state != "present":
        problems.append(f"the journal {scans[0].path.name} continues a snapshot, but "
                        f"{path} is {'missing' if state == 'missing' else 'empty (0 bytes)'}")
    generations = [generation_of(scan.path) for scan in scans]
    for before, after in zip(generations, generations[1:], strict=False):
        if after != before + 1:
            problems.append(f"journal segment(s) {before + 1}..{after - 1} between "
                            f"{path.name}.journal.{before} and .{after} are missing")
    return problems


def refusal(path: Path, problems: list[str]) -> str:
    """Why the store does not open, and what the operator can do."""
    return (f"cannot open the store {path}: {'; '.join(problems)}. Starting would serve fewer "
            f"customers than were acknowledged, so the sandbox stops here. Restore the missing "
            f"file(s) from a backup and start again, or move {path.name}* away to start a new "
            f"store; 'tmf629-sandbox check --db {path}' reports what the files hold.")


class WriteSection:
    """A re-entrant lock whose outermost exit waits for the writes made inside to be durable."""

    def __init__(self, journal: Journal | None, written: Callable[[], None]) -> None:
        self.mutex = threading.RLock()
        self.journal = journal
        self._written = written
        self._local = threading.local()

    def __enter__(self) -> None:
        self.mutex.acquire()
        self._local.depth = getattr(self._local, "depth", 0) + 1

    def __exit__(self, *exc: object) -> None:
        self._local.depth -= 1
        pending = 0
        try:
            if self._local.depth == 0:
                pending, self._local.pending = getattr(self._local, "pending", 0), 0
                if pending:
                    self._written()  # every write of the section is in memory now
        finally:
            self.mutex.release()
        if pending and self.journal is not None:
            self.journal.wait(pending)

    def note(self, seq: int) -> None:
        self._local.pending = max(getattr(self._local, "pending", 0), seq)


class TinyDatabase:
    """The store at ``path`` (None: in memory only, nothing written)."""

    def __init__(self, path: Path | None, *, compact_after: int = MIN_COMPACT_BYTES) -> None:
        self.path = path
        self._compact_after = compact_after
        self._owner: OwnerLock | None = None
        self._tables: dict[str, TinyTable] = {}
        self._compaction: threading.Thread | None = None
        self._snapshot_bytes = 0
        self._closed = False
        self._section = WriteSection(None, self._maybe_compact)
        self._journal: Journal | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._owner = OwnerLock(path)
            try:
                self._journal = self._section.journal = self._load(path)
            except BaseException:
                self._owner.release()
                raise

    def _load(self, path: Path) -> Journal:
        for leftover in remove_leftovers(path):
            log.warning("removed %s, left by an interrupted run", leftover)
        # Everything is read and judged before anything changes: a refused start leaves
        # the files as they were, for the operator (and `check`) to look at.
        scans = [scan_segment(segment) for _, segment in segments(path)]
        state = snapshot_state(path)
        problems = missing_parts(path, state, scans)
        if problems:
            raise StoreCorruptError(refusal(path, problems))
        self.read_files(path, scans)
        for scan in scans:
            drop_torn(scan)
        journal = Journal(path, (generation_of(scans[-1].path) + 1) if scans else 1,
                          after_snapshot=state == "present" or any(
                              scan.records or scan.after_snapshot for scan in scans))
        # The replayed segments stay until the next compaction folds them in.
        journal.pending_bytes += sum(scan.record_bytes for scan in scans)
        return journal

    def read_files(self, path: Path, scans: Sequence[SegmentScan]) -> None:
        """Load the snapshot at ``path`` and replay the scanned segments into memory
        (the files stay as they are)."""
        fillings: dict[str, tuple[TinyTable, Filling]] = {}

        def adder(name: str) -> Adder:
            table = self.table(name)
            if name not in fillings and table.count() == 0:
                fillings[name] = (table, table.filling())
            if name not in fillings:
                return table.load
            filling = fillings[name][1]
            return lambda doc_id, doc, packed: table.fill(filling, doc_id, doc, packed)

        # The snapshot fills each table in one pass (bulk.Filling); the journal replays
        # one record at a time, on top of it.
        self._snapshot_bytes = load_snapshot(path, adder)
        for table, filling in fillings.values():
            table.adopt(filling)
        for scan in scans:
            for record in scan.records:
                self._replay(record)

    def _replay(self, record: Record) -> None:
        table, first = self.table(str(record["t"])), int(record["k"])
        batch = record.get("b")
        # One insert_many is one record: its documents at first, first+1...
        docs = enumerate(batch) if isinstance(batch, list) else [(0, record.get("d"))]
        for offset, doc in docs:
            try:
                table.load(first + offset, doc, None)
            except TypeError:
                # Written before the number model (an integer beyond 64 bits, which orjson
                # cannot encode): kept as the exact JSON text it was journaled as.
                table.load(first + offset, doc, encode(doc).encode())

    # -- tables and writes ------------------------------------------------------

    def tables(self) -> dict[str, TinyTable]:
        """Every table by name (a copy of the mapping)."""
        with self._section.mutex:
            return dict(self._tables)

    def table(self, name: str) -> TinyTable:
        with self._section.mutex:
            if name not in self._tables:
                self._tables[name] = TinyTable(name, self._section, self._log)
            return self._tables[name]

    def _log(self, table: str, doc_id: int, encoded: Sequence[str] | None) -> None:
        if self._journal is None:
            return
        if encoded is None:
            body = ""
        elif len(encoded) == 1:
            body = f',"d":{encoded[0]}'
        else:  # a batch is one line, one checksum: replayed whole or, torn, not at all
            body = f',"b":[{",".join(encoded)}]'
        seq = self._journal.append(encode_line(f'{{"t":{json.dumps(table)},"k":{doc_id}{body}}}'))
        self._section.note(seq)

    def _maybe_compact(self) -> None:
        """Under the write lock, after a write section: compact once the journal is big."""
        journal = self._journal
        if (journal is None or self._compaction is not None or self._closed
                or journal.pending_bytes < max(self._compact_after, self._snapshot_bytes)):
            return
        try:
            self._start_compaction()
        except OSError:
            log.exception("cannot start compacting %s", self.path)

    # -- compaction -------------------------------------------------------------

    def _start_compaction(self) -> threading.Thread:
        """Under the write lock: freeze the tables, start writing them (not started)."""
        assert self._journal is not None
        covered = self._journal.rotate()
        frozen = [(name, table.frozen()) for name, table in self._tables.items()]
        thread = threading.Thread(target=self._compact, args=(frozen, covered),
                                  name="sandbox-compaction", daemon=True)
        self._compaction = thread
        thread.start()
        return thread

    def _compact(self, frozen: list[tuple[str, list[tuple[int, bytes]]]],
                 covered: int) -> None:
        assert self.path is not None
        try:
            write_snapshot(self.path, frozen)
            for generation, segment in segments(self.path):
                if generation <= covered:
                    segment.unlink(missing_ok=True)
            fsync_directory(self.path.parent)
            self._snapshot_bytes = self.path.stat().st_size
        except Exception:
            # The segments stay: nothing is lost, the next compaction retries.
            log.exception("compacting %s failed", self.path)
        finally:
            self._compaction = None

    def compact(self) -> None:
        """Fold the journal into a new snapshot now, and wait for it."""
        if self._journal is None:
            return
        while True:
            self.wait_for_compaction()
            with self._section.mutex:
                if self._compaction is None:
                    thread = self._start_compaction()
                    break
        thread.join()

    def wait_for_compaction(self) -> None:
        running = self._compaction
        if running is not None:
            running.join()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._journal is not None and self.path is not None:
            self.wait_for_compaction()
            if self._journal.pending_bytes or len(segments(self.path)) > 1:
                self.compact()
            self._journal.close()
            if not self._journal.holds_records:  # only its header: a store at rest is one file
                segment_path(self.path, self._journal.generation).unlink(missing_ok=True)
        if self._owner is not None:
            self._owner.release()
