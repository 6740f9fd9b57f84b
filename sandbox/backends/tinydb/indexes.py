"""Equality indexes: attribute value -> the doc ids holding it.

An index covers one attribute path (``status``, ``engagedParty.id``) and is
maintained on every write. Only string values are keyed: for an attribute the
schema types as a string, ``.eq`` on a string value is plain string equality
(see :func:`sandbox.domain.query.holds`), so a bucket is exactly the set of
documents matching that value. Documents whose value at the path is anything
else (a number where a string belongs, an object) are kept aside in
``others``: a lookup returns them as candidates the caller must still test.

Buckets are :mod:`postings` (a bare doc id, or a bitmap of two or more).
A new store's indexes are filled in one pass over its documents
(:meth:`EqualityIndex.gather`, then :meth:`EqualityIndex.fill`), and every
write after that keeps them up to date (:meth:`EqualityIndex.add`,
:meth:`EqualityIndex.remove`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import Any

from pyroaring import BitMap

from sandbox.backends.tinydb import postings
from sandbox.backends.tinydb.postings import Bucket
from sandbox.domain.attributes import values_at

#: The attributes partners filter on most (``id`` and ``href`` go through the id map).
INDEXED_PATHS: tuple[tuple[str, ...], ...] = (
    ("name",), ("status",), ("engagedParty", "id"), ("@type",),
)


_ABSENT = object()


class EqualityIndex:
    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = path
        self.buckets: dict[str, Bucket] = {}
        self.others: set[int] = set()
        #: The keys in order, built by the first sort on this attribute, then kept up to date.
        self._order: list[str] | None = None

    def _keys(self, doc: Any) -> tuple[set[str], bool]:
        keys: set[str] = set()
        odd = False
        for value in values_at(doc, self.path):
            if isinstance(value, str):
                keys.add(value)
            else:
                odd = True
        return keys, odd

    def _plain(self, doc: Any) -> str | None | bool:
        """The value at the path when it is one string (None: nothing there, not even a
        null); False for anything else, which :meth:`_keys` then reads."""
        # The common shapes without values_at: start-up indexes every document, and
        # values_at for the four indexes took 3.8 us a document against 0.6 us here
        # (0.3 s more at a 100,000-customer start-up).
        value = doc.get(self.path[0], _ABSENT) if isinstance(doc, dict) else False
        if len(self.path) == 2 and isinstance(value, dict):
            value = value.get(self.path[1], _ABSENT)
        elif len(self.path) > 1 and value is not _ABSENT:
            return False
        if value is _ABSENT:
            return None
        # A null is a value: it equals "null", so the document goes to others.
        return value if isinstance(value, str) else False

    def add(self, doc_id: int, doc: Any) -> None:
        plain = self._plain(doc)
        if plain is None:
            return
        keys, odd = ({plain}, False) if isinstance(plain, str) else self._keys(doc)
        for key in keys:
            bucket = self.buckets.get(key)
            if bucket is None and self._order is not None:
                bisect.insort(self._order, key)
            self.buckets[key] = postings.add(bucket, doc_id)
        if odd:
            self.others.add(doc_id)

    def remove(self, doc_id: int, doc: Any) -> None:
        keys, _ = self._keys(doc)
        for key in keys:
            bucket = postings.discard(self.buckets.get(key), doc_id)
            if bucket is not None:
                self.buckets[key] = bucket
            elif key in self.buckets:
                del self.buckets[key]
                if self._order is not None:
                    del self._order[bisect.bisect_left(self._order, key)]
        self.others.discard(doc_id)

    def gather(self, doc_id: int, doc: Any, groups: dict[str, postings.Held]) -> None:
        """Note ``doc``'s keys in ``groups`` (key -> a doc id or a list of them) for
        :meth:`fill`: a whole store is indexed with one append a key, and one bitmap
        built per key at the end."""
        plain = self._plain(doc)
        if plain is None:
            return
        if isinstance(plain, str):  # (postings.note inlined: once per document and index)
            held = groups.get(plain)
            if held is None:
                groups[plain] = doc_id
            elif isinstance(held, int):
                groups[plain] = [held, doc_id]
            else:
                held.append(doc_id)
            return
        keys, odd = self._keys(doc)
        for key in keys:
            postings.note(groups, key, doc_id)
        if odd:
            self.others.add(doc_id)

    def fill(self, groups: dict[str, postings.Held]) -> None:
        """Take the buckets :meth:`gather` noted (on an index nothing was added to)."""
        self.buckets = postings.grouped(groups)
        self._order = None

    def lookup(self, values: Iterable[str]) -> BitMap:
        """The doc ids holding any of ``values`` (exact; ``others`` not included)."""
        return postings.union(self.buckets.get(value) for value in set(values))

    def size_of(self, values: Iterable[str]) -> int:
        return sum(len(ids(self.buckets.get(value))) for value in set(values)) + len(self.others)

    def ordered(self, descending: bool, within: BitMap | None) -> Iterator[int]:
        """Doc ids by their string value at the path, ties in storage (doc id) order.

        A document reached with several values (an array) comes at its
        smallest one (its largest when ``descending``), as in
        :func:`sandbox.domain.sorting.sort_documents`; documents without a
        value are not yielded. Only for an index without ``others``.
        ``within``: only these ids (None: all).
        """
        if self._order is None:
            self._order = sorted(self.buckets)
        keys = reversed(self._order) if descending else iter(self._order)
        seen: set[int] = set()
        for key in keys:
            bucket = self.buckets[key]
            if isinstance(bucket, int):
                if (within is None or bucket in within) and bucket not in seen:
                    seen.add(bucket)
                    yield bucket
                continue
            for doc_id in (bucket if within is None else bucket & within):  # ascending
                if doc_id not in seen:
                    seen.add(doc_id)
                    yield doc_id


def ids(bucket: Bucket | None) -> BitMap | tuple[int, ...]:
    """The doc ids of a bucket (or of none), ascending."""
    if bucket is None:
        return ()
    return (bucket,) if isinstance(bucket, int) else bucket
