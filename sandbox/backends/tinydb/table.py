"""One table of the TinyDB-format store, in memory: the :class:`Repository` of this backend.

Each document is kept as its compact JSON (``rows``: doc_id -> bytes, in
doc_id order, which is insertion order) beside an id map (``id`` -> doc_id)
and the equality indexes of :mod:`sandbox.backends.tinydb.indexes`. Bytes take a
third of the memory of Python dicts, the garbage collector never walks them,
decoding one (orjson) is cheaper than deep-copying a dict, and every read gets
a fresh copy for free. A stored value is immutable: ``get`` reads without the
lock, and a compaction writes a shallow copy of ``rows`` while writes go on.

A write checks ids and encodes the new documents first (a value JSON cannot
hold fails there), appends them to the journal as one record (a failed append
leaves nothing behind, a torn one is dropped whole at replay), and only then
changes memory, so an exception at any step leaves the table exactly as it
was, for a batch as for one document. Memory holds exactly what a replay of
the journal gives.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from itertools import islice
from typing import Any, Protocol

import orjson
from pyroaring import BitMap

from sandbox.backends.tinydb import indexes, postings, scan, tokens
from sandbox.backends.tinydb.bulk import Filling
from sandbox.backends.tinydb.indexes import INDEXED_PATHS, EqualityIndex
from sandbox.backends.tinydb.snapshot import encode
from sandbox.domain import hrefs, query, sorting
from sandbox.repository import Document, SearchResult

#: The paths the id map answers: the id, and the href derived from it.
_BY_ID = (("id",), hrefs.PATH)
#: Token indexes a table keeps at most, least recently used dropped first (the paths come
#: from clients; a dropped one is built again when needed).
MAX_PATH_INDEXES = 64
#: (the filters an index answered, their exact ids or candidates, ids to test all filters on)
Chosen = tuple[list[query.Filter], BitMap, set[int]]


class Section(Protocol):
    """What a table needs of its database's write section."""

    mutex: Any

    def __enter__(self) -> None: ...

    def __exit__(self, *exc: object) -> None: ...


#: Appends one journal record, all or nothing: (table, doc_id, the encoded documents to put
#: at doc_id and the ids after it, or None to remove doc_id).
Log = Callable[[str, int, "Sequence[str] | None"], None]


class TinyTable:
    """One table in memory, journaled through its database: the `Repository` of this backend."""

    def __init__(self, name: str, section: Section, log: Log) -> None:
        self.name = name
        self._section = section
        self._log = log
        self._rows: dict[int, bytes] = {}
        self._ids: dict[str, int] = {}
        self._indexes = {path: EqualityIndex(path) for path in INDEXED_PATHS}
        #: Token indexes of the paths searches filtered on, most recently used last.
        self._tokens: OrderedDict[tuple[str, ...], tokens.PathIndex] = OrderedDict(
            (path, tokens.PathIndex(path)) for path in tokens.COMMON_PATHS)
        #: Doc ids written while a token index is being filled outside the lock, one set
        #: per fill in progress; one fill at a time (``_filling``).
        self._touched: list[set[int]] = []
        self._filling = threading.Lock()
        self._next = 1
        #: Counts the changes, so a search can tell whether an index moved while it read.
        self._version = 0

    # -- memory ---------------------------------------------------------------

    def _put(self, doc_id: int, doc: Document, packed: bytes) -> None:
        old = self._rows.get(doc_id)
        before = None if old is None else _unpack(old)
        if before is not None:
            self._unlink(doc_id, before)
        self._retoken(doc_id, before, doc)
        self._rows[doc_id] = packed
        if isinstance(doc.get("id"), str):
            self._ids[doc["id"]] = doc_id
        for index in self._indexes.values():
            index.add(doc_id, doc)
        self._next = max(self._next, doc_id + 1)
        self._version += 1

    def load(self, doc_id: int, doc: Document | None, packed: bytes | None) -> None:
        """A document read from the snapshot or replayed from the journal (None: removed)."""
        if doc is None:
            if doc_id in self._rows:
                self._remove(doc_id, _unpack(self._rows[doc_id]))
            return
        self._put(doc_id, doc, _as_stored(doc_id, doc, packed))

    def filling(self) -> Filling:
        """A one-pass load of this table's snapshot, for :meth:`adopt` (an empty table)."""
        return Filling(list(self._indexes.values()), list(self._tokens.values()))

    def fill(self, filling: Filling, doc_id: int, doc: Document, packed: bytes) -> None:
        """Add one snapshot document to ``filling`` (stored as :meth:`load` would)."""
        filling.add(doc_id, doc, _as_stored(doc_id, doc, packed))

    def adopt(self, filling: Filling) -> None:
        """Take the documents and indexes ``filling`` gathered from the snapshot."""
        assert not self._rows, "only an empty table adopts a snapshot"
        filling.finish()
        self._rows, self._ids = filling.rows, filling.ids
        self._next = max(self._rows, default=0) + 1
        self._version += 1
        for doc_id, doc, packed in filling.again:
            self.load(doc_id, doc, packed)

    def _unlink(self, doc_id: int, doc: Document) -> None:
        if isinstance(doc.get("id"), str) and self._ids.get(doc["id"]) == doc_id:
            del self._ids[doc["id"]]
        for index in self._indexes.values():
            index.remove(doc_id, doc)

    def _retoken(self, doc_id: int, before: Document | None, after: Document | None) -> None:
        for index in self._tokens.values():
            index.replace(doc_id, before, after)
        for touched in self._touched:
            touched.add(doc_id)

    def _remove(self, doc_id: int, doc: Document) -> None:
        self._unlink(doc_id, doc)
        self._retoken(doc_id, doc, None)
        del self._rows[doc_id]
        self._version += 1

    def shape(self) -> dict[str, Any]:
        """The id map, every equality index and the common paths' token indexes as plain
        values: two tables holding the same documents have equal shapes (``check``
        compares a table loaded and replayed with one rebuilt document by document)."""
        with self._section.mutex:
            shape: dict[str, Any] = {"ids": dict(self._ids)}
            for path, index in self._indexes.items():
                shape[".".join(path)] = ({key: set(indexes.ids(bucket)) for key, bucket
                                          in index.buckets.items()}, set(index.others))
            for path in tokens.COMMON_PATHS:
                if (held := self._tokens.get(path)) is not None:
                    shape["tokens " + ".".join(path)] = held.shape()
            return shape

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
        self._log(self.name, doc_id, [encoded])
        self._put(doc_id, stored, encoded.encode())
        return stored

    def insert(self, doc: Document) -> None:
        self.insert_many([doc])

    def insert_many(self, docs: Sequence[Document]) -> None:
        """All of ``docs`` or none: every id checked and every document encoded before
        the batch goes to the journal as one record, then into memory."""
        with self._section:
            batch: set[str] = set()
            for doc in docs:
                ident = doc.get("id")
                if not isinstance(ident, str):
                    continue
                if ident in self._ids:
                    raise ValueError(f"{self.name}: id {ident!r} is already stored")
                if ident in batch:
                    raise ValueError(f"{self.name}: id {ident!r} is twice in the batch")
                batch.add(ident)
            encoded = [encode(doc) for doc in docs]
            if not encoded:
                return
            first = self._next
            self._log(self.name, first, encoded)
            for offset, text in enumerate(encoded):
                self._put(first + offset, _unpack(text), text.encode())

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
        self._build_tokens(wanted, href_prefix)
        by_regex = self._regex_index(wanted)
        with self._section.mutex:
            chosen = (self._served(wanted, href_prefix, by_regex)
                      or self._best_index(wanted, href_prefix) or self._regex_ids(by_regex))
            exact = chosen[1] if chosen is not None and len(chosen[0]) == len(wanted) \
                and not chosen[2] else None
            page: list[bytes] | None = None
            if not wanted or exact is not None:
                # No filter, or ones the indexes answer exactly: order and cut the ids alone.
                ids = self._ordered(exact, sort, offset, end)
                if ids is not None:
                    total = len(self._rows) if exact is None else len(exact)
                    page = [self._rows[doc_id] for doc_id in ids]
            if page is None:
                candidates, lists = self._candidates(wanted, chosen)
        if page is not None:
            return SearchResult([_unpack(packed) for packed in page], total)
        # Filtering happens outside the lock: stored bytes never change.
        matched = scan.select(candidates, lists, [key.path for key in sort], href_prefix)
        if sort:
            matched = self._sorted(matched, sort, href_prefix)
        # Only the page is decoded whole: a fresh copy the caller may keep.
        return SearchResult([_unpack(packed) for packed, _ in matched[offset:end]], len(matched))

    def _ordered(self, exact: BitMap | None, sort: Sequence[sorting.SortKey], offset: int,
                 end: int | None) -> Sequence[int] | None:
        """Under the lock: the ids ``offset`` to ``end`` of ``exact`` (None: all) in ``sort``
        order, when the ids alone tell it; None when documents must be read."""
        if not sort:
            if exact is None:
                return list(islice(self._rows, offset, end))
            return list(exact[offset:end])  # ascending (storage order), selected by rank
        index = self._indexes.get(sort[0].path)
        if len(sort) > 1 or index is None or index.others or sort[0].hint != "string":
            return None
        ids = list(islice(index.ordered(sort[0].descending, exact), end))
        if end is None or len(ids) < end:
            # Documents without a value come last, in storage order.
            valued = set(ids)  # the index ran out: every valued document is in ids
            rest = self._rows if exact is None else exact
            ids += islice((doc_id for doc_id in rest if doc_id not in valued),
                          None if end is None else end - len(ids))
        return ids[offset:end]

    # -- token indexes ---------------------------------------------------------

    def _token_index(self, f: query.Filter) -> tokens.PathIndex | None:
        """Under the lock: the token index of ``f``'s path when it answers ``f``."""
        index = self._tokens.get(f.path)
        if index is None or f.op == "regex" or not index.answers(f):
            return None
        self._tokens.move_to_end(f.path)
        return index

    def _exact_index(self, f: query.Filter) -> bool:
        """Whether the id map or an equality index answers ``f`` exactly."""
        if f.op != "eq" or f.hint != "string":
            return False
        index = self._indexes.get(f.path)
        return f.path in _BY_ID or (index is not None and not index.others)

    def _served(self, filters: list[query.Filter], prefix: str | None,
                by_regex: tuple[query.Filter, list[str], int, frozenset[str]] | None
                ) -> Chosen | None:
        """Under the lock: the filters the id map, equality and token indexes (and a regex
        on an equality index without odd values) answer exactly, and the ids matching
        them all."""
        served: list[query.Filter] = []
        found: list[BitMap] = []
        for f in filters:
            if self._exact_index(f):
                chosen = self._best_index([f], prefix)
                assert chosen is not None
                served.append(f)
                found.append(chosen[1])
            elif (index := self._token_index(f)) is not None:
                served.append(f)
                found.append(index.find(f))
        if not served:
            return None
        regex = self._regex_ids(by_regex)
        if regex is not None and not regex[2]:
            served += regex[0]
            found.append(regex[1])
        return served, postings.intersection(found), set()

    def _build_tokens(self, filters: list[query.Filter], prefix: str | None) -> None:
        """Build the token index of every filter's path that has none (outside the lock:
        one pass over the store, about what one scan costs), unless another index already
        answers the filter or a token index could not (a ``.regex``, an object's text)."""
        for f in filters:
            if f.op == "regex" or hrefs.under(f.path) or self._exact_index(f):
                continue
            with self._section.mutex:
                if f.path in self._tokens:
                    continue
            index = tokens.PathIndex(f.path)
            if index.answers(f):
                self._fill(index)

    def _fill(self, index: tokens.PathIndex) -> None:
        """Fill ``index`` from the stored documents outside the lock (writes go on), then
        bring it up to date with what was written meanwhile and keep it."""
        with self._filling:
            with self._section.mutex:
                if index.path in self._tokens:
                    return  # another search built it meanwhile
                rows = dict(self._rows)
                touched: set[int] = set()
                self._touched.append(touched)
            try:
                index.fill(rows)
            except BaseException:
                with self._section.mutex:
                    self._touched.remove(touched)
                raise
            with self._section.mutex:
                self._touched.remove(touched)
                for doc_id in touched:  # from what the fill read to what is stored now
                    before, now = rows.get(doc_id), self._rows.get(doc_id)
                    index.replace(doc_id, None if before is None else _unpack(before),
                                  None if now is None else _unpack(now))
                self._tokens[index.path] = index
                while len(self._tokens) > MAX_PATH_INDEXES:
                    self._tokens.popitem(last=False)

    def _regex_index(self, filters: list[query.Filter]
                     ) -> tuple[query.Filter, list[str], int, frozenset[str]] | None:
        """A ``.regex`` filter on an indexed attribute, matched against the index's
        distinct values outside the lock: (filter, values seen, version, matching ones)."""
        if any(f.op == "eq" and f.hint == "string" and (
                f.path in self._indexes or f.path in _BY_ID) for f in filters):
            return None  # an equality index answers first
        for f in filters:
            if f.op == "regex" and f.path in self._indexes:
                with self._section.mutex:
                    keys, version = list(self._indexes[f.path].buckets), self._version
                return f, keys, version, query.matching_texts(f, keys)
        return None

    def _regex_ids(self, found: tuple[query.Filter, list[str], int, frozenset[str]] | None
                   ) -> Chosen | None:
        """Under the lock: the ids whose values matched, with values written since tested."""
        if found is None:
            return None
        f, keys, version, hits = found
        index = self._indexes[f.path]
        if version != self._version:
            tested = set(keys)
            hits = hits | query.matching_texts(f, [k for k in index.buckets if k not in tested])
        return [f], index.lookup(k for k in hits if k in index.buckets), set(index.others)

    def _candidates(self, filters: list[query.Filter], chosen: Chosen | None
                    ) -> tuple[Iterable[scan.Candidate], list[list[query.Filter]]]:
        """Under the lock: each candidate document with the filters it must still pass
        (paired lazily, outside the lock), and every such list of filters."""
        if chosen is None:
            rows = list(self._rows.values())
            return ((packed, filters) for packed in rows), [filters]
        served, exact, others = chosen
        rest = [g for g in filters if all(g is not f for f in served)]
        if not others:  # a bitmap iterates in ascending (storage) order
            return [(self._rows[doc_id], rest) for doc_id in exact], [rest]
        pairs = [(self._rows[doc_id], rest if doc_id in exact else filters)
                 for doc_id in exact | BitMap(others)]
        return pairs, [rest, filters]

    def _best_index(self, filters: Iterable[query.Filter], prefix: str | None
                    ) -> Chosen | None:
        """The indexed ``.eq`` filter with the fewest candidates, and them."""
        best: tuple[int, query.Filter] | None = None
        for f in filters:
            if f.op != "eq" or f.hint != "string":
                continue
            if f.path in _BY_ID:
                size = len(query.equal_texts(f))
            elif f.path in self._indexes:
                size = self._indexes[f.path].size_of(query.equal_texts(f))
            else:
                continue
            if best is None or size < best[0]:
                best = (size, f)
        if best is None:
            return None
        f = best[1]
        texts = query.equal_texts(f)
        if f.path in _BY_ID:
            keys = texts if f.path == ("id",) else {hrefs.id_of(prefix, v) for v in texts}
            return [f], BitMap([self._ids[k] for k in keys if k in self._ids]), set()
        index = self._indexes[f.path]
        return [f], index.lookup(texts), set(index.others)

    @staticmethod
    def _sorted(matched: list[scan.Match], keys: Sequence[sorting.SortKey],
                prefix: str | None) -> list[scan.Match]:
        """The matches in ``keys`` order, sorting their views (which carry every key's path)."""
        shown = [view if (href := hrefs.href_of(prefix, view.get("id"))) is None
                 else {**view, hrefs.NAME: href} for _, view in matched]
        back = {id(view): match for view, match in zip(shown, matched, strict=True)}
        return [back[id(view)] for view in sorting.sort_documents(shown, keys)]


def _as_stored(doc_id: int, doc: Document, packed: bytes | None) -> bytes:
    """The bytes a loaded document is kept as; a doc id a bitmap cannot hold is refused."""
    if not 0 <= doc_id <= postings.MAX_DOC_ID:
        raise ValueError(f"doc id {doc_id} is beyond {postings.MAX_DOC_ID}")
    if packed is None or (b"\\" in packed and (b"\\u" in packed or b"\\/" in packed)):
        # Re-encoded when an escape (\u00f4, \/) spells text otherwise than the sandbox
        # does: the scan looks for text in the stored bytes (storage/scan).
        return orjson.dumps(doc)
    return packed


def _unpack(packed: bytes | str) -> Document:
    doc: Document = orjson.loads(packed)
    return doc
