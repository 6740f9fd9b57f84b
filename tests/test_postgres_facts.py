"""The fact rows PostgreSQL keeps beside each document: after updates, after a migration,
after a bulk load, always the rows the store's own ``fact_rows`` makes of the facts.

Each test has a real PostgreSQL database of its own, dropped after it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from sandbox.backends.postgres import MIGRATIONS, PgDatabase, migrate
from sandbox.backends.postgres.bulk import copy_documents, fact_indexes_set_aside
from sandbox.backends.postgres.facts import facts_of
from sandbox.backends.postgres.migrations import migrate_shared
from sandbox.domain import query, sorting
from tests.pg_support import pg_store

FactRows = Counter[tuple[Any, ...]]


def customer(n: int, scores: list[int], **more: Any) -> dict[str, Any]:
    return {"id": f"c{n}", "name": f"Name {n}", "status": "Approved",
            "creditProfile": [{"creditScore": s, "validFor": {
                "startDateTime": f"2024-0{1 + s % 9}-01T00:00:00Z"}} for s in scores],
            **more}


def kept_rows(url: str) -> dict[str, FactRows]:
    """Each document's fact rows as stored, by id (path names, not numbers)."""
    return _rows(url, "SELECT d.id, p.key, f.o, f.n, f.s, f.rest, f.b, f.rank_lo, f.rank_hi, "
                      "f.lo, f.hi FROM fact f JOIN document d ON d.seq = f.seq "
                      "JOIN fact_path p ON p.id = f.path")


def fresh_rows(url: str) -> dict[str, FactRows]:
    """What ``fact_rows`` makes of each document's facts now."""
    return _rows(url, "SELECT d.id, p.key, x.o, x.n, x.s, x.rest, x.b, x.rank_lo, x.rank_hi, "
                      "x.lo, x.hi FROM document d, fact_rows(d.collection, d.seq, d.facts) x "
                      "JOIN fact_path p ON p.id = x.path")


def _rows(url: str, statement: str) -> dict[str, FactRows]:
    found: dict[str, FactRows] = {}
    with psycopg.connect(url) as conn:
        for ident, *row in conn.execute(statement):
            found.setdefault(ident, Counter())[tuple(row)] += 1
    return found


def changes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Updates that keep, move, add and remove facts (and a document's smallest value)."""
    return [
        {**doc, "status": "Validated"},
        {**doc, "creditProfile": [{"creditScore": 100}, *doc["creditProfile"]]},
        {k: v for k, v in doc.items() if k != "creditProfile"},
        {**doc, "nickname": "new path", "creditProfile": []},
        {**doc, "name": "x" * 300},  # longer than the indexed cut
    ]


def test_an_update_leaves_exactly_the_rows_a_fresh_write_makes(pg_url: str) -> None:
    with pg_store(pg_url) as db:
        repo = db.table("customer")
        docs = [customer(n, [600 + n, 700 - n]) for n in range(5)]
        repo.insert_many(docs)
        for doc, changed in zip(docs, changes(docs[0]), strict=True):
            repo.update(doc["id"], lambda _old, new=changed: {**new, "id": _old["id"]})
        repo.update("c0", lambda old: {**old, "status": "Closed"})
        assert kept_rows(pg_url) == fresh_rows(pg_url)
        # And the searches the rows serve still answer as the documents say.
        assert repo.search(query.parse_filters([("status", "Validated")])).total == 0
        closed = repo.search(query.parse_filters([("status", "Closed")]))
        assert [d["id"] for d in closed.items] == ["c0"]
        low = repo.search(query.parse_filters([("creditProfile.creditScore.lt", "200")]))
        assert [d["id"] for d in low.items] == ["c1"]


def test_an_update_rewrites_only_the_rows_that_changed(pg_url: str) -> None:
    with pg_store(pg_url) as db:
        repo = db.table("customer")
        repo.insert(customer(1, [600, 650]))
        # Once read back, objects come in PostgreSQL's member order: the first update may
        # rewrite the digests of nested objects' JSON texts; the next ones, only changes.
        repo.update("c1", lambda old: {**old, "status": "Suspended"})
        before = row_places(pg_url)
        repo.update("c1", lambda old: {**old, "status": "Closed"})
        after = row_places(pg_url)
    gone, added = set(before) - set(after), set(after) - set(before)
    assert [before[place] for place in gone] == [("status", "Suspended")]
    assert [after[place] for place in added] == [("status", "Closed")]


def row_places(url: str) -> dict[str, tuple[str, str]]:
    """Where each fact row lies (a rewritten row lies elsewhere), with its path and text."""
    with psycopg.connect(url) as conn:
        return {str(ctid): (key, s) for ctid, key, s in conn.execute(
            "SELECT f.ctid, p.key, f.s FROM fact f JOIN fact_path p ON p.id = f.path")}


def test_a_store_of_migration_4_upgrades_and_its_updates_stay_exact(pg_url: str) -> None:
    docs = [customer(n, [600 + n]) for n in range(4)]
    with psycopg.connect(pg_url) as conn:
        migrate_shared(conn)  # the delivery queue migration 3 moves events into
        assert migrate(conn, migrations=MIGRATIONS[:4]) == [1, 2, 3, 4]
        with conn.transaction():
            for doc in docs:
                conn.execute("INSERT INTO document (collection, id, doc, facts) VALUES "
                             "('customer', %s, %s, %s)",
                             (doc["id"], Jsonb(doc), Jsonb(facts_of(doc))))
    with pg_store(pg_url) as db:  # opening applies what the store lacks
        repo = db.table("customer")
        repo.update("c2", lambda old: {**old, "status": "Suspended",
                                       "creditProfile": [{"creditScore": 1}]})
        assert kept_rows(pg_url) == fresh_rows(pg_url)
        found = repo.search(query.parse_filters([("creditProfile.creditScore.gte", "601")]),
                            sort=sorting.parse_sort(["-name"]))
        assert ([d["id"] for d in found.items], found.total) == (["c3", "c1"], 2)
    with psycopg.connect(pg_url) as conn:
        versions = [row[0] for row in conn.execute(
            "SELECT version FROM schema_migration ORDER BY version")]
    assert versions == [version for version, _, _ in MIGRATIONS] and 5 in versions


def test_a_bulk_load_makes_the_store_the_same_inserts_make(pg_url: str) -> None:
    docs = [customer(n, [500 + 7 * n % 300, 650], nickname=f"n{n % 3}") for n in range(60)]
    with pg_store(pg_url, schema="inserted") as inserted:
        inserted.table("customer").insert_many(docs)
        with pg_store(pg_url, schema="loaded") as loaded:
            indexes_before = index_definitions(pg_url, "loaded")
            with fact_indexes_set_aside(loaded.server, "loaded"):
                assert index_definitions(pg_url, "loaded") == []
                with psycopg.connect(pg_url) as conn:
                    assert copy_documents(conn, "customer", docs[:25], "loaded") == 25
                    assert copy_documents(conn, "customer", docs[25:], "loaded") == 35
            assert index_definitions(pg_url, "loaded") == indexes_before
            assert answers(loaded) == answers(inserted)
    for schema in ("inserted", "loaded"):
        assert kept_rows(f"{pg_url}?options=-csearch_path%3D{schema}") == fresh_rows(
            f"{pg_url}?options=-csearch_path%3D{schema}")


def index_definitions(url: str, schema: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [row[0].replace(schema, "<schema>") for row in conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'fact' "
            "ORDER BY indexname", (schema,))]


def answers(db: PgDatabase) -> list[tuple[list[str], int]]:
    repo = db.table("customer")
    asked = [([("nickname", "n1")], ["-creditProfile.creditScore"]),
             ([("creditProfile.creditScore.gt", "700")], ["name"]),
             ([], ["creditProfile.validFor.startDateTime"]),
             ([("status", "Approved")], [])]
    found = []
    for filters, sort in asked:
        page = repo.search(query.parse_filters(filters), sort=sorting.parse_sort(sort),
                           limit=20)
        found.append(([d["id"] for d in page.items], page.total))
    found.append(([], repo.count()))
    return found
