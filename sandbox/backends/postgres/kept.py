"""One JSON document kept in the database's ``public`` schema, changed under a lock.

The hosted sandbox keeps the tenants its admin API creates or deletes here
(``hosting.tenants_file.ChangeStore``), so every process sharing the database,
and a restarted one, serves them. A change reads, changes and writes the
document in one transaction under an advisory lock: two processes changing it
at once do so one after the other, neither losing the other's change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.backends.postgres.database import PgDatabase
from sandbox.backends.postgres.migrations import KEPT_LOCK, PUBLIC
from sandbox.backends.postgres.server import PgServer

COLLECTION = "kept"


class PgKeptDocument:
    """The document ``ident`` of the ``kept`` collection in the ``public`` schema."""

    def __init__(self, server: PgServer, ident: str) -> None:
        # The process's pool: the document is read on a stranger's key at most once a second.
        self.db = PgDatabase(server, PUBLIC)
        self.ident = ident

    def read(self) -> Any:
        doc = self.db.table(COLLECTION).get(self.ident)
        return None if doc is None else doc.get("data")

    def update(self, change: Callable[[Any], Any]) -> Any:
        with self.db.exclusively(KEPT_LOCK):
            data = change(self.read())
            table = self.db.table(COLLECTION)
            table.delete(self.ident)
            table.insert({"id": self.ident, "data": data})
        return data

    def close(self) -> None:
        self.db.close()
