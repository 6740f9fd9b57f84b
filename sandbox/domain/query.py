"""TMF630 list queries as plain functions: filters and attribute selection.

A query parameter that is not reserved (``fields``, ``offset``, ``limit``,
``sort``) is an equality filter on a first-level attribute or a dotted path
into nested objects and arrays. Along a path, arrays fan out: the filter
matches when any reached value equals the query value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.errors import bad_request

RESERVED = frozenset({"fields", "offset", "limit", "sort"})
ALWAYS_SELECTED = ("id", "href", "@type")


@dataclass(frozen=True)
class Filter:
    """``path`` equals one of ``values`` (several values mean OR)."""

    path: tuple[str, ...]
    values: tuple[str, ...]

    @property
    def name(self) -> str:
        return ".".join(self.path)


def parse_filters(params: Iterable[tuple[str, str]]) -> list[Filter]:
    """Turn ``(name, value)`` pairs into filters; several filters mean AND."""
    filters = []
    for name, value in params:
        if name in RESERVED:
            continue
        path = tuple(name.split("."))
        if not all(path):
            raise bad_request(
                f"Filter '{name}' is not a valid attribute path", reason="Invalid filter"
            )
        filters.append(Filter(path, (value,)))
    return filters


def values_at(document: Any, path: Sequence[str]) -> Iterator[Any]:
    """Every value reached by following ``path``; arrays fan out at each step."""
    if isinstance(document, list):
        for item in document:
            yield from values_at(item, path)
        return
    if not path:
        yield document
        return
    if isinstance(document, dict) and path[0] in document:
        yield from values_at(document[path[0]], path[1:])


def as_query_text(value: Any) -> str:
    """The text a query string would carry for ``value`` (``true``, ``42``, ...)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def matches(document: Mapping[str, Any], filters: Iterable[Filter]) -> bool:
    return all(
        any(as_query_text(found) in f.values for found in values_at(document, f.path))
        for f in filters
    )


def parse_fields(raw: str | None) -> list[str] | None:
    """``fields=a,b`` as a list of names; None when every attribute is wanted."""
    if raw is None:
        return None
    return [name.strip() for name in raw.split(",") if name.strip()]


def select_fields(document: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """Keep the named first-level attributes plus ``id``, ``href`` and ``@type``."""
    if fields is None:
        return dict(document)
    wanted = set(fields) | set(ALWAYS_SELECTED)
    return {key: value for key, value in document.items() if key in wanted}


def parse_non_negative_int(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"'{name}' must be a non-negative integer, got '{raw}'") from None
    if value < 0:
        raise bad_request(f"'{name}' must be a non-negative integer, got '{raw}'")
    return value
