"""Recovery never loses or hides data (file store), with real server processes: a last
journal record without its newline is kept; a journal whose snapshot is missing or empty
stops the start with what to do and changes nothing; ``tmf629-sandbox check`` tells a
sound store from a damaged one without changing either."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from ctk_runner.embedded import SandboxProcess
from sandbox.backends.tinydb import StoreCorruptError, open_database
from sandbox.backends.tinydb.journal import segment_path, segments
from tests.conftest import MINIMAL

SNAPSHOTTED, JOURNALED = 20, 30


def files_of(path: Path) -> dict[str, bytes]:
    """Every file of the store but its lock (which a start creates), by name."""
    return {p.name: p.read_bytes() for p in sorted(path.parent.iterdir())
            if p.name.startswith(path.name) and not p.name.endswith(".lock")}


def create(api: str, count: int, prefix: str) -> set[str]:
    made = set()
    for n in range(count):
        answer = requests.post(f"{api}customer", json={**MINIMAL, "name": f"{prefix}-{n}"},
                               timeout=30)
        assert answer.status_code == 201
        made.add(answer.json()["id"])
    return made


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """A store a real server left by ``kill -9``: 20 customers in the snapshot (a clean
    stop compacted them), 30 acknowledged after it in the journal only."""
    path = tmp_path_factory.mktemp("crashed") / "db.json"
    args = ["--quiet", "--no-seed"]
    with SandboxProcess(db=path, extra_args=args) as first:
        acknowledged = create(first.url, SNAPSHOTTED, "snapshot")
    with SandboxProcess(db=path, extra_args=args) as second:
        acknowledged |= create(second.url, JOURNALED, "journal")
        os.kill(second.pid, signal.SIGKILL)
        second.wait(timeout=60)
    (_, journal), = segments(path)
    assert path.stat().st_size > 0 and journal.read_bytes().count(b"\n") == JOURNALED + 1
    return path, acknowledged


@pytest.fixture
def store(crashed: tuple[Path, set[str]], tmp_path: Path) -> Path:
    """A copy of the crashed store for one test to damage."""
    source, _ = crashed
    for name in files_of(source):
        shutil.copy2(source.with_name(name), tmp_path / name)
    return tmp_path / source.name


def served(path: Path) -> set[str]:
    """The ids a real server on ``path`` serves (then stopped cleanly)."""
    with SandboxProcess(db=path, extra_args=["--quiet", "--no-seed"]) as server:
        listed = requests.get(f"{server.url}customer", params={"limit": 1000}, timeout=30)
        return {c["id"] for c in listed.json()}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandbox", *args], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def last_segment(path: Path) -> Path:
    return segments(path)[-1][1]


def cut_final_newline(path: Path) -> None:
    journal = last_segment(path)
    data = journal.read_bytes()
    assert data.endswith(b"\n")
    journal.write_bytes(data[:-1])


def delete_snapshot(path: Path) -> None:
    path.unlink()


def empty_snapshot(path: Path) -> None:
    path.write_bytes(b"")


def test_a_crashed_store_serves_every_acknowledged_customer(
        crashed: tuple[Path, set[str]], store: Path) -> None:
    assert served(store) == crashed[1]


def test_a_last_record_without_its_newline_is_kept(crashed: tuple[Path, set[str]],
                                                   store: Path) -> None:
    cut_final_newline(store)
    checked = run_cli("check", "--db", str(store))
    assert checked.returncode == 0, checked.stdout
    assert "lacks its final newline; it is complete and valid, and kept" in checked.stdout
    assert served(store) == crashed[1]


@dataclass(frozen=True)
class Damage:
    name: str
    apply: Callable[[Path], None]
    words: str


SNAPSHOT_DAMAGE = [Damage("snapshot-deleted", delete_snapshot, "is missing"),
                   Damage("snapshot-empty", empty_snapshot, "is empty (0 bytes)")]


@pytest.mark.parametrize("damage", SNAPSHOT_DAMAGE, ids=lambda d: d.name)
def test_a_journal_without_its_snapshot_stops_the_start_and_changes_nothing(
        crashed: tuple[Path, set[str]], store: Path, damage: Damage) -> None:
    damage.apply(store)
    before = files_of(store)
    started = run_cli("--db", str(store), "--port", "0", "--no-seed")
    assert started.returncode == 2
    assert "Traceback" not in started.stderr + started.stdout
    message = started.stderr
    assert f"cannot open the store {store}" in message
    assert f"the journal {last_segment(store).name} continues a snapshot, but {store} " \
           f"{damage.words}" in message
    assert "Restore the missing file(s) from a backup" in message
    assert f"tmf629-sandbox check --db {store}" in message
    assert files_of(store) == before

    checked = run_cli("check", "--db", str(store))
    assert checked.returncode == 1, checked.stdout
    assert f"DAMAGED  the journal {last_segment(store).name} continues a snapshot" \
           in checked.stdout
    assert files_of(store) == before

    # The operator restores the snapshot: every acknowledged customer is back.
    shutil.copy2(crashed[0], store)
    assert served(store) == crashed[1]


def test_check_reports_a_sound_store_and_changes_nothing(store: Path) -> None:
    before = files_of(store)
    checked = run_cli("check", "--db", str(store))
    assert checked.returncode == 0, checked.stdout
    lines = checked.stdout.splitlines()
    assert lines[0] == f"Checking {store}" and lines[-1] == "Sound."
    assert f"journal {last_segment(store).name}: {JOURNALED} record(s), checksums valid; " \
           "continues the snapshot" in checked.stdout
    # Both API versions' tables: v5's customers are none here (its seed is off too).
    assert (f"tables: customer {SNAPSHOTTED + JOURNALED}, customer_v5 0, hub 0, hub_v5 0, "
            "meta 0") in checked.stdout
    assert files_of(store) == before
    assert not (store.parent / f"{store.name}.lock").exists()  # not even the lock file


def test_check_reports_a_torn_last_record_without_cutting_it(store: Path) -> None:
    with last_segment(store).open("ab") as handle:
        handle.write(b'0badc0de {"t":"customer","k":99,"d":{"id')
    before = files_of(store)
    checked = run_cli("check", "--db", str(store))
    assert checked.returncode == 0, checked.stdout
    assert "a torn last record (" in checked.stdout and "never acknowledged" in checked.stdout
    assert files_of(store) == before


def test_check_reports_a_damaged_record_and_a_damaged_snapshot(store: Path) -> None:
    journal = last_segment(store)
    data = bytearray(journal.read_bytes())
    data[data.index(b"\n") + 20] ^= 0x01  # in the first record, behind the header
    journal.write_bytes(bytes(data))
    checked = run_cli("check", "--db", str(store))
    assert checked.returncode == 1
    assert f"DAMAGED  {journal}: record 2 (byte " in checked.stdout

    journal.unlink()
    store.write_bytes(store.read_bytes()[:-10])
    checked = run_cli("check", "--db", str(store))
    assert checked.returncode == 1
    assert f"DAMAGED  {store} is not valid JSON" in checked.stdout


def test_check_will_not_judge_a_store_in_use_nor_a_missing_one(store: Path) -> None:
    with SandboxProcess(db=store, extra_args=["--quiet", "--no-seed"]) as server:
        checked = run_cli("check", "--db", str(store))
        assert checked.returncode == 2
        assert f"in use by a sandbox process (pid {server.pid}" in checked.stdout
    missing = run_cli("check", "--db", str(store.with_name("nothing.json")))
    assert missing.returncode == 2 and "there is no store at" in missing.stdout


# -- the segment chain, in this process ------------------------------------------------


def test_a_missing_segment_between_others_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    for n in range(3):  # three crashes: three segments, none folded into a snapshot
        db = open_database(path)
        db.table("customer").insert({"id": str(n)})
        copy = tmp_path / f"copy{n}"
        shutil.copytree(tmp_path, copy, ignore=shutil.ignore_patterns("*.lock", "copy*"))
        db.close()
        for file in tmp_path.glob("db.json*"):
            file.unlink()
        for file in copy.iterdir():
            file.rename(tmp_path / file.name)
        copy.rmdir()
    assert [g for g, _ in segments(path)] == [1, 2, 3] and not path.exists()
    segment_path(path, 2).unlink()
    with pytest.raises(StoreCorruptError, match=r"journal segment\(s\) 2\.\.2 between "
                       r"db\.json\.journal\.1 and \.3 are missing"):
        open_database(path)
