"""The file-backed store: persistence, seeding once, atomic replacement, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from sandbox import create_app
from sandbox.repository import MEMORY, Repository, open_database
from sandbox.storage import AtomicJSONStorage, StoreCorruptError
from tests.conftest import API, MINIMAL


def test_data_survives_an_app_restart(app: Flask, app_config: dict[str, Any]) -> None:
    client = app.test_client()
    created = client.post(f"{API}/customer", json=MINIMAL).get_json()
    client.patch(f"{API}/customer/{created['id']}", json={"status": "Approved"})
    client.delete(f"{API}/customer/{client.get(f'{API}/customer').get_json()[0]['id']}")
    app.extensions["sandbox.db"].close()

    again = create_app(app_config).test_client()
    stored = again.get(f"{API}/customer/{created['id']}").get_json()
    assert stored == {**created, "status": "Approved"}
    assert again.get(f"{API}/customer").headers["X-Total-Count"] == "25"


def test_seed_loads_once_even_after_everything_is_deleted(
    app: Flask, app_config: dict[str, Any]
) -> None:
    client = app.test_client()
    for customer in client.get(f"{API}/customer").get_json():
        assert client.delete(f"{API}/customer/{customer['id']}").status_code == 204
    app.extensions["sandbox.db"].close()
    again = create_app(app_config).test_client()
    assert again.get(f"{API}/customer").get_json() == []


def test_no_seed_starts_empty_and_a_later_seeded_start_fills_it(
    app_config: dict[str, Any],
) -> None:
    empty = create_app({**app_config, "seed_file": None})
    assert empty.test_client().get(f"{API}/customer").get_json() == []
    empty.extensions["sandbox.db"].close()
    seeded = create_app(app_config)
    assert len(seeded.test_client().get(f"{API}/customer").get_json()) == 25


def test_memory_store_writes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    client = create_app({"db_path": MEMORY}).test_client()
    assert client.post(f"{API}/customer", json=MINIMAL).status_code == 201
    assert list(tmp_path.iterdir()) == []


def test_store_file_is_valid_json_holding_the_customers(app: Flask, db_path: Path) -> None:
    created = app.test_client().post(f"{API}/customer", json=MINIMAL).get_json()
    data = json.loads(db_path.read_text(encoding="utf-8"))
    stored = list(data["customer"].values())
    assert len(stored) == 26
    assert any(doc["id"] == created["id"] and "href" not in doc for doc in stored)


def test_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    storage = AtomicJSONStorage(tmp_path / "db.json")
    for n in range(5):
        storage.write({"t": {str(n): {"n": n}}})
    assert [p.name for p in tmp_path.iterdir()] == ["db.json"]
    assert AtomicJSONStorage(tmp_path / "db.json").read() == {"t": {"4": {"n": 4}}}


def test_failed_replace_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "db.json"
    storage = AtomicJSONStorage(path)
    storage.write({"t": {"1": {"v": "old"}}})

    def crash(src: str, dst: str) -> None:
        raise OSError("disk vanished")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        storage.write({"t": {"1": {"v": "new"}}})
    assert json.loads(path.read_text()) == {"t": {"1": {"v": "old"}}}
    assert [p.name for p in tmp_path.iterdir()] == ["db.json"]
    # The cached document is dropped too: reads answer what is on disk.
    assert storage.read() == {"t": {"1": {"v": "old"}}}


def test_failed_update_leaves_store_and_reads_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    repo = Repository(open_database(tmp_path / "db.json"), "t", threading.RLock())
    repo.insert({"id": "1", "v": "old"})
    monkeypatch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError("full")))
    with pytest.raises(OSError):
        repo.update("1", lambda d: {**d, "v": "new"})
    assert repo.get("1") == {"id": "1", "v": "old"}


def test_existing_file_mode_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    path.write_text("{}")
    path.chmod(0o640)
    AtomicJSONStorage(path).write({"t": {}})
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("content", ["{broken", "[1, 2]"])
def test_corrupt_store_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "db.json"
    path.write_text(content)
    with pytest.raises(StoreCorruptError, match="db.json"):
        create_app({"db_path": str(path)})


WRITER = textwrap.dedent(
    """
    import sys, threading
    from sandbox.repository import Repository, open_database
    db = open_database(sys.argv[1])
    repo = Repository(db, "customer", threading.RLock())
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        repo.insert({"id": str(n), "payload": "x" * 5000})
    """
)


def test_killing_a_writer_at_any_instant_leaves_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    for delay in (0.05, 0.13, 0.21, 0.34):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = json.loads(path.read_text(encoding="utf-8"))
        ids = [int(doc["id"]) for doc in data["customer"].values()]
        # Each insert that reached the disk is whole, and none is missing before it.
        assert sorted(ids) == list(range(1, len(ids) + 1))
        assert all(doc["payload"] == "x" * 5000 for doc in data["customer"].values())
        path.unlink()


def test_repository_returns_copies(tmp_path: Path) -> None:
    import threading

    repo = Repository(open_database(tmp_path / "db.json"), "t", threading.RLock())
    repo.insert({"id": "1", "tags": ["a"]})
    doc = repo.get("1")
    assert doc is not None
    doc["tags"].append("b")
    assert repo.get("1") == {"id": "1", "tags": ["a"]}
    assert repo.update("1", lambda d: {**d, "tags": []}) == (
        {"id": "1", "tags": ["a"]},
        {"id": "1", "tags": []},
    )
    assert repo.update("missing", lambda d: d) is None
    repo.insert({"id": "2", "tags": ["x"]})
    found = repo.find(lambda d: "x" in d["tags"])
    assert found == [{"id": "2", "tags": ["x"]}]
    found[0]["tags"].append("y")
    assert repo.get("2") == {"id": "2", "tags": ["x"]}
    assert repo.delete("1") == {"id": "1", "tags": []}
    assert repo.delete("1") is None
