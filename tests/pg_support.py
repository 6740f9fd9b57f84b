"""A throwaway PostgreSQL database per test (or per module), dropped afterwards.

The server is the one of ``TMF629_POSTGRES_URL`` (default: the local
PostgreSQL on 127.0.0.1:5432 as ``postgres``). Without it the tests skip,
saying why, unless ``TMF629_REQUIRE_POSTGRES=1`` (CI) turns that into a failure.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from sandbox.backends.postgres import PgDatabase, PgServer

ADMIN_URL = os.environ.get("TMF629_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@functools.lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it can."""
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL is not reachable at {ADMIN_URL} ({str(exc).strip()[:200]})"
    return None


def require_postgres() -> None:
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("TMF629_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"TMF629_REQUIRE_POSTGRES=1 but {reason}")
    pytest.skip(f"{reason}; start it or set TMF629_POSTGRES_URL")


def url_of(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A new, empty database; yields its URL and drops it (and its sessions) at the end."""
    require_postgres()
    name = f"tmf629_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url_of(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def database_exists(name: str) -> bool:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                           (name,)).fetchone()
    return bool(row and row[0])


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a database of this test's own."""
    with scratch_database() as url:
        yield url


@pytest.fixture
def pg_server(pg_url: str) -> Iterator[PgServer]:
    """A :class:`PgServer` (a process's pool and listener) on this test's own database."""
    running = PgServer(pg_url, pool_size=3)
    yield running
    running.close()


@contextlib.contextmanager
def pg_store(url: str, schema: str = "public", pool_size: int = 4) -> Iterator[PgDatabase]:
    """A store on ``url`` with a :class:`PgServer` of its own, closed at the end."""
    server = PgServer(url, pool_size=pool_size)
    try:
        yield PgDatabase(server, schema)
    finally:
        server.close()


# -- one database per test process, a schema per store -----------------------------------
# Creating a database takes a second; a schema, milliseconds. Tests that make many stores
# (the repository contract, property tests) get a schema each in one shared database,
# which the session drops at its end (tests/conftest.py).

_shared: list[str] = []
_servers: list[PgServer] = []
_shared_lock = threading.Lock()


def shared_database() -> str:
    require_postgres()
    with _shared_lock:
        if not _shared:
            name = f"tmf629_test_{uuid.uuid4().hex[:16]}"
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            _shared.append(name)
        return url_of(_shared[0])


def shared_server() -> PgServer:
    """The test process's one :class:`PgServer` on the shared database (as a sandbox
    process has one for all its stores)."""
    url = shared_database()
    with _shared_lock:
        if not _servers:
            _servers.append(PgServer(url, pool_size=4))
        return _servers[0]


def schema_store(directory: Path) -> PgDatabase:
    """A store of its own for ``directory``: the same schema when reopened."""
    schema = "s_" + hashlib.sha1(str(directory).encode()).hexdigest()[:20]
    return PgDatabase(shared_server(), schema)


def drop_shared_database() -> None:
    with _shared_lock:
        while _servers:
            _servers.pop().close()
        while _shared:
            name = _shared.pop()
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))
