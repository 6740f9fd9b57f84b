"""``PgServer``: what one process holds of a PostgreSQL database, whatever it serves.

One connection pool serves every store (schema) of the process: a transaction
names its store with ``set_config('search_path', ..., true)``, so a hosted
process with a hundred tenants holds no more connections than one with a
single store. One more connection listens for notifications
(:mod:`sandbox.backends.postgres.listener`). So a process holds at most
``pool_size + 1`` connections (``--pg-pool-size``), and three processes at the
default fit in PostgreSQL's default ``max_connections`` of 100.

Starting applies the shared migrations (the ``public`` tables every store and
process shares) under an advisory lock, so processes starting together apply
each one once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool, PoolTimeout

from sandbox.backends.postgres.listener import Callback, Listener
from sandbox.backends.postgres.migrations import (
    SHARED_MIGRATIONS,
    Connection,
    Migration,
    migrate_shared,
)
from sandbox.errors import ApiError

APPLICATION_NAME = "tmf629-sandbox"


class DatabaseUnavailable(OSError):
    """The PostgreSQL server cannot be reached or refused the connection."""


def is_postgres_url(text: str) -> bool:
    return text.startswith(("postgresql://", "postgres://"))


def safe_url(url: str) -> str:
    """``url`` without a password, for messages."""
    scheme, _, rest = url.partition("://")
    if "@" in rest:
        user, _, host = rest.rpartition("@")
        rest = f"{user.split(':')[0]}@{host}"
    return f"{scheme}://{rest}"


def notify(conn: Connection, channel: str, payload: str = "") -> None:
    """``NOTIFY channel`` inside the caller's transaction: sent when (and if) it commits."""
    conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))


def _loads(data: str | bytes) -> Any:
    """orjson, which reads a page of a thousand customers several times faster. Every
    stored body passed ``domain/json_body``, so its numbers are within the number model
    (integers of 64 bits, finite doubles), which orjson reads exactly; what it refuses
    anyway goes to ``json``."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


#: Sent with each pooled connection's start-up (no round trip). No JIT: every query here is
#: a few milliseconds of index work, and one whose estimated cost crosses jit_above_cost (a
#: sort over a broad range can, depending on the sampled statistics) spent 20 to 50 ms
#: compiling before running.
SESSION_OPTIONS = "-c jit=off"


def _configure(conn: Connection) -> None:
    set_json_loads(_loads, conn)


class PgServer:
    """The pool, the listener and the shared migrations of one process on ``url``."""

    def __init__(self, url: str, *, pool_size: int = 10, timeout: float = 10.0,
                 migrations: Sequence[Migration] = SHARED_MIGRATIONS) -> None:
        self.url = url
        self.pool_size = pool_size
        try:  # one direct attempt first: a clear error at once instead of pool retries
            with psycopg.connect(url, connect_timeout=max(1, int(timeout)),
                                 application_name=APPLICATION_NAME, autocommit=True):
                pass
        except psycopg.Error as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {safe_url(url)}: "
                                      f"{str(exc).strip()}") from None
        self.pool: ConnectionPool[Connection] = ConnectionPool(
            url, min_size=1, max_size=pool_size, timeout=timeout, open=False,
            name="tmf629-sandbox", kwargs={"application_name": APPLICATION_NAME,
                                           "options": SESSION_OPTIONS},
            configure=_configure)
        try:
            self.pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            self.pool.close()
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {safe_url(url)}: "
                                      f"{exc}") from None
        try:
            with self.pool.connection() as conn:
                migrate_shared(conn, migrations)
        except psycopg.Error as exc:  # e.g. a user without CREATE rights on public
            self.pool.close()
            raise DatabaseUnavailable(f"cannot prepare the schema in {safe_url(url)}: "
                                      f"{str(exc).strip()}") from None
        self._listener = Listener(url)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection; its transaction commits at the end, or rolls back on error.

        Every connection busy for the pool's whole timeout is a 503 with ``Retry-After``
        (the pool is shared by every tenant: a client waits, it is not failed with a 500).
        """
        try:
            with self.pool.connection() as conn:
                yield conn
        except PoolTimeout:
            raise ApiError(503, "Every database connection of this server is busy; retry "
                           "shortly", reason="Busy", headers={"Retry-After": "1"}) from None

    def listen(self, channel: str, callback: Callback) -> None:
        """Call ``callback`` with each NOTIFY's payload on ``channel`` (on the listening
        thread: it must be quick), and with None once listening starts and after every
        reconnect (notifications may have been missed)."""
        self._listener.listen(channel, callback)

    def unlisten(self, channel: str, callback: Callback) -> None:
        self._listener.unlisten(channel, callback)

    def close(self) -> None:
        self._listener.close()
        self.pool.close()
