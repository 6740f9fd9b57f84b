"""The file store: snapshot + journal, restarts, old stores, torn records, failures, owner lock."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import tinydb
from flask import Flask

from ctk_runner.embedded import SandboxProcess
from sandbox import create_app
from sandbox.backends.tinydb import (
    JournalFailedError,
    StoreCorruptError,
    StoreLockedError,
    open_database,
)
from sandbox.backends.tinydb import journal as journal_module
from sandbox.backends.tinydb import snapshot as snapshot_module
from sandbox.backends.tinydb.journal import segments
from sandbox.backends.tinydb.snapshot import write_snapshot
from sandbox.domain import query
from sandbox.repository import MEMORY
from tests.conftest import API, MINIMAL


def test_data_survives_an_app_restart(app: Flask, app_config: dict[str, Any]) -> None:
    client = app.test_client()
    created = client.post(f"{API}/customer", json=MINIMAL).get_json()
    client.patch(f"{API}/customer/{created['id']}", json={"status": "Approved"})
    client.delete(f"{API}/customer/{client.get(f'{API}/customer').get_json()[0]['id']}")
    app.extensions["sandbox.db"].close()

    again = create_app(app_config)
    stored = again.test_client().get(f"{API}/customer/{created['id']}").get_json()
    assert stored == {**created, "status": "Approved"}
    assert again.test_client().get(f"{API}/customer").headers["X-Total-Count"] == "25"
    again.extensions["sandbox.db"].close()


def test_seed_loads_once_even_after_everything_is_deleted(
    app: Flask, app_config: dict[str, Any]
) -> None:
    client = app.test_client()
    for customer in client.get(f"{API}/customer").get_json():
        assert client.delete(f"{API}/customer/{customer['id']}").status_code == 204
    app.extensions["sandbox.db"].close()
    again = create_app(app_config)
    assert again.test_client().get(f"{API}/customer").get_json() == []
    again.extensions["sandbox.db"].close()


def test_no_seed_starts_empty_and_a_later_seeded_start_fills_it(
    app_config: dict[str, Any],
) -> None:
    empty = create_app({**app_config, "seed_file": None})
    assert empty.test_client().get(f"{API}/customer").get_json() == []
    empty.extensions["sandbox.db"].close()
    seeded = create_app(app_config)
    assert len(seeded.test_client().get(f"{API}/customer").get_json()) == 25
    seeded.extensions["sandbox.db"].close()


def test_memory_store_writes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = create_app({"db_path": MEMORY})
    assert app.test_client().post(f"{API}/customer", json=MINIMAL).status_code == 201
    app.extensions["sandbox.db"].close()
    assert list(tmp_path.iterdir()) == []


def test_writes_go_to_the_journal_and_close_folds_them_into_a_tinydb_snapshot(
    app: Flask, db_path: Path
) -> None:
    created = app.test_client().post(f"{API}/customer", json=MINIMAL).get_json()
    (generation, segment), = segments(db_path)
    record = json.loads(segment.read_bytes().splitlines()[-1].split(b" ", 1)[1])
    assert record["t"] == "customer" and record["d"]["id"] == created["id"]
    app.extensions["sandbox.db"].close()
    assert segments(db_path) == []
    with tinydb.TinyDB(db_path) as db:  # the snapshot is a plain TinyDB document
        stored = db.table("customer").all()
    assert len(stored) == 26
    assert any(doc["id"] == created["id"] and "href" not in doc for doc in stored)
    assert sorted(p.name for p in db_path.parent.iterdir()) == [db_path.name,
                                                                db_path.name + ".lock"]


def test_an_old_single_file_tinydb_store_opens_unchanged(db_path: Path) -> None:
    with tinydb.TinyDB(db_path) as db:  # as the sandbox of before the journal wrote it
        db.table("customer").insert_multiple([{**MINIMAL, "id": f"old-{n}"} for n in range(3)])
        db.table("meta").insert({"id": "seeded", "count": 3})
    app = create_app({"db_path": str(db_path)})
    listed = app.test_client().get(f"{API}/customer").get_json()
    assert [c["id"] for c in listed] == ["old-0", "old-1", "old-2"]
    app.test_client().delete(f"{API}/customer/old-1")
    app.extensions["sandbox.db"].close()
    with tinydb.TinyDB(db_path) as db:
        assert [d["id"] for d in db.table("customer").all()] == ["old-0", "old-2"]


@pytest.mark.parametrize("indent", [None, 4])
def test_any_layout_of_a_tinydb_document_loads(tmp_path: Path, indent: int | None) -> None:
    path = tmp_path / "db.json"
    tables = {"empty": {}, "t": {"3": {"id": "a", "n": [1, {"x": "ü"}]}, "7": {"id": "b"}}}
    path.write_text(json.dumps(tables, indent=indent, ensure_ascii=False), encoding="utf-8")
    db = open_database(path)
    assert db.table("t").all() == [{"id": "a", "n": [1, {"x": "ü"}]}, {"id": "b"}]
    db.table("t").insert({"id": "c"})  # doc_id 8: after the highest stored
    db.close()
    assert json.loads(path.read_text("utf-8")) == {
        **tables, "t": {**tables["t"], "8": {"id": "c"}}}


def test_a_written_snapshot_loads_back_one_document_per_line(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    docs = [(n, {"id": f"i{n}", "text": "line\nbreak, ü \"quoted\": {x}"}) for n in (1, 5, 9)]
    write_snapshot(path, [("customer", [(n, json.dumps(d).encode()) for n, d in docs]),
                          ("meta", []), ("odd \"name\"", [(2, b'{"id":"m"}')])])
    assert len(path.read_bytes().splitlines()) == 8
    with tinydb.TinyDB(path) as db:
        assert db.table("customer").all() == [d for _, d in docs]
    loaded: dict[str, list[tuple[int, Any, bytes]]] = {}
    snapshot_module.load_snapshot(path, lambda name: lambda *row: loaded.setdefault(
        name, []).append(row))
    assert [(n, d) for n, d, _ in loaded["customer"]] == docs
    # Kept byte for byte as written: the one-document-per-line fast path read it.
    assert [packed for _, _, packed in loaded["customer"]] == [json.dumps(d).encode()
                                                                for _, d in docs]
    assert [row[:2] for row in loaded['odd "name"']] == [(2, {"id": "m"})]


def test_snapshot_write_keeps_the_file_mode_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.json"
    path.write_text("{}")
    path.chmod(0o640)
    write_snapshot(path, [("t", [(1, b'{"n":1}'), (2, '{"n":"ü"}'.encode())]), ("u", [])])
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["db.json"]
    assert json.loads(path.read_text("utf-8")) == {"t": {"1": {"n": 1}, "2": {"n": "ü"}},
                                                   "u": {}}


@pytest.mark.parametrize("content", [
    "{broken", "[1, 2]", '{"customer": {"x": {}}}', '{"t": {"1": {}},}', '{"t": {"1": 5}}',
    '{"t": {"1": {}}} extra', '{"t": {"1": {"a": 1}', '{"t": [] }', '{1: {}}',
    '{"t": {\n"1": {}\n"2": {}\n}}', '{"t": {\n"1": {},\n"2": {},\n}}', '{"t": {\n"1": [],\n}}',
    '{"t": {\n"1": {"a": tru}\n}}',
])
def test_corrupt_store_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "db.json"
    path.write_text(content)
    with pytest.raises(StoreCorruptError, match="db.json"):
        create_app({"db_path": str(path)})
    open_database(path.with_name("other.json")).close()  # the failed open released its lock
    path.write_text("{}")
    open_database(path).close()


# -- failures leave everything as it was (issue 9) --------------------------------------


def test_a_failed_journal_write_leaves_memory_and_disk_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store" / "db.json"
    db = open_database(path)
    repo = db.table("customer")
    repo.insert({"id": "1", "v": "old"})
    real_write = os.write

    def half_then_fail(fd: int, data: Any) -> int:
        real_write(fd, bytes(data)[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_module.os, "write", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        repo.update("1", lambda d: {**d, "v": "new"})
    with pytest.raises(OSError, match="No space"):
        repo.insert({"id": "2"})
    with pytest.raises(OSError, match="No space"):
        repo.delete("1")
    assert repo.all() == [{"id": "1", "v": "old"}]
    assert repo.search([]).total == 1
    monkeypatch.setattr(journal_module.os, "write", real_write)
    repo.update("1", lambda d: {**d, "v": "later"})  # the journal took no half record
    shutil.copytree(path.parent, tmp_path / "crashed")  # the disk as a crash leaves it
    db.close()
    for directory in (path.parent, tmp_path / "crashed"):
        again = open_database(directory / "db.json")
        assert again.table("customer").all() == [{"id": "1", "v": "later"}]
        again.close()


def test_a_failed_compaction_keeps_the_journal_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store" / "db.json"
    db = open_database(path, compact_after=1)
    repo = db.table("customer")
    repo.insert({"id": "a"})
    db.wait_for_compaction()
    monkeypatch.setattr(snapshot_module.os, "replace",
                        lambda src, dst: (_ for _ in ()).throw(OSError("disk vanished")))
    repo.insert({"id": "b"})
    db.wait_for_compaction()
    repo.insert({"id": "c"})
    db.wait_for_compaction()
    assert json.loads(path.read_text())["customer"] == {"1": {"id": "a"}}
    assert not list(path.parent.glob(".*.tmp"))
    shutil.copytree(path.parent, tmp_path / "crashed")
    monkeypatch.undo()
    db.close()
    for directory in (path.parent, tmp_path / "crashed"):
        again = open_database(directory / "db.json")
        assert [d["id"] for d in again.table("customer").all()] == ["a", "b", "c"]
        again.close()


# -- replay ------------------------------------------------------------------------------


def crashed_copy(tmp_path: Path, writes: int) -> Path:
    """A store directory as a crash would leave it: snapshot + journal, never closed."""
    db = open_database(tmp_path / "live" / "db.json")
    repo = db.table("customer")
    for n in range(writes):
        repo.insert({"id": str(n), "payload": "x" * 100})
    repo.update("0", lambda d: {**d, "payload": "patched"})
    target = tmp_path / "crashed"
    shutil.copytree(tmp_path / "live", target, ignore=shutil.ignore_patterns("*.lock"))
    db.close()
    return target / "db.json"


@pytest.mark.parametrize("tail", [b"1a2b", b"deadbeef {\"t\":\"customer\",\"k\":9,\"d\":{\"id",
                                  b"00000000 {\"t\":\"customer\",\"k\":9}\n"])
def test_a_torn_last_record_is_dropped(tmp_path: Path, tail: bytes) -> None:
    path = crashed_copy(tmp_path, writes=3)
    (_, segment), = segments(path)
    with segment.open("ab") as handle:
        handle.write(tail)
    db = open_database(path)
    repo = db.table("customer")
    assert [(d["id"], d["payload"]) for d in repo.all()] == [
        ("0", "patched"), ("1", "x" * 100), ("2", "x" * 100)]
    repo.insert({"id": "after"})  # appended behind the cut, not behind the torn bytes
    db.close()
    again = open_database(path)
    assert [d["id"] for d in again.table("customer").all()] == ["0", "1", "2", "after"]
    again.close()


def test_a_damaged_record_before_the_last_is_reported(tmp_path: Path) -> None:
    path = crashed_copy(tmp_path, writes=3)
    (_, segment), = segments(path)
    data = bytearray(segment.read_bytes())
    data[20] ^= 0x01
    segment.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError, match=r"journal\.1: record 1"):
        open_database(path)


def test_leftover_temporary_files_are_removed_at_start(db_path: Path) -> None:
    db_path.parent.mkdir(exist_ok=True)
    leftover = db_path.parent / f".{db_path.name}.k3j_x9.tmp"
    leftover.write_text('{"half": ')
    unrelated = db_path.parent / ".other.json.k3j_x9.tmp"
    unrelated.write_text("{}")
    open_database(db_path).close()
    assert not leftover.exists() and unrelated.exists()


# -- one owner per store ----------------------------------------------------------------


def test_a_second_open_in_this_process_is_refused(db_path: Path) -> None:
    db = open_database(db_path)
    with pytest.raises(StoreLockedError) as refused:
        open_database(db_path)
    assert str(db_path) in str(refused.value) and f"pid {os.getpid()}" in str(refused.value)
    db.close()
    open_database(db_path).close()  # released by close()


def test_a_second_sandbox_process_on_one_store_exits_naming_the_file_and_pid(
    sandbox_process: SandboxProcess, db_path: Path
) -> None:
    second = subprocess.run(["tmf629-sandbox", "--port", "0", "--db", str(db_path)],
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 2
    assert str(db_path) in second.stderr
    assert f"pid {sandbox_process.pid}" in second.stderr


def test_a_patch_whose_journal_write_fails_is_a_500_and_changes_nothing(
    app: Flask, created: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app.test_client()

    def disk_full(fd: int, data: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_module.os, "write", disk_full)
    response = client.patch(f"{API}/customer/{created['id']}", json={"status": "Approved"})
    assert response.status_code == 500 and response.get_json()["@type"] == "Error"
    monkeypatch.undo()
    assert client.get(f"{API}/customer/{created['id']}").get_json() == created
    assert client.get(f"{API}/customer", query_string={"status": "Approved",
                                                      "id": created["id"]}).get_json() == []


def test_after_a_failed_fsync_writes_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = open_database(tmp_path / "db.json")
    repo = db.table("t")
    repo.insert({"id": "1"})

    def failing_sync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(journal_module, "_sync", failing_sync)
    with pytest.raises(JournalFailedError, match="Input/output error"):
        repo.insert({"id": "2"})
    monkeypatch.undo()
    with pytest.raises(JournalFailedError, match="restart the sandbox"):
        repo.insert({"id": "3"})
    assert repo.get("1") == {"id": "1"} and repo.get("3") is None
    db.close()


def test_readers_do_not_wait_for_a_write_whose_fsync_is_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = open_database(tmp_path / "db.json")
    repo = db.table("customer")
    repo.insert({"id": "old", "status": "Approved"})
    in_fsync, release = threading.Event(), threading.Event()
    real_sync = journal_module._sync

    def slow_disk(fd: int) -> None:
        in_fsync.set()
        release.wait(30)
        real_sync(fd)

    monkeypatch.setattr(journal_module, "_sync", slow_disk)
    writer = threading.Thread(target=repo.insert, args=({"id": "new", "status": "Approved"},))
    writer.start()
    try:
        assert in_fsync.wait(10)
        # The write is in memory and its fsync is stuck: reads still answer at once.
        assert repo.get("old") == {"id": "old", "status": "Approved"}
        assert repo.get("new") == {"id": "new", "status": "Approved"}
        assert repo.search(query.parse_filters([("status", "Approved")])).total == 2
        assert writer.is_alive()  # its client has not been answered yet
    finally:
        release.set()
        writer.join()
    db.close()


def test_observers_in_a_write_section_run_in_storage_order(tmp_path: Path) -> None:
    db = open_database(tmp_path / "db.json")
    repo = db.table("counter")
    repo.insert({"id": "c", "v": 0})
    heard: list[int] = []

    def bump() -> None:
        for _ in range(25):
            with repo.lock:
                outcome = repo.update("c", lambda d: {**d, "v": d["v"] + 1})
                assert outcome is not None
                heard.append(outcome[1]["v"])  # what an observer would be told

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert heard == list(range(1, 101))
    db.close()
    again = open_database(tmp_path / "db.json")
    assert again.table("counter").get("c") == {"id": "c", "v": 100}
    again.close()
