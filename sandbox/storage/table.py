"""One table of the TinyDB-format store, in memory: the :class:`Repository` of this backend.

Each document is kept as its compact JSON (``rows``: doc_id -> bytes, in
doc_id order, which is insertion order) beside an id map (``id`` -> doc_id)
and the equality indexes of :mod:`sandbox.storage.indexes`. Bytes take a
third of the memory of Python dicts, the garbage collector never walks them,
decoding one (orjson) is cheaper than deep-copying a dict, and every read gets
a fresh copy for free. A stored value is immutable: ``get`` reads without the
lock, and a compaction writes a shallow copy of ``rows`` while writes go on.

A write encodes the new document first (a value JSON cannot hold fails
there), appends it to the journal (a failed append leaves nothing behind),
and only then changes memory, so an exception at any step leaves the table
exactly as it was. Memory holds exactly what a replay of the journal gives.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from itertools import islice
from typing import Any, Protocol

import orjson

from sandbox.domain import query, sorting
from sandbox.domain.attributes import values_at
from sandbox.repository import Document, SearchResult
from sandbox.storage.indexes import INDEXED_PATHS, EqualityIndex
from sandbox.storage.snapshot import encode


class Section(Protocol):
    """What a table needs of its database's write section."""

    mutex: Any

    def __enter__(self) -> None: ...

    def __exit__(self, *exc: object) -> None: ...


#: Appends one change to the journal: (table, doc_id, encoded document or None to remove).
Log = Callable[[str, int, "str | None"], None]


class TinyTable:
    """One table in memory, journaled through its database: the `Repository` of this backend."""

    def __init__(self, name: str, section: Section, log: Log) -> None:
        self.name = name
        self._section = section
        self._log = log
        self._rows: dict[int, bytes] = {}
        self._ids: dict[str, int] = {}
        self._indexes = {path: EqualityIndex(path) for path in INDEXED_PATHS}
        self._next = 1

    # -- memory ---------------------------------------------------------------

    def _put(self, doc_id: int, doc: Document, packed: bytes) -> None:
        old = self._rows.get(doc_id)
        if old is not None:
            self._unlink(doc_id, _unpack(old))
        self._rows[doc_id] = packed
        if isinstance(doc.get("id"), str):
            self._ids[doc["id"]] = doc_id
        for index in self._indexes.values():
            index.add(doc_id, doc)
        self._next = max(self._next, doc_id + 1)

    def load(self, doc_id: int, doc: Document | None, packed: bytes | None) -> None:
        """A document read from the snapshot or replayed from the journal (None: removed)."""
        if doc is None:
            if doc_id in self._rows:
                self._remove(doc_id, _unpack(self._rows[doc_id]))
            return
        self._put(doc_id, doc, orjson.dumps(doc) if packed is None else packed)

    def _unlink(self, doc_id: int, doc: Document) -> None:
        if isinstance(doc.get("id"), str) and self._ids.get(doc["id"]) == doc_id:
            del self._ids[doc["id"]]
        for index in self._indexes.values():
            index.remove(doc_id, doc)

    def _remove(self, doc_id: int, doc: Document) -> None:
        self._unlink(doc_id, doc)
        del self._rows[doc_id]

    def frozen(self) -> list[tuple[int, bytes]]:
        """A consistent view for a snapshot: (doc_id, JSON) in storage order."""
        with self._section.mutex:
            return list(self._rows.items())

    # -- the Repository protocol ----------------------------------------------

    @property
    def lock(self) -> AbstractContextManager[Any]:
        return self._section

    def get(self, ident: str) -> Document | None:
        # No lock: dict reads are atomic and a stored value is immutable bytes.
        packed = self._rows.get(self._ids.get(ident, 0))
        return None if packed is None else _unpack(packed)

    def all(self) -> list[Document]:
        with self._section.mutex:
            rows = list(self._rows.values())
        return [_unpack(packed) for packed in rows]

    def count(self) -> int:
        return len(self._rows)

    def _store(self, doc_id: int, doc: Any) -> Document:
        encoded = encode(doc)
        stored = _unpack(encoded)
        self._log(self.name, doc_id, encoded)
        self._put(doc_id, stored, encoded.encode())
        return stored

    def insert(self, doc: Document) -> None:
        with self._section:
            if doc.get("id") in self._ids:
                raise ValueError(f"{self.name}: id {doc['id']!r} is already stored")
            self._store(self._next, doc)

    def insert_many(self, docs: Sequence[Document]) -> None:
        with self._section:
            for doc in docs:
                self.insert(doc)

    def update(
        self, ident: str, change: Callable[[Document], Document]
    ) -> tuple[Document, Document] | None:
        with self._section:
            doc_id = self._ids.get(ident)
            if doc_id is None:
                return None
            packed = self._rows[doc_id]
            before = _unpack(packed)
            after = change(_unpack(packed))
            if after == before:
                return before, _unpack(packed)
            if after.get("id") != ident:
                raise ValueError(f"{self.name}: an update cannot change the id {ident!r}")
            return before, self._store(doc_id, after)

    def delete(self, ident: str) -> Document | None:
        with self._section:
            doc_id = self._ids.get(ident)
            if doc_id is None:
                return None
            doc = _unpack(self._rows[doc_id])
            self._log(self.name, doc_id, None)
            self._remove(doc_id, doc)
            return doc

    # -- search ---------------------------------------------------------------

    def search(
        self,
        filters: Sequence[query.Filter],
        *,
        sort: Sequence[sorting.SortKey] = (),
        offset: int = 0,
        limit: int | None = None,
        href_prefix: str | None = None,
    ) -> SearchResult:
        wanted = list(filters)
        end = None if limit is None else offset + limit
        with self._section.mutex:
            chosen = self._best_index(wanted, href_prefix)
            page: list[bytes] | None = None
            if not sort and not wanted:
                page, total = list(islice(self._rows.values(), offset, end)), len(self._rows)
            elif not sort and chosen is not None and len(wanted) == 1 and not chosen[2]:
                # The index answers the filter exactly: order and cut the ids alone.
                exact = chosen[1]
                ids = (heapq.nsmallest(end, exact) if end is not None and end * 4 < len(exact)
                       else sorted(exact))
                page, total = [self._rows[doc_id] for doc_id in ids[offset:end]], len(exact)
            else:
                candidates, rest, chosen_filter = self._candidates(wanted, chosen)
        if page is not None:
            return SearchResult([_unpack(packed) for packed in page], total)
        # Decoding and testing happen outside the lock: stored bytes never change.
        matched = []
        for packed, check in candidates:
            doc = _unpack(packed)
            if _holds(doc, rest, href_prefix) and (
                    not check or _holds(doc, chosen_filter, href_prefix)):
                matched.append(doc)
        if sort:
            matched = self._sorted(matched, sort, href_prefix)
        # Every matched document is a fresh decode: the page needs no further copy.
        return SearchResult(matched[offset:end], len(matched))

    def _candidates(
        self, filters: list[query.Filter],
        chosen: tuple[query.Filter, set[int], set[int]] | None,
    ) -> tuple[list[tuple[bytes, bool]], list[query.Filter], list[query.Filter]]:
        """Under the lock: (document, whether the indexed filter must be tested) pairs,
        the filters left to test, and the indexed filter."""
        if chosen is None:
            return [(packed, False) for packed in self._rows.values()], filters, []
        f, exact, others = chosen
        pairs = [(self._rows[doc_id], doc_id not in exact) for doc_id in sorted(exact | others)]
        return pairs, [g for g in filters if g is not f], [f]

    def _best_index(self, filters: Iterable[query.Filter], prefix: str | None
                    ) -> tuple[query.Filter, set[int], set[int]] | None:
        """The indexed ``.eq`` filter with the fewest candidates, and them."""
        best: tuple[int, query.Filter] | None = None
        for f in filters:
            if f.op != "eq" or f.hint != "string":
                continue
            if f.path in (("id",), ("href",)):
                size = len(f.values)
            elif f.path in self._indexes:
                size = self._indexes[f.path].size_of(f.values)
            else:
                continue
            if best is None or size < best[0]:
                best = (size, f)
        if best is None:
            return None
        f = best[1]
        if f.path in (("id",), ("href",)):
            keys = f.values if f.path == ("id",) else [
                v[len(prefix):] for v in f.values if prefix and v.startswith(prefix)]
            return f, {self._ids[k] for k in keys if k in self._ids}, set()
        index = self._indexes[f.path]
        return f, index.lookup(f.values), set(index.others)

    @staticmethod
    def _sorted(matched: list[Document], keys: Sequence[sorting.SortKey],
                prefix: str | None) -> list[Document]:
        if prefix is None or not any(key.path[0] == "href" for key in keys):
            return list(sorting.sort_documents(matched, keys))  # type: ignore[arg-type]
        # Sort views that carry href, then map them back to the stored documents.
        shown = [{**doc, "href": _href(doc, prefix)} for doc in matched]
        back = {id(view): doc for view, doc in zip(shown, matched, strict=True)}
        return [back[id(view)] for view in sorting.sort_documents(shown, keys)]


def _href(doc: Document, prefix: str) -> str | None:
    ident = doc.get("id")
    return prefix + ident if isinstance(ident, str) else None


def _holds(doc: Document, filters: Iterable[query.Filter], prefix: str | None) -> bool:
    for f in filters:
        if f.path[0] == "href":
            href = _href(doc, prefix) if prefix is not None else None
            found: Iterable[Any] = () if href is None else values_at({"href": href}, f.path)
        else:
            found = values_at(doc, f.path)
        if not any(query.holds(f, value) for value in found):
            return False
    return True


def _unpack(packed: bytes | str) -> Document:
    doc: Document = orjson.loads(packed)
    return doc
