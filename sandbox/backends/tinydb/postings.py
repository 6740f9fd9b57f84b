"""Postings: the doc ids an index holds for one value, as compressed bitmaps.

Every index of the file store (equality indexes, token indexes, the answers
they give a search) keeps its doc ids here. A bucket holding one document is
that doc id itself (an int: 100,000 unique names must not cost 100,000
containers); two or more are a Roaring bitmap (:class:`pyroaring.BitMap`),
kept in ascending order, so that what a list query does with 76,000 ids costs
microseconds, not a pass over them in Python: the exact count (``len``),
unions for an OR list, intersections for several filters, and the page in
storage order (``ids[offset:end]`` selects by rank). A bitmap of 76,000 dense
ids takes a few kilobytes.

Doc ids are 32-bit (:data:`MAX_DOC_ID`): a table holds them from 1 upwards,
and a store of four billion documents could not be held in memory anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pyroaring import BitMap

#: One value's documents: a doc id, or a bitmap of two or more.
Bucket = int | BitMap
K = TypeVar("K")
#: The largest doc id a bitmap holds.
MAX_DOC_ID = 2**32 - 1


def add(bucket: Bucket | None, doc_id: int) -> Bucket:
    """``bucket`` with ``doc_id`` (a bitmap is changed in place and returned)."""
    if bucket is None:
        return doc_id
    if isinstance(bucket, int):
        return bucket if bucket == doc_id else BitMap((bucket, doc_id))
    bucket.add(doc_id)
    return bucket


def discard(bucket: Bucket | None, doc_id: int) -> Bucket | None:
    """``bucket`` without ``doc_id``: None once empty, the bare id once one is left."""
    if bucket is None or isinstance(bucket, int):
        return None if bucket == doc_id else bucket
    bucket.discard(doc_id)
    return bucket.min() if len(bucket) == 1 else bucket


def bitmap(bucket: Bucket | None) -> BitMap:
    """The bucket as a bitmap (a fresh one for an int or None; a bitmap as it is)."""
    if bucket is None:
        return BitMap()
    return BitMap((bucket,)) if isinstance(bucket, int) else bucket


def union(buckets: Iterable[Bucket | None]) -> BitMap:
    """Every doc id of ``buckets``, in one bitmap (never one of them: a caller may keep it)."""
    singles: list[int] = []
    maps: list[BitMap] = []
    for bucket in buckets:
        if isinstance(bucket, int):
            singles.append(bucket)
        elif bucket is not None:
            maps.append(bucket)
    found = BitMap.union(*maps) if len(maps) > 1 else BitMap(maps[0]) if maps else BitMap()
    if singles:
        found.update(singles)
    return found


def intersection(found: Iterable[BitMap]) -> BitMap:
    """The doc ids in every one of ``found`` (one of them as it is, when only one)."""
    ordered = list(found)
    if len(ordered) == 1:
        return ordered[0]
    return BitMap.intersection(*ordered)


#: Doc ids gathered for one key in a pass over a store: one id, or a list (duplicates allowed).
Held = int | list[int]


def note(groups: dict[K, Held], key: K, doc_id: int) -> None:
    """Gather ``doc_id`` under ``key``: one append, the bitmap is built once (:func:`grouped`)."""
    held = groups.get(key)
    if held is None:
        groups[key] = doc_id
    elif isinstance(held, int):
        groups[key] = [held, doc_id]
    else:
        held.append(doc_id)


def merged(one: Held, other: Held) -> list[int]:
    """Two gathered groups as one."""
    return [*((one,) if isinstance(one, int) else one),
            *((other,) if isinstance(other, int) else other)]


def grouped(groups: dict[K, Held]) -> dict[K, Bucket]:
    """The buckets of what :func:`note` gathered: ``groups`` itself, its lists turned
    into bitmaps in place (a store's 100,000 names are not copied to a new dict)."""
    buckets: dict[K, Any] = groups
    for key, held in groups.items():
        if not isinstance(held, int):
            bucket = BitMap(held)
            buckets[key] = bucket.min() if len(bucket) == 1 else bucket
    return buckets
