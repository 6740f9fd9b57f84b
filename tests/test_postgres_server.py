"""``PgServer``: one pool and one listening connection per process, the shared migrations.

Real PostgreSQL, a database per test; connections are counted in
``pg_stat_activity``, notifications travel through the real server.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from sandbox.backends.postgres.migrations import migrate_shared
from sandbox.backends.postgres.server import DatabaseUnavailable, PgServer, notify
from sandbox.errors import ApiError
from tests.conftest import wait_until

LISTENER = "tmf629-sandbox listener"
TEST_MIGRATIONS = [
    (1, "a table", "CREATE TABLE public.shared_test (n integer);"
                   "INSERT INTO public.shared_test VALUES (1)"),
    (2, "a row", "INSERT INTO public.shared_test VALUES (2)"),
]


class Heard:
    """What one callback was called with, in order."""

    def __init__(self) -> None:
        self.calls: list[str | None] = []
        self._lock = threading.Lock()

    def __call__(self, payload: str | None) -> None:
        with self._lock:
            self.calls.append(payload)

    def payloads(self) -> list[str | None]:
        with self._lock:
            return [call for call in self.calls if call is not None]

    def resyncs(self) -> int:
        with self._lock:
            return self.calls.count(None)


def sessions(url: str, application_name: str = "tmf629-sandbox%") -> int:
    """The sandbox's connections to ``url``'s database (those of one application name)."""
    database = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                           "AND application_name LIKE %s", (database, application_name)
                           ).fetchone()
    return int(row[0]) if row else 0


def send(server: PgServer, channel: str, payload: str, *, commit: bool = True) -> None:
    with server.connection() as conn:
        with conn.transaction(force_rollback=not commit):
            notify(conn, channel, payload)


def test_shared_migrations_apply_once_from_many_connections_at_once(pg_url: str) -> None:
    def apply(_: int) -> list[int]:
        with psycopg.connect(pg_url) as conn:
            return migrate_shared(conn, TEST_MIGRATIONS) + migrate_shared(conn, TEST_MIGRATIONS)

    with ThreadPoolExecutor(max_workers=6) as pool:
        done = list(pool.map(apply, range(6)))
    # Exactly one caller applied both; everybody else (and every second call) found them.
    assert sorted(done) == [[], [], [], [], [], [1, 2]]
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT n FROM public.shared_test ORDER BY n").fetchall()
        versions = conn.execute("SELECT version FROM public.shared_migration "
                                "ORDER BY version").fetchall()
    assert rows == [(1,), (2,)] and versions == [(1,), (2,)]


def test_servers_starting_together_apply_the_shared_migrations_once(pg_url: str) -> None:
    def start(_: int) -> PgServer:
        return PgServer(pg_url, pool_size=1, migrations=TEST_MIGRATIONS)

    with ThreadPoolExecutor(max_workers=4) as pool:
        servers = list(pool.map(start, range(4)))
    for running in servers:
        running.close()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT n FROM public.shared_test ORDER BY n").fetchall() == [
            (1,), (2,)]


def test_notifications_reach_every_callback_of_their_channel(pg_server: PgServer) -> None:
    first, second, other = Heard(), Heard(), Heard()
    pg_server.listen("tmf629_a", first)
    pg_server.listen("tmf629_a", second)
    pg_server.listen("tmf629_b", other)
    # Each callback hears None once its channel is listened on: from then on nothing is lost.
    assert wait_until(lambda: all(h.resyncs() for h in (first, second, other)))
    send(pg_server, "tmf629_a", "one")
    send(pg_server, "tmf629_a", "rolled back", commit=False)
    send(pg_server, "tmf629_a", "two")
    send(pg_server, "tmf629_b", "three")
    assert wait_until(lambda: len(first.payloads()) == 2 and len(other.payloads()) == 1)
    assert wait_until(lambda: len(second.payloads()) == 2)
    assert first.payloads() == second.payloads() == ["one", "two"]
    assert other.payloads() == ["three"]


def test_a_channel_added_later_is_listened_on_by_the_same_connection(pg_server: PgServer) -> None:
    early, late = Heard(), Heard()
    pg_server.listen("tmf629_early", early)
    assert wait_until(lambda: early.resyncs() == 1)
    pg_server.listen("tmf629_late", late)
    assert wait_until(lambda: late.resyncs() == 1)
    send(pg_server, "tmf629_late", "hello")
    assert wait_until(lambda: late.payloads() == ["hello"])
    assert early.payloads() == [] and early.resyncs() == 1
    assert sessions(pg_server.url, LISTENER) == 1


def test_a_failing_callback_does_not_deafen_the_others(pg_server: PgServer) -> None:
    def broken(payload: str | None) -> None:
        raise RuntimeError("a bug in one callback")

    heard = Heard()
    pg_server.listen("tmf629_c", broken)
    pg_server.listen("tmf629_c", heard)
    assert wait_until(lambda: heard.resyncs() == 1)
    send(pg_server, "tmf629_c", "x")
    send(pg_server, "tmf629_c", "y")
    assert wait_until(lambda: heard.payloads() == ["x", "y"])


def test_a_lost_listening_connection_is_made_again_and_everyone_resyncs(
        pg_server: PgServer) -> None:
    heard, gone = Heard(), Heard()
    pg_server.listen("tmf629_d", heard)
    pg_server.listen("tmf629_d", gone)
    assert wait_until(lambda: heard.resyncs() == 1)
    pg_server.unlisten("tmf629_d", gone)
    database = pg_server.url.rsplit("/", 1)[1]
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        killed = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE datname = %s AND application_name = %s",
                              (database, LISTENER)).fetchone()
    assert killed == (1,)
    assert wait_until(lambda: heard.resyncs() == 2, timeout=30)
    send(pg_server, "tmf629_d", "after")
    assert wait_until(lambda: heard.payloads() == ["after"])
    assert gone.payloads() == [] and gone.resyncs() == 1


def test_a_process_holds_pool_size_plus_one_connections_at_most(pg_url: str) -> None:
    running = PgServer(pg_url, pool_size=3)
    running.listen("tmf629_e", Heard())
    peak: list[int] = []
    gate = threading.Barrier(12)

    def work(_: int) -> None:
        gate.wait(30)
        with running.connection() as conn:
            conn.execute("SELECT pg_sleep(0.05)")
            peak.append(sessions(pg_url))

    try:
        with ThreadPoolExecutor(max_workers=12) as pool:
            list(pool.map(work, range(12)))
        # 3 pooled + 1 listener (the test's own counting connections are not the sandbox's).
        assert wait_until(lambda: sessions(pg_url, LISTENER) == 1)
        assert max(peak) <= 4
        assert sessions(pg_url) <= 4
    finally:
        running.close()
    assert wait_until(lambda: sessions(pg_url) == 0)


def test_an_unreachable_server_is_a_sentence() -> None:
    with pytest.raises(DatabaseUnavailable, match="cannot connect to PostgreSQL at "
                       "postgresql://nobody@127.0.0.1:1/none"):
        PgServer("postgresql://nobody:secret@127.0.0.1:1/none", timeout=2)


def test_a_pool_busy_for_its_whole_timeout_is_a_503_not_a_500(pg_url: str) -> None:
    running = PgServer(pg_url, pool_size=1, timeout=0.5)
    try:
        with running.connection():
            with pytest.raises(ApiError) as busy, running.connection():
                pass
        assert busy.value.status == 503 and busy.value.headers == {"Retry-After": "1"}
        with running.connection() as conn:  # free again
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        running.close()


def test_pooled_connections_run_without_jit(pg_server: PgServer) -> None:
    # A query whose estimated cost crosses jit_above_cost would compile for tens of ms.
    with pg_server.pool.connection() as conn:
        row = conn.execute("SHOW jit").fetchone()
    assert row is not None and row[0] == "off"
