"""Hosted sandbox processes on one PostgreSQL database, counted from PostgreSQL's side.

Each process holds one pool and one listening connection, whatever the number
of tenants it serves (``pg_stat_activity`` is the judge); processes started at
the same moment on a fresh database all come up (shared migrations, schemas
and seeding under advisory locks).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import requests

from ctk_runner.embedded import SandboxProcess
from tests.conftest import MINIMAL, wait_until
from tests.hosting_support import ACME_KEY, GLOBEX_KEY, Hosted, hosted_args
from tests.pg_support import scratch_database

POOL = 3
PROCESSES = 3
#: Each process: its pool plus its listener.
BOUND = PROCESSES * (POOL + 1)
#: A process's one-off probe connection at start-up, and sampling's own skew.
MARGIN = 2
#: The tenants file's two tenants, then the admin API's.
FIRST, LAST = 5, 40


def sandbox_sessions(url: str) -> int:
    """Connections the sandbox processes hold to ``url``'s database right now."""
    database = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND "
                           "application_name LIKE 'tmf629-sandbox%%'", (database,)).fetchone()
    return int(row[0]) if row else 0


@contextmanager
def hosted_cluster(directory: Path, url: str, count: int, *extra: str) -> Iterator[list[Hosted]]:
    """``count`` hosted processes on ``url``, started at the same moment."""
    processes = [SandboxProcess(db=url, extra_args=hosted_args(directory, *extra),
                                startup_timeout=120) for _ in range(count)]
    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            list(pool.map(SandboxProcess.start, processes))
        yield [Hosted.of(process) for process in processes]
    finally:
        for process in processes:
            process.stop()


def answers(hosted: Hosted, key: str) -> bool:
    """Whether ``hosted`` serves the tenant of ``key`` (a key it does not know yet makes
    it read the tenants other processes made, at most once a second)."""
    return hosted.as_tenant(key).get(f"{hosted.api}/customer?limit=1",
                                     timeout=30).status_code in (200, 206)


def test_connections_per_process_do_not_grow_with_the_tenants(tmp_path: Path) -> None:
    with scratch_database() as url, hosted_cluster(
            tmp_path, url, PROCESSES, "--pg-pool-size", str(POOL), "--max-tenants", "50"
    ) as cluster:
        keys: list[str] = []
        lock = threading.Lock()

        def create(n: int) -> None:
            hosted = cluster[n % PROCESSES]
            made = hosted.admin().post(f"{hosted.root}/admin/tenants",
                                       json={"name": f"tenant-{n:02d}"}, timeout=60)
            assert made.status_code == 201, made.text
            with lock:
                keys.append(made.json()["apiKeys"][0])

        def everyone_serves(count: int) -> None:
            # Every tenant of every process answers its own key: a store and a deliverer each.
            for hosted in cluster:
                for key in keys:
                    assert wait_until(lambda h=hosted, k=key: answers(h, k), timeout=60)
                listed = hosted.admin().get(f"{hosted.root}/admin/tenants", timeout=30)
                assert len(listed.json()) == count

        for n in range(FIRST - 2):
            create(n)
        everyone_serves(FIRST)
        at_first = sandbox_sessions(url)

        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(sandbox_sessions(url))
                done.wait(0.1)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with ThreadPoolExecutor(max_workers=PROCESSES) as pool:
                list(pool.map(create, range(FIRST - 2, LAST - 2)))
            everyone_serves(LAST)
        finally:
            done.set()
            sampler.join(30)
        at_last = sandbox_sessions(url)

    report = f"{at_first} at {FIRST} tenants, {at_last} at {LAST}, peak {max(samples)}"
    assert 0 < at_first <= BOUND + MARGIN, report
    assert at_last <= BOUND + MARGIN and max(samples) <= BOUND + MARGIN, report


@pytest.mark.parametrize("attempt", range(3))
def test_hosted_processes_started_together_on_a_fresh_database_all_come_up(
        tmp_path: Path, attempt: int) -> None:
    with scratch_database() as url, hosted_cluster(tmp_path, url, 4) as cluster:
        for hosted in cluster:
            acme = hosted.as_tenant(ACME_KEY).get(f"{hosted.api}/customer", timeout=30)
            assert acme.status_code == 200 and acme.headers["X-Total-Count"] == "25"
            globex = hosted.as_tenant(GLOBEX_KEY).get(f"{hosted.api}/customer", timeout=30)
            assert globex.status_code == 200 and globex.json() == []
        # One store each, shared: a customer made through one process is seen by all.
        made = requests.post(f"{cluster[0].api}/customer", timeout=30,
                             headers={"X-API-Key": GLOBEX_KEY},
                             json=MINIMAL)
        assert made.status_code == 201
        for hosted in cluster:
            assert hosted.as_tenant(GLOBEX_KEY).get(
                f"{hosted.api}/customer/{made.json()['id']}", timeout=30).status_code == 200
