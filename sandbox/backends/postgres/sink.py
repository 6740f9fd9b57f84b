"""The listener sink's records in PostgreSQL: what any process received, every process lists.

Behind a load balancer, ``POST /listener/...`` and ``GET /admin/received-events``
may reach different processes, so the records live in the ``received``
collection of the store's ``document`` table. Checking an event, shaping its
record and the bound are :mod:`sandbox.events.sink`'s (the newest
:data:`~sandbox.events.sink.MAX_RECORDS` within ``--sink-max-bytes``, the
newest always kept: :func:`~sandbox.events.sink.excess`); here a record's size
is PostgreSQL's text of it.
"""

from __future__ import annotations

from sandbox.backends.postgres.database import PgDatabase
from sandbox.events.sink import MAX_RECORDS, excess
from sandbox.repository import Document

COLLECTION = "received"


class PgRecords:
    """The :class:`~sandbox.events.sink.RecordStore` of one PostgreSQL store."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db
        self._table = db.table(COLLECTION)

    def keep(self, record: Document, size: int, max_bytes: int) -> None:
        with self._db.transaction() as conn:
            self._table.insert(record)
            # Only the newest MAX_RECORDS can stay: their sizes decide where the cut falls.
            newest = conn.execute(
                "SELECT seq, octet_length(doc::text) FROM document WHERE collection = %s "
                "ORDER BY seq DESC LIMIT %s", (COLLECTION, MAX_RECORDS + 1)).fetchall()
            kept = len(newest) - excess([int(row[1]) for row in newest], max_bytes)
            conn.execute("DELETE FROM document WHERE collection = %s AND seq < %s",
                         (COLLECTION, newest[kept - 1][0]))

    def all(self) -> list[Document]:
        return self._table.all()

    def clear(self) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM document WHERE collection = %s", (COLLECTION,))

    def size(self) -> int:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT coalesce(sum(octet_length(doc::text)), 0) FROM document "
                               "WHERE collection = %s", (COLLECTION,)).fetchone()
        return int(row[0]) if row else 0
