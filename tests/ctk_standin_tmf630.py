"""The stand-in's TMF630 behaviour: filters with operators, sort, paging, PATCH types.

Deliberately small and written without the sandbox's code, so the harness's
X1 folder is checked against a second implementation: dotted filter paths
(arrays fan out) with ``.eq .ne .gt .gte .lt .lte``, ``sort`` on one or more
paths, ``offset``/``limit`` with a ``Link`` header, and PATCH in merge-patch
or JSON Patch (through ``jsonpatch``). :mod:`ctk_faults` switches each part
off to play a server that lacks it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlencode

import jsonpatch

MERGE = "application/merge-patch+json"
JSON = "application/json"
JSON_PATCH = "application/json-patch+json"

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "gte": operator.ge,
    "lt": operator.lt, "lte": operator.le,
}


def values(document: Any, path: Sequence[str]) -> Iterator[Any]:
    if isinstance(document, list):
        for item in document:
            yield from values(item, path)
    elif not path:
        yield document
    elif isinstance(document, dict) and path[0] in document:
        yield from values(document[path[0]], path[1:])


def split_operator(name: str) -> tuple[list[str], str]:
    path = name.split(".")
    if len(path) > 1 and path[-1] in _COMPARE:
        return path[:-1], path[-1]
    return path, "eq"


def _typed(value: Any, text: str) -> tuple[Any, Any]:
    """Compare numbers as numbers, everything else as text (ISO dates sort as text)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return value, float(text)
        except ValueError:
            return str(value), text
    return (str(value).lower(), text) if isinstance(value, bool) else (str(value), text)


def matches(item: dict[str, Any], name: str, text: str) -> bool:
    path, op = split_operator(name)
    return any(_COMPARE[op](*_typed(value, text)) for value in values(item, path))


def sort(items: list[dict[str, Any]], raw: str) -> list[dict[str, Any]]:
    ordered = list(items)
    for key in reversed([k.strip() for k in raw.split(",") if k.strip()]):
        descending = key.startswith("-")
        path = key.lstrip("+-").split(".")
        present = [i for i in ordered if next(values(i, path), None) is not None]
        missing = [i for i in ordered if next(values(i, path), None) is None]
        present.sort(key=lambda i: str(next(values(i, path))), reverse=descending)
        ordered = present + missing
    return ordered


def link_header(url: str, query: list[tuple[str, str]], offset: int, limit: int,
                total: int) -> str:
    kept = [(k, v) for k, v in query if k not in ("offset", "limit")]
    rels = {"first": 0, "last": max(0, (total - 1) // limit * limit) if limit else 0}
    if offset + limit < total:
        rels["next"] = offset + limit
    if offset > 0:
        rels["prev"] = max(0, offset - limit)
    return ", ".join(
        f'<{url}?{urlencode([*kept, ("offset", at), ("limit", limit)])}>; rel="{rel}"'
        for rel, at in rels.items())


def merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def patch(stored: dict[str, Any], body: Any, media_type: str) -> dict[str, Any]:
    """The patched customer; ValueError when the patch cannot apply."""
    if media_type == JSON_PATCH:
        try:
            result = jsonpatch.JsonPatch(body).apply(stored)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
            raise ValueError(str(exc)) from None
    elif isinstance(body, dict):
        result = merge(stored, body)
    else:
        raise ValueError("a merge patch is a JSON object")
    if not isinstance(result, dict) or result.get("id") != stored["id"]:
        raise ValueError("id cannot change")
    return result
