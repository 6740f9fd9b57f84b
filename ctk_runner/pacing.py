"""Polite load: a request rate, and bounded retries of 429 and 503 honouring Retry-After.

A gateway in front of a real deployment rate-limits; hammering it turns a
conformance run into a load test and its verdict into noise. :class:`Pacing`
spaces the start of requests to ``--rate`` per second and decides, for each
answer, whether to try again: only 429 and 503, at most ``--retries`` times,
waiting what ``Retry-After`` asks (seconds or an HTTP date) or else an
exponential backoff, and never longer than ``--max-retry-wait``. Every retry
is kept as a :class:`RetryNote`, so the reports say what the gateway did.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

RETRY_STATUSES = frozenset({429, 503})
DEFAULT_RETRIES = 3
DEFAULT_MAX_RETRY_WAIT = 60.0
#: Backoff when the answer carries no usable Retry-After: 1 s, 2 s, 4 s ...
BACKOFF_BASE = 1.0


@dataclass(frozen=True)
class RetryNote:
    """One retried (or given up) answer, as the reports list it."""

    method: str
    url: str
    status: int
    attempt: int
    waited: float
    retry_after: str | None
    gave_up: str | None = None

    def describe(self) -> str:
        after = f" (Retry-After: {self.retry_after})" if self.retry_after else ""
        if self.gave_up:
            return f"{self.method} {self.url} answered {self.status}{after}; {self.gave_up}"
        return (f"{self.method} {self.url} answered {self.status}{after}; "
                f"retry {self.attempt} after {self.waited:.1f} s")

    def as_json(self) -> dict[str, object]:
        return {"method": self.method, "url": self.url, "status": self.status,
                "attempt": self.attempt, "waited": round(self.waited, 3),
                "retryAfter": self.retry_after, "gaveUp": self.gave_up}


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` value asks for (delta-seconds or HTTP date); None if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass
class Pacing:
    """The rate limit and the retry policy of one run (shared by all its requests)."""

    rate: float | None = None
    retries: int = DEFAULT_RETRIES
    max_wait: float = DEFAULT_MAX_RETRY_WAIT
    notes: list[RetryNote] = field(default_factory=list)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    #: Told of each note as it is taken, before the wait: the console shows why it waits.
    on_note: Callable[[RetryNote], None] | None = field(default=None, repr=False)
    _next: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wait_turn(self) -> None:
        """Block until the next request may start under ``rate``."""
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + 1.0 / self.rate
        if start > now:
            self.sleep(start - now)

    def retry_delay(self, method: str, url: str, status: int | None,
                    retry_after: str | None, attempt: int) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``, or None to stop here."""
        if status not in RETRY_STATUSES:
            return None
        assert status is not None
        asked = retry_after_seconds(retry_after)
        delay = asked if asked is not None else BACKOFF_BASE * 2 ** attempt
        gave_up = None
        if attempt >= self.retries:
            gave_up = f"gave up after {self.retries} retries"
        elif delay > self.max_wait:
            gave_up = f"not retried: the wait of {delay:g} s exceeds --max-retry-wait"
        note = RetryNote(method, url, status, attempt + 1, 0.0 if gave_up else delay,
                         retry_after, gave_up)
        self.notes.append(note)
        if self.on_note is not None:
            self.on_note(note)
        return None if gave_up else delay
