"""Attribute paths and typed values, shared by filtering, sorting and patch queries.

TMF630 compares numbers as numbers, date-times as instants and booleans as
booleans. What an attribute path holds comes from the TMF629 ``Customer``
schema (``creditProfile.creditScore`` is an integer, ``validFor.startDateTime``
a date-time); where the schema says nothing (extension attributes, the ``Any``
value of a characteristic) the stored value's own JSON type decides.

Along a path, arrays fan out: ``contactMedium.mediumType`` reaches the
``mediumType`` of every contact medium.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal

import schemas

#: ``string``: plain text; ``date-time``: an instant; ``any``: the schema
#: defines the attribute but not its type.
ValueType = Literal["string", "date-time", "number", "boolean", "object", "any"]
SCALAR_TYPES: frozenset[str] = frozenset({"string", "date-time", "number", "boolean"})

#: Ranks order values of different types in a sort: numbers, instants, text,
#: booleans, then anything else by its JSON text.
Rank = Literal["number", "date-time", "string", "boolean", "json"]
RANK_ORDER: dict[str, int] = {"number": 0, "date-time": 1, "string": 2, "boolean": 3, "json": 4}
Comparable = tuple[str, Any]
#: An attribute path: ``("contactMedium", "mediumType")``.
Path = tuple[str, ...]

# RFC 3339 and the ISO 8601 forms partners actually send: a date alone, minutes
# without seconds, any number of fraction digits, Z or an offset with or without colon.
# A space before an offset is a "+" that a query string decoded ("...T10:00:00 02:00").
_INSTANT = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<hm>\d{2}:\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d+))?)?"
    r"(?P<tz>[Zz]|[+\- ]\d{2}:?\d{2})?)?$"
)
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$")


def split_path(name: str) -> tuple[str, ...] | None:
    """``a.b.c`` as ``("a", "b", "c")``; None when a segment is empty."""
    path = tuple(name.split("."))
    return path if all(path) else None


def _fan_out(values: list[Any]) -> list[Any]:
    """``values`` with every array replaced by its items, nested arrays too, in order.

    The one rule for arrays along an attribute path, which filters, sorts,
    indexes and the PostgreSQL facts share: an array stands for its items.
    """
    for value in values:  # (a loop, not any(): this runs for every value of every scan)
        if isinstance(value, list):
            break
    else:
        return values
    out: list[Any] = []
    for value in values:
        out.extend(_fan_out(value) if isinstance(value, list) else (value,))
    return out


def values_at(document: Any, path: Sequence[str]) -> list[Any]:
    """Every value reached by following ``path``; arrays fan out at each step.

    Level by level, without a generator per level: every search runs this for
    every candidate document.
    """
    current = [document]
    for name in path:
        current = [node[name] for node in _fan_out(current)
                   if isinstance(node, dict) and name in node]
    return _fan_out(current)


def walk(document: Any) -> Iterator[tuple[Path, Any]]:
    """Every attribute path of ``document`` with each value :func:`values_at` reaches
    there, depth first, an object before its members."""

    def visit(value: Any, at: Path) -> Iterator[tuple[Path, Any]]:
        for item in _fan_out([value]):
            if at:
                yield at, item
            if isinstance(item, dict):
                for name, member in item.items():
                    yield from visit(member, (*at, name))

    return visit(document, ())


#: One encoder: json.dumps with options builds a new one per call, and every write types
#: each number and boolean of the document (the PostgreSQL facts) through as_text.
_TEXT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def as_text(value: Any) -> str:
    """The text a query string would carry for ``value`` (``true``, ``42``, ...)."""
    if isinstance(value, str):
        return value
    return _TEXT.encode(value)


# -- what the schema says -------------------------------------------------------


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` to sibling schema files and ``items`` of arrays."""
    for _ in range(16):  # the schemas nest a handful of levels; this bounds a cycle
        if "$ref" in schema:
            schema = schemas.load(schema["$ref"].removesuffix(".schema.json"))
        elif schema.get("type") == "array" and isinstance(schema.get("items"), dict):
            schema = schema["items"]
        else:
            break
    return schema


# Bounded: the paths come from clients, who could otherwise grow the cache forever.
@lru_cache(maxsize=2048)
def attribute_type(path: tuple[str, ...], root: str = "Customer") -> ValueType | None:
    """The type the ``root`` schema gives ``path``; None when it does not define it."""
    schema = _resolve(schemas.load(root))
    for name in path:
        properties = schema.get("properties")
        if not isinstance(properties, dict) or name not in properties:
            return None
        schema = _resolve(properties[name])
    kind = schema.get("type")
    if kind == "string":
        return "date-time" if schema.get("format") == "date-time" else "string"
    if kind in ("integer", "number"):
        return "number"
    if kind == "boolean":
        return "boolean"
    if kind == "object" or "properties" in schema:
        return "object"
    return "any"


# -- parsing query text -------------------------------------------------------------


def parse_instant(text: str) -> datetime | None:
    """An RFC 3339 / ISO 8601 date-time as an aware instant (UTC when no offset).

    ``datetime.fromisoformat`` before Python 3.11 accepts neither ``Z`` nor
    fractions other than 3 or 6 digits, so the text is normalised first.
    """
    match = _INSTANT.match(text.strip())
    if match is None:
        return None
    normalised = match["date"]
    if match["hm"]:
        fraction = (match["frac"] or "0")[:6].ljust(6, "0")
        normalised += f"T{match['hm']}:{match['s'] or '00'}.{fraction}"
        tz = (match["tz"] or "").replace(" ", "+")
        if tz and tz not in "Zz":
            normalised += tz if ":" in tz else f"{tz[:3]}:{tz[3:]}"
    try:
        parsed = datetime.fromisoformat(normalised)
    except ValueError:  # 2024-02-30, 25:00 ...
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def parse_number(text: str) -> Decimal | None:
    # Decimal, not float: 0.1 + 0.2 style surprises must not decide a filter.
    if not _NUMBER.match(text.strip()):
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:  # pragma: no cover  (the pattern already excludes it)
        return None


def parse_boolean(text: str) -> bool | None:
    lowered = text.strip().lower()
    return {"true": True, "false": False}.get(lowered)


def parse_as(text: str, kind: str) -> Any | None:
    """Query text as a value of ``kind`` (a rank or a schema type); None if it is not one."""
    if kind == "number":
        return parse_number(text)
    if kind == "date-time":
        return parse_instant(text)
    if kind == "boolean":
        return parse_boolean(text)
    return text


# -- stored values as comparables -------------------------------------------------------


def comparable(value: Any, hint: ValueType | None = None) -> Comparable:
    """A stored value as ``(rank, key)``; keys of one rank compare with each other.

    Strings become instants when the schema says date-time, or, for untyped
    attributes, when they read as one.
    """
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, (int, float)):
        try:
            return ("number", Decimal(repr(value)))
        except InvalidOperation:  # nan / inf cannot come from JSON, but be safe
            return ("json", as_text(value))
    if isinstance(value, str):
        if hint in ("date-time", "any", None):
            instant = parse_instant(value)
            if instant is not None:
                return ("date-time", instant)
        return ("string", value)
    return ("json", as_text(value))


def sort_key(item: Comparable) -> tuple[int, Any]:
    return RANK_ORDER[item[0]], item[1]
