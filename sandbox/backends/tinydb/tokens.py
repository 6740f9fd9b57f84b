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

Compact: ranks keep their own dicts (a key is the bare typed value, no tuple)
and buckets are :mod:`postings` (a doc id, or a bitmap of two or more), so
counts, OR lists and intersections cost microseconds. The paths partners
filter on most (:data:`COMMON_PATHS`) are indexed by every table from the
start (a snapshot fills them in the pass that loads it); any other path once
a search needs it, from the stored bytes through a projection
(:meth:`PathIndex.fill`). Either way a pass notes each document under its
*raw* values and types each distinct value once (:meth:`PathIndex.gather`,
:meth:`PathIndex.fill_gathered`); after that every write keeps the index up
to date (:meth:`PathIndex.replace`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyroaring import BitMap

from sandbox.backends.tinydb import postings
from sandbox.backends.tinydb.postings import Bucket, Held
from sandbox.backends.tinydb.projection import projection
from sandbox.domain import query
from sandbox.domain.attributes import Comparable, attribute_type, comparable, values_at

Path = tuple[str, ...]
#: Indexed by every table from the start: the paths partners filter on most, each with
#: a few distinct values (a store of 100,000 seed customers: a few MiB in all).
COMMON_PATHS: tuple[Path, ...] = (
    ("contactMedium", "mediumType"), ("characteristic", "name"), ("characteristic", "value"),
    ("creditProfile", "creditScore"), ("validFor", "startDateTime"),
)
#: A raw value at the path, as a pass over the store notes it: a string itself, any
#: other scalar (its class, itself), so ``1``, ``1.0`` and ``True`` stay apart until typed.
Raw = str | tuple[type, Any]
_ABSENT = object()


class PathIndex:
    """Every typed value at one attribute path, with the doc ids holding it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.hint = attribute_type(path)
        #: rank -> typed value -> doc ids (one int, or a bitmap of two or more).
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
        for value in self.values(document):
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
        keyed[key] = postings.add(keyed.get(key), doc_id)

    def _take(self, doc_id: int, rank: str, key: Any) -> None:
        keyed = self.keys.get(rank, {})
        bucket = postings.discard(keyed.get(key), doc_id)
        if bucket is not None:
            keyed[key] = bucket
        else:
            keyed.pop(key, None)

    def values(self, document: Any) -> list[Any]:
        """``values_at(document, self.path)``; a two-step path (the common ones) without
        its calls, when no array nests in another."""
        if len(self.path) != 2 or not isinstance(document, dict):
            return values_at(document, self.path)
        first = document.get(self.path[0], _ABSENT)
        name = self.path[1]
        found: list[Any] = []
        for item in first if isinstance(first, list) else (first,):
            if isinstance(item, dict):
                if name in item:
                    value = item[name]
                    if isinstance(value, list):
                        return values_at(document, self.path)
                    found.append(value)
            elif isinstance(item, list):
                return values_at(document, self.path)
        return found

    def gather(self, doc_id: int, document: Any, groups: dict[Raw, Held]) -> None:
        """Note the raw values ``document`` holds at the path in ``groups`` (and whether it
        holds an object): a pass over the store, before :meth:`fill_gathered`."""
        for value in self.values(document):
            if isinstance(value, dict):
                self.objects.add(doc_id)
                continue
            # (postings.note inlined: start-up runs this for every document and path.)
            # A string is its own raw key; anything else carries its class (1, 1.0, True).
            key: Raw = value if isinstance(value, str) else (value.__class__, value)
            held = groups.get(key)
            if held is None:
                groups[key] = doc_id
            elif isinstance(held, int):
                groups[key] = [held, doc_id]
            else:
                held.append(doc_id)

    def fill_gathered(self, groups: dict[Raw, Held]) -> None:
        """Type each distinct raw value once and take the buckets (an index nothing was
        put in yet): raw values typed alike (``602``, ``602.0``) share one bucket."""
        typed: dict[Comparable, Held] = {}
        for raw, held in groups.items():
            token = comparable(raw if isinstance(raw, str) else raw[1], self.hint)
            typed[token] = postings.merged(typed[token], held) if token in typed else held
        for (rank, key), bucket in postings.grouped(typed).items():
            self.keys.setdefault(rank, {})[key] = bucket

    def fill(self, rows: Mapping[int, bytes]) -> None:
        """Index stored documents (doc id -> JSON), decoding only the path."""
        decoder = projection(frozenset({self.path}))
        groups: dict[Raw, Held] = {}
        for doc_id, packed in rows.items():
            self.gather(doc_id, decoder.view(packed), groups)
        self.fill_gathered(groups)

    def shape(self) -> tuple[dict[str, dict[Any, set[int]]], set[int]]:
        """The index as plain values (doc id sets by rank and key; the objects)."""
        return ({rank: {key: set(postings.bitmap(bucket)) for key, bucket in keyed.items()}
                 for rank, keyed in self.keys.items() if keyed}, set(self.objects))

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

    def find(self, f: query.Filter) -> BitMap:
        """The doc ids matching ``f`` (one :meth:`answers`), a bitmap of its own."""
        if f.op == "eq":
            return postings.union(self.keys.get(rank, {}).get(key)
                                  for rank, key in query.candidates(f))
        # A value is compared only with bounds of its own rank (query.bounds): other
        # ranks' values, say every name for a numeric bound, are not even looked at.
        ranks = ({rank for rank, _ in query.bounds(f)} if f.op in query.ORDERING
                 else set(self.keys))
        return postings.union(bucket for rank in ranks
                              for key, bucket in self.keys.get(rank, {}).items()
                              if query.admits(f, (rank, key)))
