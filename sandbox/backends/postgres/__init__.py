"""The PostgreSQL backend: selected by a ``postgresql://`` store URL (``--db``).

Only this package imports psycopg. :func:`open_store` connects, migrates and
seeds once per database; :func:`install_events` builds the notification parts
on the database (subscriptions, outbox, deliverers) instead of in memory.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from sandbox.backends.postgres.database import (
    DatabaseUnavailable,
    PgDatabase,
    PgRepository,
    is_postgres_url,
)
from sandbox.backends.postgres.migrations import MIGRATIONS, migrate
from sandbox.backends.postgres.outbox import install_events
from sandbox.seed import seed_once


def open_store(url: str, seed_file: str | Path | None, *,
               max_connections: int = 12, schema: str | None = None) -> PgDatabase:
    """Connect to ``url``, apply missing migrations and seed a never-seeded database.

    Seeding holds an advisory lock in the transaction that inserts the
    customers and the marker, so processes starting together seed once. A
    ``schema`` (one per hosted tenant) keeps this store apart from the others
    in the same database.
    """
    db = PgDatabase(url, schema=schema, max_connections=max_connections)
    try:
        with db.exclusively():
            seed_once(db.table("customer"), db.table("meta"), seed_file)
    except BaseException:
        db.close()
        raise
    return db


def drop_schema(url: str, schema: str) -> None:
    """Drop a deleted hosted tenant's schema with everything in it (its pool closed first)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


__all__ = ["MIGRATIONS", "DatabaseUnavailable", "PgDatabase", "PgRepository",
           "drop_schema", "install_events", "is_postgres_url", "migrate", "open_store"]
