"""JSON Patch Query (TMF630): JSON Patch paths that select array elements by a query.

``{"op": "replace", "path": "/contactMedium/preferred?mediumType=email",
"value": true}`` sets ``preferred`` on every contact medium whose
``mediumType`` is ``email``; ``{"op": "remove", "path":
"/characteristic?name=segment"}`` removes every characteristic named
``segment``.

The part before ``?`` is a JSON Pointer whose arrays fan out (a numeric
segment still picks one element); the part after is a TMF query on array
elements: conditions joined by ``&``, each with the filter language of
:mod:`sandbox.domain.query` (operators, comma for OR). A condition applies to
the deepest array the path crosses, unless its name starts with the dotted
path of a crossed array (``contactMedium.mediumType=email``): then it applies
to that array's elements. The operation is applied at every selected
location. Selecting nothing is a 400, as RFC 6902 makes a missing path one.
Only ``add``, ``remove``, ``replace`` and ``test`` take a query.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl

from sandbox.domain import query
from sandbox.errors import ApiError, bad_request

QUERY_OPS = ("add", "remove", "replace", "test")
MAX_SEGMENTS = 32

#: (dotted path of an array, one of its elements) for every array a location crosses.
Trail = list[tuple[tuple[str, ...], Any]]


def split(path: str) -> tuple[str, str | None]:
    """``/a/b?x=1`` as ``("/a/b", "x=1")``; the query is None when there is no ``?``."""
    pointer, mark, text = path.partition("?")
    return pointer, (text if mark else None)


def _segments(pointer: str) -> list[str]:
    if not pointer:
        return []
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def _pointer(segments: Sequence[str]) -> str:
    return "".join("/" + s.replace("~", "~0").replace("/", "~1") for s in segments)


def _is_index(segment: str) -> bool:
    if segment == "-":
        return True
    return segment.isascii() and segment.isdigit() and (segment == "0" or segment[0] != "0")


def _walk(node: Any, segments: Sequence[str], i: int, pointer: list[str], names: list[str],
          trail: Trail) -> Iterator[tuple[list[str], Trail]]:
    """Every concrete location ``segments`` reaches, with the arrays it crossed."""
    at_end = i == len(segments)
    if isinstance(node, list) and (at_end or not _is_index(segments[i])):
        prefix = tuple(names)
        for position, item in enumerate(node):
            yield from _walk(item, segments, i, [*pointer, str(position)], names,
                             [*trail, (prefix, item)])
        return
    if at_end:
        yield pointer, trail
        return
    segment, last = segments[i], i == len(segments) - 1
    if isinstance(node, dict):
        if segment in node:
            yield from _walk(node[segment], segments, i + 1, [*pointer, segment],
                             [*names, segment], trail)
        elif last:
            yield [*pointer, segment], trail  # a member that "add" may create
    elif isinstance(node, list):
        if segment == "-" or int(segment) >= len(node):
            if last:
                yield [*pointer, segment], trail
            return
        yield from _walk(node[int(segment)], segments, i + 1, [*pointer, segment], names, trail)


def _target(name: str, prefixes: Sequence[tuple[str, ...]]) -> tuple[tuple[str, ...], str]:
    """Which crossed array a condition applies to, and its name relative to the element."""
    parts = tuple(name.split("."))
    for prefix in reversed(prefixes):  # the deepest array that the name spells out
        if prefix and len(parts) > len(prefix) and parts[: len(prefix)] == prefix:
            return prefix, ".".join(parts[len(prefix):])
    return prefixes[-1], name


class _Conditions:
    """The query's conditions, parsed once per crossed array (types come from its path)."""

    def __init__(self, pairs: list[tuple[str, str]], deadline: float | None) -> None:
        self.pairs = pairs
        self.deadline = deadline
        self._parsed: dict[tuple[tuple[str, ...], tuple[tuple[str, str], ...]],
                           list[query.Filter]] = {}

    def hold(self, trail: Trail) -> bool:
        prefixes = [prefix for prefix, _ in trail]
        elements = dict(trail)  # the deepest element wins for a repeated prefix
        grouped: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        for name, value in self.pairs:
            prefix, relative = _target(name, prefixes)
            grouped.setdefault(prefix, []).append((relative, value))
        for prefix, pairs in grouped.items():
            key = (prefix, tuple(pairs))
            if key not in self._parsed:
                self._parsed[key] = query.parse_filters(pairs, scope=prefix,
                                                        deadline=self.deadline)
            if not query.matches(elements[prefix], self._parsed[key]):
                return False
        return True


def expand(document: Any, index: int, op: dict[str, Any], *,
           deadline: float | None = None) -> list[dict[str, Any]]:
    """The plain JSON Patch operations one (checked) operation stands for.

    ``deadline`` (``time.monotonic()``) bounds the regular expressions of all
    operations of one patch together.
    """
    pointer, text = split(op["path"])
    name = f"JSON Patch Query operation {index} ({op['op']} {op['path']})"
    if "?" in str(op.get("from", "")):
        raise bad_request(f"{name}: 'from' cannot carry a query", reason="Invalid patch")
    if text is None:
        return [op]
    if op["op"] not in QUERY_OPS:
        raise bad_request(f"{name}: only {', '.join(QUERY_OPS)} can select with a query",
                          reason="Invalid patch")
    segments = _segments(pointer)
    pairs = parse_qsl(text, keep_blank_values=True)
    if not pairs or len(segments) > MAX_SEGMENTS:
        raise bad_request(f"{name}: the query after '?' must hold conditions such as "
                          "name=value", reason="Invalid patch")
    conditions = _Conditions(pairs, deadline)
    selected: list[list[str]] = []
    try:
        for location, trail in _walk(document, segments, 0, [], [], []):
            if not trail:
                raise bad_request(f"{name}: the path crosses no array for the query to "
                                  "select in", reason="Invalid patch")
            if conditions.hold(trail):
                selected.append(location)
    except ApiError as exc:
        if exc.message.startswith(name):
            raise
        raise bad_request(f"{name}: {exc.message}", reason="Invalid patch") from None
    if not selected:
        raise bad_request(f"{name}: the query selects nothing", reason="Invalid patch")
    if op["op"] == "remove":
        # Later elements first, so removing one does not shift the next one's index.
        selected.reverse()
    return [{**op, "path": _pointer(location)} for location in selected]
