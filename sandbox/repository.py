"""The sandbox's only door to storage: a small repository over one TinyDB table.

TinyDB is not thread-safe and the server is multi-threaded, so every call
takes the lock that all repositories of one database share. Documents are
plain dicts keyed by their string ``id``; callers always get copies, so what
they mutate is never the stored state.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB
from tinydb.storages import MemoryStorage

from sandbox.storage import AtomicJSONStorage

Document = dict[str, Any]
MEMORY = ":memory:"


def open_database(path: str | Path) -> TinyDB:
    """Open the store at ``path``; ``":memory:"`` gives a throwaway store."""
    if str(path) == MEMORY:
        return TinyDB(storage=MemoryStorage)
    return TinyDB(path, storage=AtomicJSONStorage)


class Repository:
    """CRUD on one table of ``db``, serialised by ``lock``."""

    def __init__(self, db: TinyDB, table: str, lock: threading.RLock) -> None:
        self._table = db.table(table, cache_size=0)
        self._lock = lock

    @property
    def lock(self) -> threading.RLock:
        """The database's lock: held across a write and its sequel, they are atomic."""
        return self._lock

    def all(self) -> list[Document]:
        with self._lock:
            return [copy.deepcopy(dict(doc)) for doc in self._table.all()]

    def count(self) -> int:
        with self._lock:
            return len(self._table)

    def get(self, ident: str) -> Document | None:
        with self._lock:
            doc = self._table.get(Query().id == ident)
            return None if doc is None else copy.deepcopy(dict(doc))

    def insert(self, doc: Document) -> None:
        with self._lock:
            self._table.insert(copy.deepcopy(doc))

    def insert_many(self, docs: list[Document]) -> None:
        with self._lock:
            self._table.insert_multiple(copy.deepcopy(docs))

    def update(
        self, ident: str, change: Callable[[Document], Document]
    ) -> tuple[Document, Document] | None:
        """Read, transform and store one document atomically.

        ``change`` gets a copy and returns the new document; if it raises,
        nothing is stored. Returns ``(before, after)``, or None when unknown.
        """
        with self._lock:
            stored = self._table.get(Query().id == ident)
            if stored is None:
                return None
            before = copy.deepcopy(dict(stored))
            after = change(copy.deepcopy(before))
            if after != before:
                # A callable update rewrites the document in place within one
                # storage write; a merge of fields could not drop members.
                def replace(doc: dict[str, Any]) -> None:
                    doc.clear()
                    doc.update(copy.deepcopy(after))

                self._table.update(replace, doc_ids=[stored.doc_id])
            return before, copy.deepcopy(after)

    def delete(self, ident: str) -> Document | None:
        with self._lock:
            doc = self._table.get(Query().id == ident)
            if doc is None:
                return None
            self._table.remove(doc_ids=[doc.doc_id])
            return copy.deepcopy(dict(doc))
