"""Typed facts: what each attribute path of a document holds, ready for SQL.

The TinyDB backend evaluates a filter by walking the document
(:func:`~sandbox.domain.attributes.walk`) and typing each value
(:func:`~sandbox.domain.attributes.comparable`, which depends on what the
schema says the path holds). PostgreSQL cannot run that Python, and JSONB
alone cannot tell a date-time string from text or rank mixed types the same
way. So each stored document carries, beside itself, its *facts*: a JSON
object mapping every path reached (the same ``walk``: arrays fan out) to
the list of its values, typed once at write time by the very same functions.
The SQL of :mod:`sandbox.backends.postgres.sql_query` then compares facts, which makes
both backends agree by construction.

A fact is ``{"o": rank, ...}`` with the rank's position in
:data:`~sandbox.domain.attributes.RANK_ORDER` and one key: ``n`` (a number,
or a date-time as microseconds since 1970), ``s`` (text, or the JSON text of
anything else) or ``b`` (a boolean); ``t`` is the text a regular expression
sees when it differs from ``s``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from sandbox.domain.attributes import (
    RANK_ORDER,
    Comparable,
    as_text,
    attribute_type,
    comparable,
    walk,
)

#: Joins path segments into one key; a dot could be part of a member name.
SEPARATOR = "\x1f"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
NUMBER, INSTANT, TEXT, BOOLEAN, JSON = (RANK_ORDER[r] for r in
                                        ("number", "date-time", "string", "boolean", "json"))

Fact = dict[str, Any]


def path_key(path: tuple[str, ...]) -> str:
    return SEPARATOR.join(path)


def micros(instant: datetime) -> int:
    """An instant as whole microseconds since 1970, exactly (no float)."""
    delta = instant - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def typed(item: Comparable) -> tuple[int, Any]:
    """A comparable (a stored value's, or one a filter compares with) as a fact holds it:
    the rank's number and the key, an instant as microseconds."""
    rank, key = item
    return RANK_ORDER[rank], micros(key) if rank == "date-time" else key


def fact(value: Any, path: tuple[str, ...]) -> Fact:
    """One stored value typed as the filter evaluator types it at ``path``."""
    order, key = typed(comparable(value, attribute_type(path)))
    if order == NUMBER:
        # The value itself, not the Decimal: json.dumps writes the same digits.
        return {"o": order, "n": value, "t": as_text(value)}
    if order == INSTANT:
        return {"o": order, "n": key, "t": value}
    if order == BOOLEAN:
        return {"o": order, "b": key, "t": as_text(value)}
    return {"o": order, "s": key}  # text, or the JSON text of an object / array / null


def facts_of(document: Mapping[str, Any]) -> dict[str, list[Fact]]:
    """Every path of ``document`` (:func:`~sandbox.domain.attributes.walk`: arrays fan
    out) mapped to its typed values."""
    found: dict[str, list[Fact]] = {}
    for path, value in walk(document):
        found.setdefault(path_key(path), []).append(fact(value, path))
    return found
