"""One list query on a collection: the exact count and the page, through the fact indexes.

:mod:`sandbox.backends.postgres.sql_query` translates the filters and sort
keys; this module decides how PostgreSQL reads them, so that no count and no
page walks the whole collection when an index can answer:

- the count starts from one filter's index range (an equality before an
  ordering operator; one that meets one row per document, so the rows are
  counted as they are, index-only), and tests the others per document;
- a page sorted by an attribute walks ``fact_low`` (ascending: each
  document's smallest value) or ``fact_high`` backwards and stops at the
  window's end; the documents without a value there follow in storage order
  (a second query, only when the window reaches them); where a document holds
  an object or array (one index probe), every key is a lateral join instead;
- any other page walks the documents in storage order (or from a selective
  filter's index range, as PostgreSQL's planner finds cheaper).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from sandbox.backends.postgres.counts import CountCache
from sandbox.backends.postgres.facts import JSON, path_key
from sandbox.backends.postgres.migrations import Connection
from sandbox.backends.postgres.sql_query import ID, FactTest, Translation, sort_path, translate
from sandbox.domain.query import Filter
from sandbox.domain.sorting import SortKey
from sandbox.repository import Document, SearchResult


def _run(conn: Connection, query: str | sql.Composed,
         params: Sequence[Any]) -> psycopg.Cursor[tuple[Any, ...]]:
    """Never a prepared statement: PostgreSQL's generic plan of one (after five runs) knows
    no values, so it cannot tell a filter matching one customer from one matching 40 % of
    them, and may read all 40 % to sort them (a tenfold slower page)."""
    return conn.execute(query, params, prepare=False)


def path_ids(conn: Connection, collection: str, keys: set[str]) -> dict[str, int]:
    """The ids of those of ``keys`` any document of ``collection`` ever held."""
    if not keys:
        return {}
    rows = _run(conn, "SELECT key, id FROM fact_path WHERE collection = %s AND key = ANY(%s)",
                        (collection, sorted(keys))).fetchall()
    return {str(key): int(ident) for key, ident in rows}


def holds_json(conn: Connection, path: int | None) -> bool:
    """Whether some document holds a JSON value other than null (an object, an array)
    at the path ``path``: then the fact rows alone do not order by it."""
    if path is None:
        return False
    row = _run(conn, "SELECT EXISTS (SELECT 1 FROM fact WHERE path = %s AND o = %s "
                       "AND n IS NULL AND s <> md5('null'))", (path, JSON)).fetchone()
    return bool(row and row[0])


def _driver(tests: list[FactTest]) -> FactTest:
    """The filter a count starts from: one row per document, an equality first."""
    return min(tests, key=lambda t: (not t.unique, t.flag is not None))


def size(conn: Connection, collection: str) -> int:
    """How many documents ``collection`` holds: the slots the triggers keep, summed."""
    counted = _run(conn, "SELECT coalesce(sum(n), 0) FROM document_count "
                           "WHERE collection = %s", (collection,)).fetchone()
    return int(counted[0]) if counted else 0


def count(conn: Connection, collection: str, plan: Translation) -> int:
    if not plan.facts and not plan.where:
        return size(conn, collection)
    if not plan.facts:
        condition, params = plan.condition()
        counted = _run(conn, sql.SQL(
            "SELECT count(*) FROM document d WHERE d.collection = %s AND {}").format(condition),
            [collection, *params]).fetchone()
        return int(counted[0]) if counted else 0
    driver = _driver(plan.facts)
    others = [t for t in plan.facts if t is not driver]
    parts, params = [driver.on("c")], list(driver.params)
    for test in others:
        parts.append(sql.SQL("EXISTS (SELECT 1 FROM fact f WHERE f.seq = c.seq AND {})")
                     .format(test.on("f")))
        params.extend(test.params)
    if plan.where:
        parts.append(sql.SQL("EXISTS (SELECT 1 FROM document d WHERE d.seq = c.seq "
                             "AND d.collection = %s AND {})").format(
            sql.SQL(" AND ").join(plan.where)))
        params.extend([collection, *plan.where_params])
    where = sql.SQL(" AND ").join(parts)
    query = (sql.SQL("SELECT count(*) FROM fact c WHERE {}") if driver.unique else
             sql.SQL("SELECT count(*) FROM (SELECT DISTINCT c.seq FROM fact c WHERE {}) u"))
    counted = _run(conn, query.format(where), params).fetchone()
    return int(counted[0]) if counted else 0


#: No further condition; nothing.
_ANY, _NONE = sql.SQL("TRUE"), sql.SQL("")


def _docs(conn: Connection, query: sql.Composed, params: Sequence[Any]) -> list[Document]:
    return [row[0] for row in _run(conn, query, params).fetchall()]


def _in_order(conn: Connection, collection: str, plan: Translation, offset: int,
              limit: int | None, extra: sql.Composable = _ANY,
              extra_params: Sequence[Any] = ()) -> list[Document]:
    """Matching documents by the lateral sort keys, then storage order."""
    condition, params = plan.condition()
    return _docs(conn, sql.SQL(
        "SELECT d.doc FROM document d {joins} WHERE d.collection = %s AND {cond} AND {extra} "
        "ORDER BY {order} OFFSET %s LIMIT %s").format(
        joins=sql.SQL(" ").join(plan.joins), cond=condition, extra=extra,
        order=sql.SQL(", ").join(plan.order)),
        [*plan.join_params, collection, *params, *extra_params, offset, limit])


def _sorted(conn: Connection, collection: str, plan: Translation, offset: int,
            limit: int | None) -> list[Document]:
    """The window of a list sorted first by an indexed attribute: those holding it in the
    index's order, then those without it."""
    assert plan.sort_index is not None
    path, descending = plan.sort_index
    if path is None:  # nobody holds it: the order is the other keys'
        return _in_order(conn, collection, plan, offset, limit)
    way = sql.SQL("DESC" if descending else "ASC")
    flags = sql.SQL("k.rank_hi AND k.hi" if descending else "k.rank_lo AND k.lo")
    # The index's own order unless a text there is longer than its cut: then two texts
    # with one cut compare by their wholes (read only for the ties of a page).
    long = _run(conn, "SELECT EXISTS (SELECT 1 FROM fact WHERE path = %s "
                        "AND rest IS NOT NULL)", (path,)).fetchone()
    whole = sql.SQL("coalesce(k.rest, k.s) {}, ").format(way) if long and long[0] else _NONE
    condition, params = plan.condition()
    present = _docs(conn, sql.SQL(
        "SELECT d.doc FROM fact k JOIN document d ON d.seq = k.seq {joins} "
        "WHERE k.path = %s AND {flags} AND d.collection = %s AND {cond} "
        "ORDER BY k.o {way}, k.n {way}, k.s {way}, k.b {way}, {whole}"
        "{order} OFFSET %s LIMIT %s").format(
        joins=sql.SQL(" ").join(plan.joins), flags=flags, cond=condition, way=way,
        whole=whole, order=sql.SQL(", ").join(plan.order)),
        [*plan.join_params, path, collection, *params, offset, limit])
    if limit is not None and len(present) >= limit:
        return present
    if present or not offset:
        before = offset + len(present)
    else:  # the window starts past them: how many are there?
        counted = _run(conn, sql.SQL(
            "SELECT count(*) FROM fact k WHERE k.path = %s AND k.rank_lo AND k.lo "
            "AND EXISTS (SELECT 1 FROM document d WHERE d.seq = k.seq AND "
            "d.collection = %s AND {})").format(condition),
            [path, collection, *params]).fetchone()
        before = int(counted[0]) if counted else 0
    missing = _in_order(
        conn, collection, plan, max(0, offset - before),
        None if limit is None else limit - len(present),
        sql.SQL("NOT EXISTS (SELECT 1 FROM fact k WHERE k.seq = d.seq AND k.path = %s "
                "AND k.lo)"), [path])
    return present + missing


def search(conn: Connection, collection: str, filters: Sequence[Filter],
           sort: Sequence[SortKey], offset: int, limit: int | None,
           href_prefix: str | None, counts: CountCache | None = None) -> SearchResult:
    """The whole list query on ``conn`` (one snapshot); see the module docstring. With
    ``counts`` (a read-only snapshot's), a filter's count is kept until the collection
    changes (:mod:`sandbox.backends.postgres.counts`)."""
    first = sort_path(sort, href_prefix)
    keys = {path_key(f.path) for f in filters} | {ID} | ({first} if first else set())
    paths = path_ids(conn, collection, keys)
    indexed = first is not None and not holds_json(conn, paths.get(first))
    plan = translate(filters, sort, href_prefix, paths, sort_indexed=indexed)
    if counts is not None and (plan.facts or plan.where):
        # The filters (and what href means) alone decide the count.
        total = counts.count(conn, collection, repr((tuple(filters), href_prefix)),
                             lambda: count(conn, collection, plan))
    else:
        total = count(conn, collection, plan)
    if total <= offset or limit == 0:
        return SearchResult([], total)
    if plan.sort_index is not None:
        return SearchResult(_sorted(conn, collection, plan, offset, limit), total)
    return SearchResult(_in_order(conn, collection, plan, offset, limit), total)
