"""``tmf629-sandbox migrate --db postgresql://...``: bring a database's schemas up to date.

Operators run it once before rolling out a new version (every process also
migrates at start, under the same advisory locks, so it is never required):
the shared migrations of ``public``, then the store migrations of the open
sandbox's store (``public``) and of every hosted tenant's store.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

import psycopg

from sandbox.backends.postgres.migrations import (
    MIGRATIONS,
    PUBLIC,
    SHARED_MIGRATIONS,
    Connection,
    Migration,
    applied,
    migrate,
    migrate_shared,
)
from sandbox.backends.postgres.naming import DIGEST
from sandbox.backends.postgres.server import is_postgres_url

#: Hosted tenants' store schemas (naming.store_schema); other schemas are never touched.
TENANT_STORE = re.compile(rf"t_[a-z0-9_]*_[0-9a-f]{{{DIGEST}}}")


def tenant_stores(conn: Connection) -> list[str]:
    """The hosted tenants' store schemas of the database (those with migrations)."""
    rows = conn.execute("SELECT table_schema FROM information_schema.tables "
                        "WHERE table_name = 'schema_migration' ORDER BY 1").fetchall()
    return [str(row[0]) for row in rows if TENANT_STORE.fullmatch(str(row[0]))]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="tmf629-sandbox migrate",
        description="Apply the PostgreSQL migrations a database lacks (shared, then every "
        "store's), then exit.")
    parser.add_argument("--db", required=True, metavar="URL",
                        help="the database, e.g. postgresql://sandbox@db.example:5432/tmf629")
    parser.add_argument("--list", action="store_true",
                        help="only print the migrations and whether each is applied")
    args = parser.parse_args(argv)
    if not is_postgres_url(args.db):
        parser.error("--db must be a postgresql:// URL (TinyDB stores need no migration)")
    try:
        with psycopg.connect(args.db, connect_timeout=10) as conn:
            stores = [PUBLIC, *tenant_stores(conn)]
            if args.list:
                _list("shared", SHARED_MIGRATIONS,
                      [set(applied(conn, "shared_migration", PUBLIC))])
                _list("store", MIGRATIONS,
                      [set(applied(conn, "schema_migration", store)) for store in stores])
                return 0
            shared = migrate_shared(conn)
            done = [(store, migrate(conn, store)) for store in stores]
    except psycopg.Error as exc:
        print(f"tmf629-sandbox migrate: {str(exc).strip()}", file=sys.stderr)
        return 2
    if shared:
        print(f"Applied shared migration(s) {', '.join(map(str, shared))}.")
    for store, versions in done:
        if versions:
            print(f"Applied migration(s) {', '.join(map(str, versions))} to store {store}.")
    if not shared and not any(versions for _, versions in done):
        print(f"Nothing to do: {len(stores)} store(s) at version {MIGRATIONS[-1][0]}.")
    return 0


def _list(kind: str, migrations: Sequence[Migration], stores: list[set[int]]) -> None:
    print(f"{kind} migrations ({len(stores)} {'store(s)' if kind == 'store' else 'schema'}):")
    for version, description, _ in migrations:
        missing = sum(version not in have for have in stores)
        state = f"pending in {missing}" if missing else "applied"
        print(f"{version:4d}  {state:12s} {description}")
    if not migrations:
        print("      (none yet)")
