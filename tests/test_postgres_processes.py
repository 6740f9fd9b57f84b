"""Three real sandbox processes on one PostgreSQL database, as behind a load balancer.

They start together (and seed once), pass the kit in the strict profile
through each of them at the same time, lose no acknowledged write under mixed
concurrent load where every client thread talks to a different process, and
deliver every event across a ``kill -9`` of the delivering process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from ctk_runner.embedded import SandboxProcess
from ctk_runner.notifications.listener import EventListener, Received
from tests.conftest import MINIMAL, wait_until
from tests.pg_support import scratch_database

REPO = Path(__file__).resolve().parents[1]
MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}


def start_all(url: str, count: int, *extra: str) -> list[SandboxProcess]:
    """``count`` sandbox processes on ``url``, started at the same time."""
    processes = [SandboxProcess(db=url, extra_args=["--quiet", *extra]) for _ in range(count)]
    with ThreadPoolExecutor(max_workers=count) as pool:
        list(pool.map(SandboxProcess.start, processes))
    return processes


@pytest.fixture
def cluster() -> Iterator[list[str]]:
    with scratch_database() as url:
        processes = start_all(url, 3)
        try:
            yield [process.url for process in processes]
        finally:
            for process in processes:
                process.stop()


def session() -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    return http


def test_three_processes_on_one_database(cluster: list[str], tmp_path: Path) -> None:
    # One test, one cluster: starting three processes is the expensive part.
    totals = {requests.get(root + "customer?limit=1").headers["X-Total-Count"]
              for root in cluster}
    assert totals == {"25"}  # started together, seeded once
    kit_passes_in_the_strict_profile_through_each_process(cluster, tmp_path)
    events_and_the_listener_sink_are_shared(cluster)
    mixed_load_through_three_processes_loses_no_acknowledged_write(cluster)


def kit_passes_in_the_strict_profile_through_each_process(
        cluster: list[str], tmp_path: Path) -> None:
    # One after the other: the hub is shared, so concurrent runs would hear each other's events.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for n, root in enumerate(cluster):
        run = subprocess.run(
            [sys.executable, "-m", "ctk_runner", "--target-url", root.rstrip("/"), "--profile",
             "strict", "--cleanup", "--report-dir", str(tmp_path / f"r{n}")],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "Verdict (certified build, strict profile): PASSED" in run.stdout


def events_and_the_listener_sink_are_shared(cluster: list[str]) -> None:
    """Subscribe through one process, change through another, list what arrived on a third."""
    first, second, third = cluster
    http = session()
    admin = third.split("/tmf-api/")[0] + "/admin/received-events"
    assert http.delete(admin).status_code == 204
    # The callback is the second process's own listener endpoints (any process may deliver).
    hub = http.post(first + "hub", json={"callback": second.rstrip("/"),
                                         "query": "eventType=CustomerCreateEvent"})
    assert hub.status_code == 201
    names = [f"Shared event {n}" for n in range(4)]
    for n, name in enumerate(names):
        assert http.post(cluster[n % 3] + "customer",
                         json={**MINIMAL, "name": name}).status_code == 201

    def arrived() -> list[str]:
        records = http.get(admin).json()
        return [r["event"]["event"]["customer"]["name"] for r in records if r["accepted"]]

    assert wait_until(lambda: len(arrived()) >= len(names), timeout=20), arrived()
    assert arrived() == names  # each once, in the order of the changes
    assert http.delete(second + "hub/" + hub.json()["id"]).status_code == 204
    assert http.get(first + "hub/" + hub.json()["id"]).status_code == 404


def mixed_load_through_three_processes_loses_no_acknowledged_write(
        cluster: list[str]) -> None:
    shared = requests.post(cluster[0] + "customer", json={
        **MINIMAL, "name": "Shared", "characteristic": []}).json()
    lock = threading.Lock()
    expected: dict[str, dict[str, Any] | None] = {}  # id -> last acknowledged state (None: gone)
    appended: list[str] = []

    def work(worker: int) -> None:
        root, http = cluster[worker % 3], session()
        for n in range(6):
            created = http.post(root + "customer", json={**MINIMAL, "name": f"W{worker}-{n}"})
            assert created.status_code == 201
            ident = created.json()["id"]
            with lock:
                expected[ident] = {"name": f"W{worker}-{n}"}
            # The next request goes to another process: it must see the write.
            other = cluster[(worker + n + 1) % 3]
            patched = http.patch(other + f"customer/{ident}", headers=MERGE,
                                 json={"status": "Approved", "statusReason": f"{worker}/{n}"})
            assert patched.status_code == 200
            with lock:
                expected[ident] = {"name": f"W{worker}-{n}", "status": "Approved",
                                   "statusReason": f"{worker}/{n}"}
            # Everyone appends to one customer through every process: no update may be lost.
            value = f"w{worker}n{n}"
            added = http.patch(root + f"customer/{shared['id']}", headers=JSON_PATCH, json=[
                {"op": "add", "path": "/characteristic/-",
                 "value": {"name": "writer", "value": value}}])
            assert added.status_code == 200
            with lock:
                appended.append(value)
            if n % 3 == 2:
                assert http.delete(other + f"customer/{ident}").status_code == 204
                with lock:
                    expected[ident] = None
            listed = http.get(root + "customer", params={"name": f"W{worker}-{n}"}).json()
            assert len(listed) == (0 if n % 3 == 2 else 1)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(work, range(16)))

    assert len(expected) == 16 * 6
    for root in cluster:
        http = session()
        for ident, state in expected.items():
            response = http.get(root + f"customer/{ident}")
            if state is None:
                assert response.status_code == 404
            else:
                assert response.status_code == 200
                body = response.json()
                assert {key: body.get(key) for key in state} == state
        values = [c["value"] for c in
                  http.get(root + f"customer/{shared['id']}").json()["characteristic"]]
        assert sorted(values) == sorted(appended) and len(values) == 16 * 6
        listed = http.get(root + "customer", params={"name.regex": "^W[0-9]+-[0-9]+$"})
        assert listed.headers["X-Total-Count"] == str(sum(1 for s in expected.values() if s))


def test_kill_9_of_the_delivering_process_loses_no_event() -> None:
    first_attempt = threading.Event()
    release = threading.Event()

    def responder(item: Received) -> int:
        if not first_attempt.is_set():
            first_attempt.set()
            release.wait(30)  # the delivering process dies while this attempt is in flight
        return 201

    with scratch_database() as url, EventListener(responder=responder) as listener:
        # The dead process's lease on the interrupted event runs out after the longest an
        # attempt may take: 3 s to connect, 2 to answer (outbox.lease_seconds).
        args = ["--delivery-backoff", "0.2", "--no-seed", "--delivery-timeout", "2"]
        (victim,) = start_all(url, 1, *args)
        try:
            http = session()
            assert http.post(victim.url + "hub", json={"callback": listener.url}).status_code \
                == 201
            names = [f"Outbox {n}" for n in range(5)]
            for name in names:
                assert http.post(victim.url + "customer",
                                 json={**MINIMAL, "name": name}).status_code == 201
            assert first_attempt.wait(20), "the first event was never attempted"
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
        finally:
            victim.stop()
        release.set()
        # Another process (a restarted one, or any other) delivers what was left.
        (heir,) = start_all(url, 1, *args)
        try:
            arrived = listener.wait_count(len(names) + 1, timeout=60)
        finally:
            heir.stop()

    by_event: dict[str, list[Received]] = {}
    for item in arrived:
        by_event.setdefault(item.body["eventId"], []).append(item)
    created = [items[0].body["event"]["customer"]["name"] for items in by_event.values()]
    # Every event, at least once, the same eventId each time, in the order of the changes.
    assert created == names
    interrupted = arrived[0].body["eventId"]
    assert len(by_event[interrupted]) == 2
    assert all(len(items) == 1 for key, items in by_event.items() if key != interrupted)


def test_the_subscription_cap_holds_for_all_processes_together() -> None:
    # --max-subscriptions is counted in the database: three processes, 30 clients at once,
    # exactly 10 subscriptions.
    with scratch_database() as url:
        processes = [SandboxProcess(db=url, extra_args=[
            "--quiet", "--no-seed", "--max-subscriptions", "10"]) for _ in range(3)]
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(SandboxProcess.start, processes))
        try:
            roots = [process.url for process in processes]
            with ThreadPoolExecutor(max_workers=15) as pool:
                answers = list(pool.map(lambda n: session().post(
                    roots[n % 3] + "hub", json={"callback": f"http://127.0.0.1:9/{n}"}),
                    range(30)))
            statuses = sorted(answer.status_code for answer in answers)
            assert statuses == [201] * 10 + [403] * 20
            refused = [a.json() for a in answers if a.status_code == 403]
            assert all(e["@type"] == "Error" and e["reason"] == "Too many subscriptions"
                       for e in refused)
            with psycopg.connect(url) as conn:
                row = conn.execute("SELECT count(*) FROM document "
                                   "WHERE collection = 'hub'").fetchone()
            assert row is not None and row[0] == 10
            # One removed anywhere frees a place for everyone.
            gone = next(a.json()["id"] for a in answers if a.status_code == 201)
            assert session().delete(roots[2] + f"hub/{gone}").status_code == 204
            assert session().post(roots[0] + "hub", json={
                "callback": "http://127.0.0.1:9/again"}).status_code == 201
        finally:
            for process in processes:
                process.stop()
