"""Regular expressions an anonymous client may send, bounded in every dimension.

A ``.regex`` filter (list queries, JSON Patch Query selections, hub queries)
goes through :func:`compile_pattern` and :func:`search`:

* length: at most ``max_length`` characters;
* size: counted repetitions (``a{999}``) are expanded by the ``regex`` module
  when it compiles, so nested ones multiply (``(?:(?:a{999}){999}){999}``
  would need gigabytes). :func:`expansion` estimates the compiled size from
  the pattern text alone and a pattern above ``max_expansion`` is refused
  before it is compiled, as is a repetition count above ``max_repeat`` and a
  fuzzy-matching constraint (``{e<=2}``);
* cache: compiled patterns live in an LRU cache of ``cache_size`` entries;
* time: matching runs with ``regex``'s timeout against the request's
  deadline and releases the GIL (``concurrent=True``);
* concurrency: at most ``slots`` evaluations run at once in the whole server;
  a request waits at most :data:`SLOT_WAIT` seconds for a slot, then gets a
  503, so a flood of slow patterns leaves the CPU, and the server's request
  threads, to every other request.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import regex

_QUANTIFIER = regex.compile(r"\{(\d*)(?:(,)(\d*))?\}")
_FUZZY = regex.compile(r"\{\s*[eisd]\s*[<=]")


class PatternRefused(ValueError):
    """The pattern is outside the limits (or not a valid regular expression)."""


class PatternTimeout(Exception):
    """Matching did not finish within the deadline."""


class PatternBusy(Exception):
    """Every evaluation slot stayed taken for :data:`SLOT_WAIT` seconds."""


#: How long an evaluation waits for a free slot before the request is turned away.
SLOT_WAIT = 0.1


@dataclass(frozen=True)
class PatternLimits:
    max_length: int = 256
    max_repeat: int = 1000
    max_expansion: int = 10_000
    budget_seconds: float = 0.5
    slots: int = 2
    cache_size: int = 128


_limits = PatternLimits()
_slots = threading.BoundedSemaphore(_limits.slots)


def configure(limits: PatternLimits) -> None:
    """Apply server-wide limits (``create_app`` calls this with the running config)."""
    global _limits, _slots, _compiled
    if limits.slots < 1 or limits.cache_size < 1:
        raise ValueError("regex slots and cache size must be at least 1")
    _limits = limits
    _slots = threading.BoundedSemaphore(limits.slots)
    _compiled = functools.lru_cache(maxsize=limits.cache_size)(_compile)


def limits() -> PatternLimits:
    return _limits


def expansion(pattern: str, max_repeat: int) -> int:
    """An upper estimate of the compiled size: atoms, times every enclosing count.

    Raises :class:`PatternRefused` for a count above ``max_repeat`` or a fuzzy
    constraint. Alternatives are added, not maxed: an over-estimate is safe.
    """
    stack: list[int] = [0]  # the size of each open group so far
    last = 0  # the size of the atom a quantifier would repeat
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\":
            i += 2
            stack[-1] += 1
            last = 1
            continue
        if char == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            stack[-1] += 1
            last = 1
            continue
        if char == "(":
            stack.append(0)
            i += 1
            continue
        if char == ")":
            inner = stack.pop() if len(stack) > 1 else 0
            last = max(inner, 1)
            stack[-1] += last
            i += 1
            continue
        if char == "{":
            if _FUZZY.match(pattern, i):
                raise PatternRefused("fuzzy matching ({e<=n}) is not supported")
            quantifier = _QUANTIFIER.match(pattern, i)
            if quantifier is not None and (quantifier.group(1) or quantifier.group(3)):
                low, comma, high = quantifier.groups()
                counts = [int(text) for text in (low, high) if text and len(text) <= 9]
                if any(len(text) > 9 for text in (low, high) if text) or \
                        any(count > max_repeat for count in counts):
                    raise PatternRefused(f"a repetition count is above {max_repeat}")
                times = max(counts) if (high or not comma) else max(counts[0], 1)
                stack[-1] += last * (times - 1)
                last = last * times
                i = quantifier.end()
                continue
        stack[-1] += 1
        last = 1
        i += 1
    return sum(stack)


def _compile(pattern: str) -> Any:
    try:
        return regex.compile(pattern, cache_pattern=False)
    except (regex.error, ValueError, OverflowError, RecursionError, MemoryError) as exc:
        raise PatternRefused(f"invalid regular expression ({exc})") from None


_compiled = functools.lru_cache(maxsize=_limits.cache_size)(_compile)


def compile_pattern(pattern: str) -> Any:
    """The compiled pattern, or :class:`PatternRefused` saying which limit it breaks."""
    bounds = _limits
    if len(pattern) > bounds.max_length:
        raise PatternRefused(f"the regular expression is longer than {bounds.max_length} "
                             "characters")
    size = expansion(pattern, bounds.max_repeat)
    if size > bounds.max_expansion:
        raise PatternRefused(f"the regular expression expands to about {size} elements, "
                             f"more than {bounds.max_expansion}; use fewer or smaller "
                             "repetition counts")
    return _compiled(pattern)


_held = threading.local()


@contextlib.contextmanager
def slot(wait: float = SLOT_WAIT) -> Iterator[None]:
    """Hold one of the server's evaluation slots (reentrant per thread), or
    :class:`PatternBusy` after ``wait`` seconds.

    A request takes its slot before it takes the store's lock, so requests
    waiting for a slot never queue on that lock holding server threads.
    """
    if getattr(_held, "depth", 0):
        _held.depth += 1
        try:
            yield
        finally:
            _held.depth -= 1
        return
    slots = _slots
    if not slots.acquire(timeout=max(wait, 0.0)):
        raise PatternBusy
    _held.depth = 1
    try:
        yield
    finally:
        _held.depth = 0
        slots.release()


def search(compiled: Any, text: str, deadline: float) -> bool:
    """Whether ``compiled`` occurs in ``text``; :class:`PatternTimeout` after ``deadline``,
    :class:`PatternBusy` when no slot frees up soon."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise PatternTimeout
    with slot(min(remaining, SLOT_WAIT)):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PatternTimeout
        try:
            return compiled.search(text, timeout=remaining, concurrent=True) is not None
        except TimeoutError:
            raise PatternTimeout from None


def select(compiled: Any, texts: Iterable[str], deadline: float) -> frozenset[str]:
    """The ``texts`` in which ``compiled`` occurs, in one slot against one deadline.

    For a batch (the distinct values a search met), without taking a slot and
    reading the clock around every text as :func:`search` does.
    """
    texts = list(texts)
    if not texts:  # nothing to match: no budget needed
        return frozenset()
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise PatternTimeout
    literal, anchored = required_text(compiled.pattern)
    if literal:
        # A text without the literal cannot match: skipped at C speed, without a timeout.
        texts = [t for t in texts if t.startswith(literal)] if anchored else [
            t for t in texts if literal in t]
    found = set()
    with slot(min(remaining, SLOT_WAIT)):
        for text in texts:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PatternTimeout
            try:
                if compiled.search(text, timeout=remaining, concurrent=True) is not None:
                    found.add(text)
            except TimeoutError:
                raise PatternTimeout from None
    return frozenset(found)


_META = frozenset("\\.^$*+?{}[]()|")
_QUANTIFIERS = frozenset("*+?{")


def required_text(pattern: str) -> tuple[str, bool]:
    """Literal text every match must contain, and whether it must start the subject.

    Only the plain case counts: no alternation and no inline flags anywhere
    (``(?i)`` changes what a literal matches, ``|`` makes it optional), then
    the run of ordinary characters the pattern starts with (after ``^``);
    a character a quantifier follows is optional and ends the run. Anything
    else gives ``("", False)``: no pre-test.
    """
    if "|" in pattern or "(?" in pattern:
        return "", False
    anchored = pattern.startswith("^")
    start = 1 if anchored else 0
    end = start
    while end < len(pattern) and pattern[end] not in _META:
        end += 1
    if end < len(pattern) and pattern[end] in _QUANTIFIERS:
        end -= 1
    return pattern[start:max(end, start)], anchored
