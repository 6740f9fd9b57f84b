"""The listener sink in PostgreSQL: what any process received, every process lists.

Behind a load balancer, ``POST /listener/...`` and ``GET /admin/received-events``
may reach different processes, so the records live in the ``received``
collection of the ``document`` table. Checking an event is unchanged
(:class:`~sandbox.events.sink.ReceivedEvents`); only keeping, listing and
clearing move to the database, bounded like the in-memory sink: the newest
:data:`~sandbox.events.sink.MAX_RECORDS` records within :data:`MAX_BYTES`.
"""

from __future__ import annotations

from sandbox.events.sink import MAX_RECORDS, ReceivedEvents
from sandbox.postgres.database import PgDatabase
from sandbox.repository import Document

COLLECTION = "received"
#: Stored JSON the records may take in all; the oldest go first beyond it.
MAX_BYTES = 8 * 1024 * 1024

# The records past the newest MAX_RECORDS, or past MAX_BYTES counted from the newest.
_TRIM = """
    DELETE FROM document WHERE collection = %(c)s AND seq IN (
        SELECT seq FROM (
            SELECT seq, row_number() OVER newest AS n,
                   sum(octet_length(doc::text)) OVER newest AS running
            FROM document WHERE collection = %(c)s
            WINDOW newest AS (ORDER BY seq DESC)) r
        WHERE n > %(records)s OR running > %(bytes)s)
"""


class PgReceivedEvents(ReceivedEvents):
    """:class:`ReceivedEvents` whose records are shared by every process of one database."""

    def __init__(self, db: PgDatabase) -> None:
        super().__init__()
        self._db = db
        self._table = db.table(COLLECTION)

    def _keep(self, record: Document) -> None:
        with self._db.transaction() as conn:
            self._table.insert(record)
            conn.execute(_TRIM, {"c": COLLECTION, "records": MAX_RECORDS, "bytes": MAX_BYTES})

    def all(self) -> list[Document]:
        return self._table.all()

    def clear(self) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM document WHERE collection = %s", (COLLECTION,))
