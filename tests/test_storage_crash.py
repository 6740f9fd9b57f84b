"""Crash safety: ``kill -9`` during concurrent writes, and compaction under load.

Every write a client saw acknowledged is in the store after the crash; a write
in flight is either wholly there or wholly absent; the store always loads.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import requests

from ctk_runner.embedded import SandboxProcess
from sandbox.backends.tinydb import open_database
from sandbox.backends.tinydb.journal import segments


def test_kill_9_of_a_server_during_concurrent_writes_loses_no_acknowledged_write(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.json"
    acked: dict[str, dict[str, Any]] = {}  # id -> the state the client was told about
    rnd = random.Random(629)
    for round_ in range(2):
        with SandboxProcess(db=path, extra_args=["--quiet", "--no-seed"]) as server:
            url = server.url + "customer"
            stop = threading.Event()
            lock = threading.Lock()

            def client(n: int, url: str = url, stop: threading.Event = stop,
                       lock: threading.Lock = lock, round_: int = round_) -> None:
                with requests.Session() as session:
                    for i in range(10_000):
                        name = f"r{round_}-c{n}-{i}"
                        body = {"name": name, "engagedParty": {
                            "id": str(n), "@referredType": "Organization"}}
                        try:
                            made = session.post(url, json=body, timeout=5)
                            if made.status_code != 201:
                                return
                            ident = made.json()["id"]
                            with lock:
                                acked[ident] = {"name": name, "status": None}
                            patched = session.patch(f"{url}/{ident}", json={
                                "name": name + "-p", "status": "Approved"}, timeout=5)
                            if patched.status_code != 200:
                                return
                            with lock:
                                acked[ident] = {"name": name + "-p", "status": "Approved"}
                        except requests.RequestException:
                            return
                        if stop.is_set():
                            return

            threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
            for thread in threads:
                thread.start()
            time.sleep(rnd.uniform(0.4, 1.2))
            os.kill(server.pid, signal.SIGKILL)
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            server.wait(timeout=10)
        db = open_database(path)
        try:
            stored = {doc["id"]: doc for doc in db.table("customer").all()}
        finally:
            db.close()
        with lock:
            assert acked, "the clients got no write acknowledged before the kill"
            for ident, state in acked.items():
                assert ident in stored, f"acknowledged create {ident} lost (round {round_})"
                doc = stored[ident]
                if state["status"] == "Approved":
                    assert (doc["name"], doc["status"]) == (state["name"], "Approved")
            for doc in stored.values():
                # A patch in flight is applied wholly or not at all.
                assert doc.get("status") in (None, "Approved")
                assert doc["name"].endswith("-p") == (doc.get("status") == "Approved")


WRITER = textwrap.dedent(
    """
    import sys, threading
    from sandbox.backends.tinydb import open_database
    db = open_database(sys.argv[1], compact_after=4096)
    repo = db.table("t")
    out = threading.Lock()
    print("ready", flush=True)

    def write(n):
        for i in range(100000):
            ident = f"{sys.argv[2]}.{n}-{i}"  # each round writes new customers
            repo.insert({"id": ident, "payload": "x" * 300, "v": 0})
            repo.update(ident, lambda d: {**d, "v": 1, "payload": "y" * 300})
            with out:
                print(ident, flush=True)

    for n in range(3):
        threading.Thread(target=write, args=(n,), daemon=True).start()
    threading.Event().wait()
    """
)


def test_kill_9_at_random_points_with_compactions_running(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    acked: set[str] = set()
    rnd = random.Random(8)
    for round_ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(round_)],
                                stdout=subprocess.PIPE, text=True,
                                cwd=Path(__file__).resolve().parent.parent)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(rnd.uniform(0.1, 0.6))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        acked.update(line for line in out.splitlines() if line)
        db = open_database(path)
        try:
            stored = {doc["id"]: doc for doc in db.table("t").all()}
        finally:
            db.close()
        assert acked <= set(stored)
        for ident in acked:
            assert stored[ident] == {"id": ident, "payload": "y" * 300, "v": 1}
        for doc in stored.values():
            assert (doc["v"], doc["payload"]) in ((0, "x" * 300), (1, "y" * 300))
    assert len(acked) > 50


def test_compaction_while_writing_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    db = open_database(path, compact_after=8192)
    repo = db.table("customer")
    errors: list[BaseException] = []
    compactions = []

    def writer(n: int) -> None:
        try:
            for i in range(150):
                ident = f"{n}-{i}"
                repo.insert({"id": ident, "status": "Pending", "blob": "z" * 200})
                repo.update(ident, lambda d: {**d, "status": "Approved"})
                if i % 3 == 0:
                    repo.delete(f"{n}-{i - 1}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    def watcher() -> None:
        while any(t.is_alive() for t in threads[:4]):
            compactions.append(len(segments(path)))
            time.sleep(0.005)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=watcher))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = {f"{n}-{i}" for n in range(4) for i in range(150)} - {
        f"{n}-{i - 1}" for n in range(4) for i in range(0, 150, 3)}
    db.wait_for_compaction()
    snapshot = json.loads(path.read_text())["customer"]
    assert len(snapshot) > 0, "no compaction ran"
    ids = [doc["id"] for doc in repo.all()]
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert repo.search([]).total == len(expected)
    db.close()
    again = open_database(path)
    try:
        docs = again.table("customer").all()
        assert sorted(d["id"] for d in docs) == sorted(expected)
        assert all(d["status"] == "Approved" for d in docs)
    finally:
        again.close()
