"""Exact counts kept while a collection does not change: a broad filter counted once.

A list query's total is exact, and counting the matches of a broad filter
reads every one of them in the index (``?status=Approved`` at 1,000,000
customers: 400,000 index entries, some 45 ms however the index is read).
Asked again while nothing was written, the same count is the same number.

Every write statement adds to its collection's ``changes`` (store migration
5, in ``document_count``; one slot per writer, each only ever growing). In a
snapshot, their sum names the documents that snapshot sees: PostgreSQL's
snapshots see ever larger sets of committed transactions, and each committed
write makes the sum larger. So a count taken in a snapshot whose sum was S is
the answer in any snapshot whose sum is S, in any process.

Only a read-only snapshot of its own uses or fills the cache: inside a write
section, the transaction's own uncommitted writes are in its sum, which another
transaction's committed writes could match.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from sandbox.backends.postgres.migrations import Connection

#: Counts kept per store, the most recently used first out of reach.
KEPT = 256


def changes(conn: Connection, collection: str) -> int:
    """How many write statements have changed ``collection``, as ``conn``'s snapshot sees."""
    row = conn.execute("SELECT coalesce(sum(changes), 0) FROM document_count "
                       "WHERE collection = %s", (collection,)).fetchone()
    return int(row[0]) if row else 0


class CountCache:
    """One store's counts by collection and query, each with the ``changes`` it was
    taken at; bounded (least recently used out first), safe across threads."""

    def __init__(self, size: int = KEPT) -> None:
        self._size = size
        self._kept: OrderedDict[Hashable, tuple[int, int]] = OrderedDict()
        self._lock = threading.Lock()

    def count(self, conn: Connection, collection: str, key: Hashable,
              counted: Callable[[], int]) -> int:
        """The count ``counted`` takes in ``conn``'s snapshot, or the one kept for ``key``
        when the collection has not changed since it was taken."""
        stamp = changes(conn, collection)
        full = (collection, key)
        with self._lock:
            kept = self._kept.get(full)
            if kept is not None and kept[0] == stamp:
                self._kept.move_to_end(full)
                return kept[1]
        total = counted()
        with self._lock:
            self._kept[full] = (stamp, total)
            self._kept.move_to_end(full)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return total
