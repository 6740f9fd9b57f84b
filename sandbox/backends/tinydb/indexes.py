"""Equality indexes: attribute value -> the doc ids holding it.

An index covers one attribute path (``status``, ``engagedParty.id``) and is
maintained on every write. Only string values are keyed: for an attribute the
schema types as a string, ``.eq`` on a string value is plain string equality
(see :func:`sandbox.domain.query.holds`), so a bucket is exactly the set of
documents matching that value. Documents whose value at the path is anything
else (a number where a string belongs, an object) are kept aside in
``others``: a lookup returns them as candidates the caller must still test.

A bucket holding one document (every ``name``, every ``engagedParty.id``) is
that doc id itself, not a set: 100,000 sets would cost 20 MB and give the
garbage collector 100,000 more containers to walk on every full collection
(which a scan allocating its matches triggers several times).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import Any

from sandbox.domain.attributes import values_at

#: The attributes partners filter on most (``id`` and ``href`` go through the id map).
INDEXED_PATHS: tuple[tuple[str, ...], ...] = (
    ("name",), ("status",), ("engagedParty", "id"), ("@type",),
)


_ABSENT = object()


class EqualityIndex:
    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = path
        self.buckets: dict[str, int | set[int]] = {}
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
            if bucket is None:
                self.buckets[key] = doc_id
                if self._order is not None:
                    bisect.insort(self._order, key)
            elif isinstance(bucket, int):
                if bucket != doc_id:
                    self.buckets[key] = {bucket, doc_id}
            else:
                bucket.add(doc_id)
        if odd:
            self.others.add(doc_id)

    def remove(self, doc_id: int, doc: Any) -> None:
        keys, _ = self._keys(doc)
        for key in keys:
            bucket = self.buckets.get(key)
            if bucket == doc_id:
                del self.buckets[key]
                if self._order is not None:
                    del self._order[bisect.bisect_left(self._order, key)]
            elif isinstance(bucket, set):
                bucket.discard(doc_id)
                if len(bucket) == 1:
                    self.buckets[key] = next(iter(bucket))
        self.others.discard(doc_id)

    def lookup(self, values: Iterable[str]) -> set[int]:
        """The doc ids holding any of ``values`` (exact; ``others`` not included)."""
        found: set[int] = set()
        for value in values:
            found.update(ids(self.buckets.get(value)))
        return found

    def size_of(self, values: Iterable[str]) -> int:
        return sum(len(ids(self.buckets.get(value))) for value in set(values)) + len(self.others)


    def ordered(self, descending: bool, within: set[int] | None) -> Iterator[int]:
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
            for doc_id in sorted(bucket if within is None else bucket & within):
                if doc_id not in seen:
                    seen.add(doc_id)
                    yield doc_id


def ids(bucket: int | set[int] | None) -> set[int] | tuple[int, ...]:
    """The doc ids of a bucket (or of none)."""
    if bucket is None:
        return ()
    return (bucket,) if isinstance(bucket, int) else bucket
