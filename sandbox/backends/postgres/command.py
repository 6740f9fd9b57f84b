"""``tmf629-sandbox migrate --db postgresql://...``: bring a database's schema up to date.

Operators run it once before rolling out a new version (every process also
migrates at start, under the same advisory lock, so it is never required).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import psycopg

from sandbox.backends.postgres.database import is_postgres_url
from sandbox.backends.postgres.migrations import MIGRATIONS, applied, migrate


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="tmf629-sandbox migrate",
        description="Apply the PostgreSQL schema migrations a database lacks, then exit.")
    parser.add_argument("--db", required=True, metavar="URL",
                        help="the database, e.g. postgresql://sandbox@db.example:5432/tmf629")
    parser.add_argument("--list", action="store_true",
                        help="only print the migrations and whether each is applied")
    args = parser.parse_args(argv)
    if not is_postgres_url(args.db):
        parser.error("--db must be a postgresql:// URL (TinyDB stores need no migration)")
    try:
        with psycopg.connect(args.db, connect_timeout=10) as conn:
            if args.list:
                have = set(applied(conn))
                for version, description, _ in MIGRATIONS:
                    state = "applied" if version in have else "pending"
                    print(f"{version:4d}  {state:8s} {description}")
                return 0
            done = migrate(conn)
    except psycopg.Error as exc:
        print(f"tmf629-sandbox migrate: {str(exc).strip()}", file=sys.stderr)
        return 2
    latest = MIGRATIONS[-1][0]
    if done:
        print(f"Applied migration(s) {', '.join(map(str, done))}; schema at version {latest}.")
    else:
        print(f"Nothing to do: schema already at version {latest}.")
    return 0
