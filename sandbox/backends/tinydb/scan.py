"""Filtering stored JSON without decoding it: the scan behind a search no index answers.

Three steps, cheapest first, each exact:

1. **Bytes.** An ``.eq`` filter whose candidates (:func:`query.candidates`)
   are all text can only hold for a document whose JSON holds one of them as
   a JSON string (``"email"``): a substring test on the stored bytes (C
   speed) drops the others undecoded. Text that reads as a number, a boolean,
   an instant, ``null`` or an object or array has candidates of other types,
   so it never qualifies; nor does text with control characters, which
   encoders escape differently.
2. **Projection.** The rest are decoded through a :mod:`projection` holding
   only the attributes the filters and sort keys read.
3. **Regular expressions last**, on the survivors' *distinct* values, in one
   evaluation slot: the regex budget pays for matching, not for the scan.

The result keeps each match's stored bytes and its view (for sorting); only
the page is decoded whole, by the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from sandbox.backends.tinydb.projection import projection
from sandbox.domain import hrefs, query
from sandbox.domain.attributes import as_text, values_at

#: (stored JSON, the filters it must pass) for each candidate.
Candidate = tuple[bytes, Sequence[query.Filter]]
Match = tuple[bytes, dict[str, Any]]


def needles(f: query.Filter) -> tuple[bytes, ...] | None:
    """The byte strings one of which a document matching ``f`` must hold; None: no test."""
    if f.op != "eq" or hrefs.under(f.path):
        return None
    wanted = query.candidates(f)
    if any(rank != "string" or any(ch < " " for ch in key) for rank, key in wanted):
        return None  # only a stored string, spelt alike by every encoder, can equal it
    return tuple(orjson.dumps(key) for _, key in wanted)


def values(view: dict[str, Any], path: Sequence[str], prefix: str | None) -> list[Any]:
    """What ``path`` reaches in a document (as ``values_at``); ``href`` is derived from ``id``."""
    if hrefs.under(path):
        return hrefs.values_at(path, prefix, view.get("id"))
    return values_at(view, path)


Test = Callable[[dict[str, Any]], bool]


def _test(f: query.Filter, prefix: str | None) -> Test:
    if f.op == "eq" and f.hint == "string":
        wanted = query.equal_texts(f)

        def text_equal(view: dict[str, Any]) -> bool:
            # A string at a string attribute equals text exactly; anything else as holds() says.
            for value in values(view, f.path, prefix):
                if value in wanted if isinstance(value, str) else query.holds(f, value):
                    return True
            return False
        return text_equal
    return lambda view: any(query.holds(f, value) for value in values(view, f.path, prefix))


@dataclass
class _Plan:
    """What one list of filters takes: byte needles, tests, regular expressions."""

    needles: list[tuple[bytes, ...]]
    tests: list[Test]
    regexes: list[query.Filter]


def _plan(filters: Sequence[query.Filter], prefix: str | None) -> _Plan:
    found = [needles(f) for f in filters]
    return _Plan([n for n in found if n is not None],
                 [_test(f, prefix) for f in filters if f.op != "regex"],
                 [f for f in filters if f.op == "regex"])


def _has_needles(packed: bytes, needed: list[tuple[bytes, ...]]) -> bool:
    """Whether ``packed`` holds one needle of each tuple."""
    for found in needed:
        for needle in found:
            if needle in packed:
                break
        else:
            return False
    return True


def select(candidates: Iterable[Candidate], lists: Sequence[Sequence[query.Filter]],
           sort_paths: Sequence[tuple[str, ...]], prefix: str | None) -> list[Match]:
    """The candidates that pass all their filters, in the given order.

    ``lists``: every filter list the candidates carry. Each match keeps its
    view only when there are ``sort_paths`` to sort on (else an empty dict):
    what survives the scan is what the garbage collector walks, and a scan
    may keep 100,000 matches.
    """
    started = time.monotonic()
    # Candidates share these few lists: plan each once (a Filter hashes slowly).
    plans = {id(filters): _plan(filters, prefix) for filters in lists}
    decoder = projection(frozenset({f.path for filters in lists for f in filters}
                                   | set(sort_paths)))
    keep = bool(sort_paths)
    regexes = {id(f): f for plan in plans.values() for f in plan.regexes}
    matched: list[Match] = []
    survivors: list[tuple[bytes, dict[str, Any], _Plan, tuple[list[str], ...]]] = []
    for packed, filters in candidates:
        plan = plans[id(filters)]
        if plan.needles and not _has_needles(packed, plan.needles):
            continue
        view = decoder.view(packed)
        for test in plan.tests:
            if not test(view):
                break
        else:
            if not regexes:
                matched.append((packed, view if keep else _NONE))
                continue
            texts = tuple([as_text(value) for value in values(view, f.path, prefix)]
                          for f in plan.regexes)
            survivors.append((packed, view if keep else _NONE, plan, texts))
    if not regexes:
        return matched
    scanning = time.monotonic() - started  # no regex ran yet: the budget is all left
    hits: dict[int, frozenset[str]] = {}
    for ident, f in regexes.items():
        distinct = {text for _, _, plan, texts in survivors
                    for g, found in zip(plan.regexes, texts, strict=True) if g is f
                    for text in found}
        hits[ident] = query.matching_texts(f, distinct, scanning)
    return [(packed, view) for packed, view, plan, texts in survivors
            if all(any(text in hits[id(f)] for text in found)
                   for f, found in zip(plan.regexes, texts, strict=True))]


_NONE: dict[str, Any] = {}
