"""``tmf629-sandbox check --db PATH``: verify a file store offline, changing nothing.

It reads what a start would read and judges it the same way (the same segment
scan, the same missing-parts rule of :mod:`~sandbox.backends.tinydb.database`),
then goes further: every table replayed in memory is compared with one rebuilt
from its final documents (id map, equality indexes, the common paths' token
indexes), and stored numbers are
checked against the number model. Nothing is written: a torn last record is
reported, not cut off, and the owner lock is only tested (held while checking,
so no sandbox starts meanwhile), never created or rewritten.

Exit status: 0 sound, 1 damaged (a start would refuse, or lose or misread data),
2 not checked (no store there, or a sandbox process owns it).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sandbox.backends.tinydb.database import TinyDatabase, missing_parts
from sandbox.backends.tinydb.journal import SegmentScan, scan_segment, segments
from sandbox.backends.tinydb.owner import lock_path
from sandbox.backends.tinydb.snapshot import StoreCorruptError, snapshot_state
from sandbox.backends.tinydb.table import TinyTable
from sandbox.domain import numbers

SOUND, DAMAGED, NOT_CHECKED = 0, 1, 2


@dataclass
class Report:
    """The findings, one line each: ``ok``, ``note`` (worth knowing, harmless) or
    ``DAMAGED``."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def add(self, level: str, text: str) -> None:
        self.lines.append((level, text))

    @property
    def damaged(self) -> int:
        return sum(level == "DAMAGED" for level, _ in self.lines)


class NotChecked(Exception):
    """The store cannot be checked now (a message for the operator)."""


@contextmanager
def _owner_lock_tested(path: Path, report: Report) -> Iterator[None]:
    """Hold the owner lock while checking, if it can be had; never create or write it."""
    lock = lock_path(path)
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        report.add("ok", f"lock file {lock.name}: absent (no sandbox has the store open)")
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise NotChecked(f"the store {path} is in use by a sandbox process (pid {pid}, "
                             f"lock file {lock}); stop it, then check again") from None
        report.add("ok", f"lock file {lock.name}: not held (no sandbox has the store open)")
        yield
    finally:
        os.close(fd)  # closing drops the flock


def _scans(path: Path, report: Report) -> list[SegmentScan] | None:
    """Every segment scanned and described; None when one cannot be read past."""
    scans = []
    for _, segment in segments(path):
        try:
            scan = scan_segment(segment)
        except StoreCorruptError as exc:
            report.add("DAMAGED", str(exc))
            return None
        base = {None: "no header (an older sandbox's segment)", True: "continues the snapshot",
                False: "starts from an empty store"}[scan.after_snapshot]
        report.add("ok", f"journal {segment.name}: {len(scan.records)} record(s), "
                         f"checksums valid; {base}")
        if scan.torn_at is not None:
            report.add("note", f"journal {segment.name}: a torn last record "
                               f"({scan.size - scan.torn_at} bytes at byte {scan.torn_at}), "
                               "never acknowledged; the next start cuts it off")
        elif scan.unterminated:
            report.add("note", f"journal {segment.name}: the last record lacks its final "
                               "newline; it is complete and valid, and kept")
        scans.append(scan)
    return scans


def _rebuilt(name: str, table: TinyTable) -> TinyTable:
    fresh = TinyDatabase(None).table(name)
    for doc_id, packed in table.frozen():
        fresh.load(doc_id, orjson.loads(packed), packed)
    return fresh


def _odd_numbers(document: Any) -> Iterator[Any]:
    pending = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif not numbers.is_canonical(item):
            yield item


def _check_tables(db: TinyDatabase, report: Report) -> None:
    tables = db.tables()
    for name, table in sorted(tables.items()):
        if table.shape() != _rebuilt(name, table).shape():
            report.add("DAMAGED", f"table {name}: the indexes replayed differ from the ones "
                                  "rebuilt from its documents")
        odd = [doc_id for doc_id, packed in table.frozen()
               if any(True for _ in _odd_numbers(json.loads(packed)))]  # exact, unlike orjson
        if odd:
            report.add("note", f"table {name}: {len(odd)} document(s) (doc ids "
                               f"{', '.join(map(str, odd[:5]))}) hold numbers outside the "
                               f"number model (whole numbers written with a fraction, or "
                               f"beyond {numbers.RANGE_TEXT}), written by an older sandbox; "
                               "answers may show them otherwise than stored")
    counts = ", ".join(f"{name} {table.count()}" for name, table in sorted(tables.items()))
    report.add("ok", f"indexes rebuilt from the documents equal the replayed ones; tables: "
                     f"{counts or 'none'}")


def check_store(path: Path) -> Report:
    """Verify the store at ``path``; raises :class:`NotChecked` when it cannot."""
    report = Report()
    state = snapshot_state(path)
    if state == "missing" and not segments(path):
        raise NotChecked(f"there is no store at {path} (no snapshot, no journal)")
    with _owner_lock_tested(path, report):
        leftovers = list(path.parent.glob(f".{path.name}.*.tmp"))
        if leftovers:
            report.add("note", f"{len(leftovers)} temporary snapshot file(s) of an "
                               "interrupted compaction; the next start removes them")
        if state != "present":
            report.add("note", f"snapshot {path.name}: {state} (a store that was never "
                               "compacted has none)")
        scans = _scans(path, report)
        if scans is None:
            return report
        for problem in missing_parts(path, state, scans):
            report.add("DAMAGED", problem)
        db = TinyDatabase(None)
        try:
            db.read_files(path, scans)
        except StoreCorruptError as exc:
            report.add("DAMAGED", str(exc))
            return report
        if state == "present":
            report.add("ok", f"snapshot {path.name}: {path.stat().st_size} bytes, read whole")
        _check_tables(db, report)
    return report


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="tmf629-sandbox check",
        description="Verify a TinyDB file store (snapshot, journal records and checksums, "
        "indexes, owner lock) without changing it. Exit status: 0 sound, 1 damaged, 2 not "
        "checked (no store, or in use).")
    parser.add_argument("--db", required=True, metavar="PATH", help="the store's JSON file")
    args = parser.parse_args(argv)
    path = Path(args.db)
    try:
        report = check_store(path)
    except (NotChecked, OSError) as exc:
        print(f"tmf629-sandbox check: {exc}", flush=True)
        return NOT_CHECKED
    print(f"Checking {path}", flush=True)
    for level, text in report.lines:
        print(f"  {level:8s} {text}", flush=True)
    if report.damaged:
        print(f"DAMAGED: {report.damaged} problem(s), listed above. Restore the missing or "
              "damaged files from a backup.", flush=True)
        return DAMAGED
    print("Sound.", flush=True)
    return SOUND
