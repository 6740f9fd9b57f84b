"""The sandbox's only door to storage: a small repository over one TinyDB table.

TinyDB is not thread-safe and the server is multi-threaded, so every call
takes the lock that all repositories of one database share. Documents are
plain dicts keyed by their string ``id``; callers always get copies, so what
they mutate is never the stored state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, MutableMapping
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
            return [_copy(doc) for doc in self._table.all()]

    def find(self, predicate: Callable[[Document], bool]) -> list[Document]:
        """Copies of the documents ``predicate`` accepts.

        The predicate sees the stored documents themselves, so only matches
        are copied; it must not change what it is given.
        """
        with self._lock:
            return [_copy(doc) for doc in self._table.all() if predicate(doc)]

    def count(self) -> int:
        with self._lock:
            return len(self._table)

    def get(self, ident: str) -> Document | None:
        with self._lock:
            doc = self._table.get(Query().id == ident)
            return None if doc is None else _copy(doc)

    def insert(self, doc: Document) -> None:
        with self._lock:
            self._table.insert(_copy(doc))

    def insert_many(self, docs: list[Document]) -> None:
        with self._lock:
            self._table.insert_multiple(_clone(docs))

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
            before = _copy(stored)
            after = change(_clone(before))
            if after != before:
                # A callable update rewrites the document in place within one
                # storage write; a merge of fields could not drop members.
                def replace(doc: MutableMapping[Any, Any]) -> None:
                    doc.clear()
                    doc.update(_clone(after))

                self._table.update(replace, doc_ids=[stored.doc_id])
            return before, _clone(after)

    def delete(self, ident: str) -> Document | None:
        with self._lock:
            doc = self._table.get(Query().id == ident)
            if doc is None:
                return None
            self._table.remove(doc_ids=[doc.doc_id])
            return _copy(doc)


def _copy(doc: Mapping[str, Any]) -> Document:
    copied: Document = _clone(doc)
    return copied


def _clone(value: Any) -> Any:
    """A deep copy of JSON data; several times faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {key: _clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clone(item) for item in value]
    return value
