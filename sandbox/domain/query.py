"""TMF630 filters as plain functions: attribute paths, OR lists and operators.

A query parameter that is not reserved (``fields``, ``offset``, ``limit``,
``sort``) is a filter; several filters mean AND. The name is an attribute
path (``status``, ``engagedParty.id``, ``contactMedium.mediumType``),
optionally ending in an operator: ``.eq`` (the default), ``.ne``, ``.gt``,
``.gte``, ``.lt``, ``.lte`` or ``.regex``. A comma in the value means OR
(``status=Approved,Pending``); for ``.ne`` it means "none of these".

Along a path arrays fan out, and a filter holds when *any* reached value
satisfies it; a customer without the attribute never matches, even for
``.ne``. Values are compared by type (see :mod:`sandbox.domain.attributes`):
a malformed number or date for a typed attribute, an operator the server does
not know, or a bad regular expression is a 400 naming the parameter.

A regular expression is bounded by :mod:`sandbox.domain.patterns` (length,
repetition counts and compiled size checked before compiling, a bounded
cache, a server-wide cap on concurrent evaluations): one request may spend at
most the regex budget (0.5 s by default) matching, so catastrophic
backtracking ends in a 400, never in a busy server.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sandbox.domain import patterns
from sandbox.domain.attributes import (
    SCALAR_TYPES,
    Comparable,
    ValueType,
    as_text,
    attribute_type,
    comparable,
    parse_as,
    split_path,
    values_at,
)
from sandbox.errors import ApiError, bad_request

RESERVED = frozenset({"fields", "offset", "limit", "sort"})
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "regex")
ORDERING = frozenset({"gt", "gte", "lt", "lte"})

_EXAMPLES = {
    "number": "a number such as 700 or 12.5",
    "date-time": "a date-time such as 2024-01-01T00:00:00Z",
    "boolean": "true or false",
}


@dataclass(frozen=True)
class Filter:
    """One filter parameter, parsed: ``path`` ``op`` one of ``values``."""

    param: str
    path: tuple[str, ...]
    op: str
    #: The raw alternatives (for a string with commas, also the whole value).
    values: tuple[str, ...]
    #: What the schema says ``path`` holds; None for an unknown attribute.
    hint: ValueType | None = None
    #: ``values`` parsed to the schema type, when it is a number, date-time or boolean.
    typed: tuple[Any, ...] | None = None
    pattern: Any = None
    #: ``time.monotonic()`` after which a regular expression stops matching.
    deadline: float = 0.0

    @property
    def name(self) -> str:
        return ".".join(self.path)


def _invalid(param: str, raw: str, why: str) -> ApiError:
    return bad_request(f"Filter '{param}={raw}': {why}", reason="Invalid filter")


def parse_filter(
    name: str,
    raw: str,
    *,
    scope: tuple[str, ...] = (),
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Filter:
    """Parse one ``name=raw`` pair; ``scope`` prefixes the path for schema look-ups.

    ``deadline`` (a ``clock()`` time) ends regular-expression matching; by
    default the regex budget (:func:`budget`) from now.
    """
    path = split_path(name)
    if path is None:
        raise bad_request(f"Filter '{name}' is not a valid attribute path", reason="Invalid filter")
    op = "eq"
    if len(path) > 1 and path[-1] in OPERATORS:
        op, path = path[-1], path[:-1]
    elif len(path) > 1 and attribute_type(scope + path) is None:
        parent = attribute_type(scope + path[:-1])
        if parent in SCALAR_TYPES:
            # "name.like" cannot be an attribute: name is a string, so it is an operator.
            raise _invalid(name, raw, f"'{path[-1]}' is not a supported operator; use one "
                           f"of {', '.join('.' + o for o in OPERATORS)}")
    hint = attribute_type(scope + path)
    if op == "regex":
        ends = clock() + budget() if deadline is None else deadline
        return Filter(name, path, op, (raw,), hint, None, _compile(name, raw), ends)
    if op in ORDERING and hint in ("boolean", "object"):
        what = "a boolean" if hint == "boolean" else "an object; compare one of its attributes"
        raise _invalid(name, raw, f"'{'.'.join(path)}' is {what}, it cannot be {op}-compared")
    parts = tuple(raw.split(","))
    if hint in ("number", "date-time", "boolean"):
        typed = []
        for part in parts:
            value = parse_as(part, hint)
            if value is None:
                raise _invalid(name, raw, f"'{part}' is not {_EXAMPLES[hint]}")
            typed.append(value)
        return Filter(name, path, op, parts, hint, tuple(typed))
    # Free text may itself contain a comma ("Doe, John"): the whole value counts too.
    values = parts if len(parts) == 1 else (raw, *parts)
    return Filter(name, path, op, values, hint)


def budget() -> float:
    """Seconds one request (or one event's routing) may spend matching regexes."""
    return patterns.limits().budget_seconds


def _compile(param: str, pattern: str) -> Any:
    try:
        return patterns.compile_pattern(pattern)
    except patterns.PatternRefused as exc:
        shown = pattern if len(pattern) <= 60 else pattern[:57] + "..."
        raise _invalid(param, shown, str(exc)) from None


def parse_filters(
    params: Iterable[tuple[str, str]],
    *,
    scope: tuple[str, ...] = (),
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[Filter]:
    """Turn ``(name, value)`` pairs into filters, skipping the reserved names.

    All regular expressions of one call share one time budget (``deadline``).
    """
    ends = clock() + budget() if deadline is None else deadline
    return [parse_filter(name, value, scope=scope, deadline=ends, clock=clock)
            for name, value in params if name not in RESERVED]


# -- what a filter means: the typed values it compares with ----------------------------
# Every backend imports these (the TinyDB evaluation below, the SQL translator): what a
# filter means is decided here only.


def candidates(f: Filter) -> tuple[Comparable, ...]:
    """The typed values ``.eq`` and ``.ne`` compare with: a stored value equals the
    filter when its :func:`~sandbox.domain.attributes.comparable` is one of them.

    At a number, date-time or boolean attribute they are the values parsed to that
    type. Elsewhere each text stands for every stored value that reads as it: the text
    itself, the number, instant or boolean it spells and, when it opens with ``{`` or
    ``[`` or is ``null``, the JSON text of an object, array or null.
    """
    if f.typed is not None and f.hint is not None:
        return tuple((f.hint, value) for value in f.typed)
    return _every_reading(f.values)


def bounds(f: Filter) -> tuple[Comparable, ...]:
    """The typed values an ordering operator compares with; a stored value is compared
    only with those of its own rank.

    Untyped attributes take the query text's own type: ``value.gt=100`` is about
    numbers, and text such as "SME" is not greater than 100.
    """
    if f.typed is not None and f.hint is not None:
        return tuple((f.hint, value) for value in f.typed)
    if f.hint == "string":
        return tuple(("string", text) for text in f.values)
    return _first_reading(f.values)


def equal_texts(f: Filter) -> frozenset[str]:
    """The texts a stored string can equal under ``f``: its string candidates."""
    return frozenset(key for rank, key in candidates(f) if rank == "string")


# Cached by the texts: a scan asks once per stored value. Bounded: the texts come from clients.
@lru_cache(maxsize=1024)
def _every_reading(texts: tuple[str, ...]) -> tuple[Comparable, ...]:
    found: list[Comparable] = []
    for text in texts:
        found.append(("string", text))
        if text.startswith(("{", "[")) or text == "null":  # only these can be JSON texts
            found.append(("json", text))
        for rank in ("number", "date-time", "boolean"):
            value = parse_as(text, rank)
            if value is not None:
                found.append((rank, value))
    return tuple(found)


@lru_cache(maxsize=1024)
def _first_reading(texts: tuple[str, ...]) -> tuple[Comparable, ...]:
    found: list[Comparable] = []
    for text in texts:
        for rank in ("number", "date-time"):
            value = parse_as(text, rank)
            if value is not None:
                found.append((rank, value))
                break
        else:
            found.append(("string", text))
    return tuple(found)


# -- evaluation ------------------------------------------------------------------------


def _search(f: Filter, text: str) -> bool:
    with _regex_errors(f):
        return patterns.search(f.pattern, text, f.deadline)


def matching_texts(f: Filter, texts: Iterable[str], scanning: float = 0.0) -> frozenset[str]:
    """Which of ``texts`` a ``.regex`` filter's pattern occurs in (one batch).

    ``scanning``: seconds the caller spent since the filter was parsed
    without matching (reading the store); they move the deadline back, so the
    budget bounds the time spent matching, not the size of the store.
    """
    with _regex_errors(f):
        return patterns.select(f.pattern, texts, f.deadline + scanning)


@contextlib.contextmanager
def _regex_errors(f: Filter) -> Iterator[None]:
    try:
        yield
    except patterns.PatternTimeout:
        shown = f.values[0] if len(f.values[0]) <= 60 else f.values[0][:57] + "..."
        raise _invalid(f.param, shown, "the regular expression takes too long to "
                       f"evaluate (more than {budget():g} s for the request); "
                       "simplify it") from None
    except patterns.PatternBusy:
        raise _busy() from None


def _busy() -> ApiError:
    return ApiError(503, "The server is evaluating as many regular expressions as it "
                    "allows at once; retry shortly", reason="Busy", headers={"Retry-After": "1"})


@contextlib.contextmanager
def regex_slot(needed: bool) -> Iterator[None]:
    """Hold an evaluation slot for the whole request when it evaluates regexes
    (taken before the store's lock); a 503 when none frees up soon."""
    with contextlib.ExitStack() as stack:
        if needed:
            try:
                stack.enter_context(patterns.slot())
            except patterns.PatternBusy:
                raise _busy() from None
        yield


def uses_regex(filters: Iterable[Filter]) -> bool:
    return any(f.op == "regex" for f in filters)


def holds(f: Filter, value: Any) -> bool:
    """Whether one stored value satisfies ``f``."""
    if f.op == "regex":
        return _search(f, as_text(value))
    return admits(f, comparable(value, f.hint))


def admits(f: Filter, stored: Comparable) -> bool:
    """Whether a stored value typed as ``stored`` (its :func:`comparable` at ``f``'s
    attribute) satisfies ``f`` (any operator but ``.regex``): what an index keyed by
    typed values tests once per distinct value."""
    if f.op == "eq":
        return stored in candidates(f)
    if f.op == "ne":
        return stored not in candidates(f)
    same = [key for rank, key in bounds(f) if rank == stored[0]]
    key = stored[1]
    if f.op == "gt":
        return any(key > w for w in same)
    if f.op == "gte":
        return any(key >= w for w in same)
    if f.op == "lt":
        return any(key < w for w in same)
    return any(key <= w for w in same)  # lte


def matches(document: Mapping[str, Any], filters: Iterable[Filter]) -> bool:
    """All filters hold, each for at least one value its path reaches."""
    return all(any(holds(f, found) for found in values_at(document, f.path)) for f in filters)
