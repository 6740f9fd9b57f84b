"""TMF630 sorting (``sort=name,-validFor.startDateTime``) as plain functions.

Each key is an attribute path, ascending unless prefixed by ``-`` (``+`` is
accepted, and arrives as a space when a client did not percent-encode it).
Values compare by type, as in filters: numbers as numbers, date-times as
instants. The sort is stable, customers without a value come last in either
direction, and an attribute no customer has leaves the order as it was. When
a path reaches several values (through an array), the smallest one counts for
an ascending key and the largest for a descending one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.domain.attributes import (
    Comparable,
    ValueType,
    attribute_type,
    comparable,
    sort_key,
    split_path,
    values_at,
)
from sandbox.errors import bad_request

#: What a null is typed as: it counts as no value (the customer sorts as one without it).
NO_VALUE: Comparable = comparable(None)


@dataclass(frozen=True)
class SortKey:
    path: tuple[str, ...]
    descending: bool = False
    hint: ValueType | None = None


def parse_sort(raws: Iterable[str]) -> list[SortKey]:
    """Every ``sort`` parameter, comma-separated keys, as :class:`SortKey` list."""
    keys = []
    for raw in raws:
        for item in raw.split(","):
            text = item.strip()
            if not text:
                continue
            descending = text.startswith("-")
            name = text[1:].strip() if text[0] in "+-" else text
            path = split_path(name) if name else None
            if path is None:
                raise bad_request(f"Sort key '{text}' is not a valid attribute path "
                                  "(use name, -name or +name)", reason="Invalid sort")
            keys.append(SortKey(path, descending, attribute_type(path)))
    return keys


def _key(document: Mapping[str, Any], key: SortKey,
         seen: dict[tuple[type, Any], tuple[int, Any]]) -> tuple[int, Any] | None:
    found = []
    for value in values_at(document, key.path):
        if value is None:  # NO_VALUE
            continue
        if isinstance(value, (str, int, float)):
            # Many documents share a value (a status, a date): type it once per sort.
            memo = (type(value), value)
            typed = seen.get(memo)
            if typed is None:
                typed = seen[memo] = sort_key(comparable(value, key.hint))
            found.append(typed)
        else:
            found.append(sort_key(comparable(value, key.hint)))
    if not found:
        return None
    return max(found) if key.descending else min(found)


def sort_documents(documents: Sequence[Mapping[str, Any]],
                   keys: Sequence[SortKey]) -> list[Mapping[str, Any]]:
    """``documents`` ordered by ``keys`` (the first key is the primary one)."""
    ordered = list(documents)
    # Stable sorts applied from the last key to the first give a multi-key order.
    for key in reversed(keys):
        seen: dict[tuple[type, Any], tuple[int, Any]] = {}
        pairs = [(_key(doc, key, seen), doc) for doc in ordered]
        present = [(k, doc) for k, doc in pairs if k is not None]
        missing = [doc for k, doc in pairs if k is None]
        # reverse=True keeps equal items in their original order, as needed.
        present.sort(key=lambda pair: pair[0], reverse=key.descending)
        ordered = [doc for _, doc in present] + missing
    return ordered
