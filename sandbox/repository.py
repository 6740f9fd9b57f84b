"""The sandbox's only door to storage: a small repository over one TinyDB table.

TinyDB is not thread-safe and the server is multi-threaded, so every call
takes the lock that all repositories of one database share. Documents are
plain dicts keyed by their string ``id``; callers always get copies, so what
they mutate is never the stored state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB
from tinydb.storages import MemoryStorage

from sandbox.domain import query, sorting
from sandbox.storage import AtomicJSONStorage

Document = dict[str, Any]
MEMORY = ":memory:"


@dataclass(frozen=True)
class SearchResult:
    """One page of a search (copies) and how many documents matched in all."""

    items: list[Document]
    total: int


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

    def search(
        self,
        filters: Sequence[query.Filter],
        *,
        sort: Sequence[sorting.SortKey] = (),
        offset: int = 0,
        limit: int | None = None,
        href_prefix: str | None = None,
    ) -> SearchResult:
        """The documents matching every filter: sorted, then ``[offset:offset+limit]``.

        ``href`` is not stored: filters and sort keys see ``href_prefix + id``.
        """
        def seen(doc: Document) -> Mapping[str, Any]:
            if href_prefix is None:
                return doc
            return {"id": doc["id"], "href": href_prefix + str(doc["id"]), **doc}

        with self._lock:
            found = [doc for doc in self._table.all() if query.matches(seen(doc), filters)]
            if sort:
                views = [seen(doc) for doc in found]
                stored = {id(view): doc for view, doc in zip(views, found, strict=True)}
                found = [stored[id(view)] for view in sorting.sort_documents(views, sort)]
            end = None if limit is None else offset + limit
            return SearchResult([_copy(doc) for doc in found[offset:end]], len(found))

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
