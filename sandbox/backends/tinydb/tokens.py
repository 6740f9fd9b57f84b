"""Token indexes: (attribute path, typed value) -> the doc ids holding it, for any path.

A :class:`PathIndex` covers one attribute path (``contactMedium.mediumType``,
``creditProfile.creditScore``, ``characteristic.value``). Its tokens are the
path's values typed by the domain (:func:`~sandbox.domain.attributes.comparable`
with what the schema says the path holds), so an equality filter is answered
by looking up the typed values it compares with (:func:`query.candidates`)
and an ordering operator, or ``.ne``, by testing each *distinct* typed value
once (:func:`query.admits`): exact answers, never a candidate list to re-test.

Objects reached at a path are not keyed (their JSON text would copy the
document); a filter that could match one (an ``.eq`` candidate of JSON text
other than ``null``, a ``.ne`` where objects are held) is left to the scan.

Compact: ranks keep their own dicts (a key is the bare typed value, no tuple),
a bucket holding one document is that doc id (the table's own int object),
and larger buckets are sorted ``array('q')`` (8 bytes a posting, never walked
by the garbage collector). Built once a search needs the path, from the
stored bytes through a projection (:meth:`PathIndex.fill`), then kept up to
date on every write (:meth:`PathIndex.replace`).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

from sandbox.backends.tinydb.projection import projection
from sandbox.domain import query
from sandbox.domain.attributes import Comparable, attribute_type, comparable, values_at

Path = tuple[str, ...]
Bucket = Union[int, "array[int]"]
#: Exact doc ids, ascending (a bucket as it is, or a merge of several).
Ids = Union[Sequence[int], "array[int]"]


def _ids(bucket: Bucket) -> Sequence[int]:
    return (bucket,) if isinstance(bucket, int) else bucket


class PathIndex:
    """Every typed value at one attribute path, with the doc ids holding it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.hint = attribute_type(path)
        #: rank -> typed value -> doc ids (one int, or a sorted array of two or more).
        self.keys: dict[str, dict[Any, Bucket]] = {}
        #: Doc ids holding an object at the path (not keyed).
        self.objects: set[int] = set()

    # -- writes -------------------------------------------------------------------

    def tokens(self, document: Any) -> tuple[set[Comparable], bool]:
        """The typed values ``document`` holds at the path, and whether it holds an object."""
        found: set[Comparable] = set()
        objects = False
        if document is None:
            return found, objects
        for value in values_at(document, self.path):
            if isinstance(value, dict):
                objects = True
            else:
                found.add(comparable(value, self.hint))
        return found, objects

    def replace(self, doc_id: int, before: Any, after: Any) -> None:
        """``doc_id`` held ``before`` and now holds ``after`` (None: no document)."""
        old, old_objects = self.tokens(before)
        new, new_objects = self.tokens(after)
        for rank, key in old - new:
            self._take(doc_id, rank, key)
        for rank, key in new - old:
            self._put(doc_id, rank, key)
        if new_objects:
            self.objects.add(doc_id)
        elif old_objects:
            self.objects.discard(doc_id)

    def _put(self, doc_id: int, rank: str, key: Any) -> None:
        keyed = self.keys.get(rank)
        if keyed is None:
            keyed = self.keys[rank] = {}
        bucket = keyed.get(key)
        if bucket is None:
            keyed[key] = doc_id
        elif isinstance(bucket, int):
            if bucket != doc_id:
                keyed[key] = array("q", sorted((bucket, doc_id)))
        elif bucket[-1] < doc_id:  # the common case: a new document, or a fill in order
            bucket.append(doc_id)
        else:
            at = bisect.bisect_left(bucket, doc_id)
            if at == len(bucket) or bucket[at] != doc_id:
                bucket.insert(at, doc_id)

    def _take(self, doc_id: int, rank: str, key: Any) -> None:
        keyed = self.keys.get(rank, {})
        bucket = keyed.get(key)
        if bucket is None:
            return
        if isinstance(bucket, int):
            if bucket == doc_id:
                del keyed[key]
            return
        at = bisect.bisect_left(bucket, doc_id)
        if at < len(bucket) and bucket[at] == doc_id:
            del bucket[at]
        if len(bucket) == 1:
            keyed[key] = bucket[0]

    def fill(self, rows: Mapping[int, bytes]) -> None:
        """Index stored documents (doc id -> JSON), decoding only the path."""
        decoder = projection(frozenset({self.path}))
        for doc_id, packed in rows.items():
            self.replace(doc_id, None, decoder.view(packed))

    # -- reads --------------------------------------------------------------------

    def answers(self, f: query.Filter) -> bool:
        """Whether :meth:`find` gives ``f``'s exact matches."""
        if f.hint != self.hint or f.path != self.path:
            return False
        if f.op == "eq":
            return all(rank != "json" or key == "null" for rank, key in query.candidates(f))
        if f.op == "ne":
            return not self.objects
        return f.op in query.ORDERING

    def find(self, f: query.Filter) -> Ids:
        """The doc ids matching ``f`` (one :meth:`answers`), ascending."""
        if f.op == "eq":
            found = [bucket for rank, key in query.candidates(f)
                     if (bucket := self.keys.get(rank, {}).get(key)) is not None]
            if len(found) == 1:
                return _ids(found[0])
            return sorted({doc_id for bucket in found for doc_id in _ids(bucket)})
        # A value is compared only with bounds of its own rank (query.bounds): other
        # ranks' values, say every name for a numeric bound, are not even looked at.
        ranks = ({rank for rank, _ in query.bounds(f)} if f.op in query.ORDERING
                 else set(self.keys))
        matched: set[int] = set()
        for rank in ranks:
            for key, bucket in self.keys.get(rank, {}).items():
                if query.admits(f, (rank, key)):
                    matched.update(_ids(bucket))
        return sorted(matched)


def intersection(found: Iterable[Ids | set[int]]) -> Ids | set[int]:
    """The doc ids in every one of ``found``: one of them as it is, or a set."""
    ordered = sorted(found, key=len)
    if len(ordered) == 1:
        return ordered[0]
    common = set(ordered[0])
    for ids in ordered[1:]:
        common.intersection_update(ids)
    return common
