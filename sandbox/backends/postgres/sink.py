"""The listener sink in PostgreSQL: what any process received, every process lists.

Behind a load balancer, ``POST /listener/...`` and ``GET /admin/received-events``
may reach different processes, so the records live in the ``received``
collection of the ``document`` table. Checking an event and shaping its
record are unchanged (:class:`~sandbox.events.sink.ReceivedEvents`: a refused
body is kept as a short summary, so is a record larger than the whole
budget); only keeping, listing and clearing move to the database, bounded
like the in-memory sink: the newest :data:`~sandbox.events.sink.MAX_RECORDS`
records within ``max_bytes`` (``--sink-max-bytes``), oldest dropped first.
"""

from __future__ import annotations

from sandbox.backends.postgres.database import PgDatabase
from sandbox.events.sink import MAX_RECORDS, ReceivedEvents
from sandbox.repository import Document

COLLECTION = "received"

# The records past the newest MAX_RECORDS, or past max_bytes counted from the newest.
# The newest record always stays: ``fitted`` made it fit the budget (PostgreSQL's text
# of it has a few more spaces than the compact JSON it was measured as).
_TRIM = """
    DELETE FROM document WHERE collection = %(c)s AND seq IN (
        SELECT seq FROM (
            SELECT seq, row_number() OVER newest AS n,
                   sum(octet_length(doc::text)) OVER newest AS running
            FROM document WHERE collection = %(c)s
            WINDOW newest AS (ORDER BY seq DESC)) r
        WHERE n > %(records)s OR (n > 1 AND running > %(bytes)s))
"""


class PgReceivedEvents(ReceivedEvents):
    """:class:`ReceivedEvents` whose records are shared by every process of one database."""

    def __init__(self, db: PgDatabase, *, max_bytes: int = 8 * 1024 * 1024) -> None:
        super().__init__(max_bytes=max_bytes)
        self._db = db
        self._table = db.table(COLLECTION)

    def _keep(self, record: Document) -> None:
        record, _ = self.fitted(record)
        with self._db.transaction() as conn:
            self._table.insert(record)
            conn.execute(_TRIM, {"c": COLLECTION, "records": MAX_RECORDS,
                                 "bytes": self.max_bytes})

    @property
    def size(self) -> int:
        """Bytes the kept records take (PostgreSQL's text of them)."""
        with self._db.transaction() as conn:
            row = conn.execute("SELECT coalesce(sum(octet_length(doc::text)), 0) FROM document "
                               "WHERE collection = %s", (COLLECTION,)).fetchone()
        return int(row[0]) if row else 0

    def all(self) -> list[Document]:
        return self._table.all()

    def clear(self) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM document WHERE collection = %s", (COLLECTION,))
