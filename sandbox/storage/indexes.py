"""Equality indexes: attribute value -> the doc ids holding it.

An index covers one attribute path (``status``, ``engagedParty.id``) and is
maintained on every write. Only string values are keyed: for an attribute the
schema types as a string, ``.eq`` on a string value is plain string equality
(see :func:`sandbox.domain.query.holds`), so a bucket is exactly the set of
documents matching that value. Documents whose value at the path is anything
else (a number where a string belongs, an object) are kept aside in
``others``: a lookup returns them as candidates the caller must still test.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sandbox.domain.attributes import values_at

#: The attributes partners filter on most (``id`` and ``href`` go through the id map).
INDEXED_PATHS: tuple[tuple[str, ...], ...] = (
    ("name",), ("status",), ("engagedParty", "id"), ("@type",),
)


class EqualityIndex:
    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = path
        self.buckets: dict[str, set[int]] = {}
        self.others: set[int] = set()

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
        """The value at the path when it is one string (or absent: None); else False."""
        # Without values_at's generators: start-up indexes every document.
        value = doc.get(self.path[0]) if isinstance(doc, dict) else False
        if len(self.path) == 2 and isinstance(value, dict):
            value = value.get(self.path[1])
        elif len(self.path) > 1 and value is not None:
            return False
        return value if value is None or isinstance(value, str) else False

    def add(self, doc_id: int, doc: Any) -> None:
        plain = self._plain(doc)
        if plain is None:
            return
        keys, odd = ({plain}, False) if isinstance(plain, str) else self._keys(doc)
        for key in keys:
            bucket = self.buckets.get(key)
            if bucket is None:
                self.buckets[key] = {doc_id}
            else:
                bucket.add(doc_id)
        if odd:
            self.others.add(doc_id)

    def remove(self, doc_id: int, doc: Any) -> None:
        keys, _ = self._keys(doc)
        for key in keys:
            bucket = self.buckets.get(key)
            if bucket is not None:
                bucket.discard(doc_id)
                if not bucket:
                    del self.buckets[key]
        self.others.discard(doc_id)

    def lookup(self, values: Iterable[str]) -> set[int]:
        """The doc ids holding any of ``values`` (exact; ``others`` not included)."""
        found: set[int] = set()
        for value in values:
            found |= self.buckets.get(value, set())
        return found

    def size_of(self, values: Iterable[str]) -> int:
        return sum(len(self.buckets.get(value, ())) for value in set(values)) + len(self.others)
