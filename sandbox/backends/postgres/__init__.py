"""The PostgreSQL backend: selected by a ``postgresql://`` store URL (``--db``).

Only this package imports psycopg. A process holds one
:class:`~sandbox.backends.postgres.server.PgServer` (one pool, one listening
connection) for every store it serves; :func:`open_store` creates a store's
schema and tables if missing and seeds it once; :func:`install_events` builds
the notification parts on the database (subscriptions, outbox, deliverers)
instead of in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from psycopg import sql

from sandbox.backends.postgres.database import PgDatabase, PgRepository
from sandbox.backends.postgres.migrations import MIGRATIONS, PUBLIC, SHARED_MIGRATIONS, migrate
from sandbox.backends.postgres.naming import store_schema
from sandbox.backends.postgres.outbox import install_events
from sandbox.backends.postgres.server import (
    DatabaseUnavailable,
    PgServer,
    is_postgres_url,
    notify,
)
from sandbox.seed import Seed, seed_more, seed_once


def open_store(server: PgServer, seed_file: str | Path | None, *,
               schema: str = PUBLIC, more_seeds: Sequence[Seed] = ()) -> PgDatabase:
    """The store in ``schema`` (made if missing), seeded if it never was.

    Seeding holds an advisory lock in the transaction that inserts the
    customers and the marker, so processes starting together seed once. The
    open sandbox's store is ``public``; each hosted tenant's is a schema of its
    own (:func:`~sandbox.backends.postgres.naming.store_schema`).
    """
    db = PgDatabase(server, schema)
    with db.exclusively():
        seed_once(db.table("customer"), db.table("meta"), seed_file)
        seed_more(db, more_seeds)
    return db


def drop_schema(server: PgServer, schema: str) -> None:
    """Drop a deleted hosted tenant's schema with everything in it."""
    if schema == PUBLIC:
        raise ValueError("the public schema holds the open store and the shared tables")
    with server.connection() as conn, conn.transaction():
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


__all__ = ["MIGRATIONS", "SHARED_MIGRATIONS", "DatabaseUnavailable", "PgDatabase",
           "PgRepository", "PgServer", "drop_schema", "install_events",
           "is_postgres_url", "migrate", "notify", "open_store", "store_schema"]
