"""Counts kept while a collection does not change (sandbox.backends.postgres.counts): kept
across requests, never past a write of any process, never a write section's own.

Each test has a real PostgreSQL database of its own, dropped after it.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from sandbox.backends.postgres import PgDatabase
from sandbox.domain import query
from tests.pg_support import pg_store

APPROVED = query.parse_filters([("status", "Approved")])


def customers(count: int) -> list[dict[str, Any]]:
    return [{"id": f"c{n}", "name": f"N{n}", "status": "Approved" if n % 2 else "Closed"}
            for n in range(count)]


def approved(db: PgDatabase) -> int:
    return db.table("customer").search(APPROVED, limit=1).total


def test_a_count_is_kept_until_the_collection_changes(pg_url: str) -> None:
    with pg_store(pg_url) as db:
        db.table("customer").insert_many(customers(10))
        assert approved(db) == 5
        # Behind the store's back (no write statement on the collection): the kept count.
        with psycopg.connect(pg_url) as conn:
            conn.execute("DELETE FROM fact WHERE s = 'Approved'")
        assert approved(db) == 5
        db.table("customer").insert({"id": "x", "status": "Approved"})
        assert approved(db) == 1  # counted again: the row it wrote, no other


def test_writes_of_another_process_are_counted_at_once(pg_url: str) -> None:
    with pg_store(pg_url) as one, pg_store(pg_url) as other:
        one.table("customer").insert_many(customers(10))
        assert approved(one) == 5 and approved(other) == 5
        other.table("customer").insert({"id": "new", "status": "Approved"})
        assert approved(one) == 6
        other.table("customer").update("c1", lambda doc: {**doc, "status": "Closed"})
        assert approved(one) == 5
        other.table("customer").delete("c3")
        assert approved(one) == 4
        assert other.table("hub").search([], limit=1).total == 0  # a collection of its own


def test_a_write_section_counts_its_own_writes_and_keeps_none(pg_url: str) -> None:
    with pg_store(pg_url) as db:
        repo = db.table("customer")
        repo.insert_many(customers(10))
        assert approved(db) == 5
        with pytest.raises(RuntimeError), repo.lock:
            repo.insert({"id": "mine", "status": "Approved"})
            assert approved(db) == 6
            raise RuntimeError("rolled back")
        assert approved(db) == 5
        # Another transaction's committed write makes the same number of changes as the
        # rolled-back one did: its count is its own.
        with pg_store(pg_url) as other:
            other.table("customer").update("c0", lambda doc: {**doc, "status": "Approved"})
        assert approved(db) == 6
