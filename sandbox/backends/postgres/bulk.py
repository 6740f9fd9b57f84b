"""Loading a large store at once: COPY through the store's own layout, fact indexes built after.

A store's writes keep the ``fact`` table's B-trees up to date row by row,
which is right for a request and ruinous for a million customers: every
index insertion lands on a random page of an index far larger than
PostgreSQL's buffers. A bulk load (the benchmarks', an import) instead

- sets the ``fact`` indexes aside (:func:`fact_indexes_set_aside`): their
  definitions are read from the catalogue, so whatever the migrations made is
  what comes back, and each is built once, by a sort, when the load is done;
- copies the documents with their facts (:func:`copy_documents`, ``COPY``,
  from as many connections or processes as there are cores): the store's
  own triggers still write every fact row, the fact paths and the collection
  sizes, so the loaded store is exactly what the same inserts would make.

Requests must not use the store while its indexes are aside (searches would
read the whole fact table).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from psycopg import sql

from sandbox.backends.postgres.database import storable_json
from sandbox.backends.postgres.facts import facts_of
from sandbox.backends.postgres.migrations import PUBLIC, Connection, search_path
from sandbox.backends.postgres.server import PgServer
from sandbox.repository import Document

#: Memory for each index build's sort (PostgreSQL's default, 64 MB, spills a large one).
BUILD_MEMORY = "512MB"


def copy_documents(conn: Connection, collection: str, docs: Iterable[Document],
                   schema: str = PUBLIC) -> int:
    """``docs`` into ``collection`` of ``schema`` in one ``COPY`` (and one transaction);
    returns how many. Ids already stored make the whole batch fail."""
    count = 0
    with conn.transaction():
        conn.execute("SELECT set_config('search_path', %s, true)", (search_path(schema),))
        with conn.cursor().copy(
                "COPY document (collection, id, doc, facts) FROM STDIN") as copy:
            for doc in docs:
                copy.write_row((collection, doc["id"], storable_json(doc),
                                storable_json(facts_of(doc))))
                count += 1
    return count


@contextmanager
def fact_indexes_set_aside(server: PgServer, schema: str = PUBLIC,
                           memory: str = BUILD_MEMORY) -> Iterator[None]:
    """Drop the ``fact`` table's indexes for the time of the block, then build them again
    (each by one sort) and ``VACUUM ANALYZE`` the store, so counts are index-only and the
    planner knows the new sizes. Rebuilt even when the block fails."""
    with server.connection() as conn:
        conn.autocommit = True
        try:
            defined = conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes "
                "WHERE schemaname = %s AND tablename = 'fact' ORDER BY indexname",
                (schema,)).fetchall()
            for name, _ in defined:
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, name)))
        finally:
            conn.autocommit = False
    try:
        yield
    finally:
        with server.connection() as conn:
            conn.autocommit = True
            try:
                conn.execute("SELECT set_config('maintenance_work_mem', %s, false)", (memory,))
                for _, definition in defined:
                    conn.execute(definition.encode())
                conn.execute("SELECT set_config('search_path', %s, false)",
                             (search_path(schema),))
                conn.execute("VACUUM ANALYZE document")
                conn.execute("VACUUM ANALYZE fact")
                conn.execute("RESET maintenance_work_mem")
                conn.execute("RESET search_path")
            finally:
                conn.autocommit = False
