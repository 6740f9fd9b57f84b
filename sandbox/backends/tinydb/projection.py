"""Decode only the attributes a search reads: projections of stored JSON.

A filter on ``contactMedium.mediumType`` needs one short list out of a 2 KB
document; decoding all of it (orjson) is most of what a scan costs. A
:class:`Projection` is a msgspec decoder for a tree of ``Struct`` types that
holds exactly the attribute paths asked for (an array anywhere along a path
fans out, as :func:`sandbox.domain.attributes.values_at` does), and skips the
rest of the document without building it.

``view(packed)`` returns a plain dict holding just those paths, so the same
:func:`values_at` reaches the same values on the view as on the whole
document. A document whose shape the types do not cover (a string where an
object is expected, nested arrays) is decoded whole instead: the result is
the same, only slower.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Union

import msgspec
import orjson

Path = tuple[str, ...]


def _tree(paths: Iterable[Path]) -> dict[str, Any]:
    """The paths as nested dicts; a leaf (the whole value is needed) is None."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for depth, key in enumerate(path):
            if depth == len(path) - 1:
                node[key] = None  # the whole value: covers any longer path through it
                break
            child = node.get(key, {})
            if child is None:
                break
            node[key] = child
            node = child
    return tree


def _struct(tree: dict[str, Any], counter: list[int]) -> Any:
    fields: list[tuple[str, Any, Any]] = []
    rename: dict[str, str] = {}
    for number, (key, child) in enumerate(sorted(tree.items())):
        name = f"f{number}"  # keys such as "@type" are not identifiers
        rename[name] = key
        if child is None:
            kind: Any = Any
        else:
            inner = _struct(child, counter)
            kind = Union[list[inner], inner, None]  # type: ignore[valid-type]  # noqa: UP007
        fields.append((name, kind, msgspec.UNSET))
    counter[0] += 1
    return msgspec.defstruct(f"View{counter[0]}", fields, rename=rename,
                             omit_defaults=True)


class Projection:
    """A decoder for the attributes at ``paths`` (and ``id``, which ``href`` derives from)."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self.paths = frozenset(paths) | {("id",)}
        self._decoder = msgspec.json.Decoder(_struct(_tree(self.paths), [0]))

    def view(self, packed: bytes) -> dict[str, Any]:
        """A dict holding the document's values at the projection's paths."""
        try:
            found = msgspec.to_builtins(self._decoder.decode(packed))
        except msgspec.DecodeError:  # a shape the types do not cover: decode it all
            whole: dict[str, Any] = orjson.loads(packed)
            return whole
        view: dict[str, Any] = found
        return view


@lru_cache(maxsize=64)
def projection(paths: frozenset[Path]) -> Projection:
    """The (cached) projection for ``paths``: building the types costs more than a decode."""
    return Projection(paths)
