"""The rules of event delivery, the same on every backend, and one attempt.

Where an event goes (:func:`target_url`), what an answer means (:func:`judge`:
2xx delivered; a connection error, a timeout, 5xx, 408 or 429 retried; 3xx,
never followed, and any other 4xx rejected), how long a retry waits
(:func:`backoff_delays`, exponential up to :data:`MAX_BACKOFF`) and when an
event is given up (:func:`decide`, after ``attempts`` attempts) are defined
here once. So are the bound of a subscription's queue (:data:`MAX_QUEUED`),
the threshold past which an attempt counts as slow (:data:`SLOW_AFTER`) and the
:class:`DeliveryLog` interface every backend's log offers (``add``, ``all``,
``clear``; the in-memory one keeps the last :data:`MAX_LOG_ENTRIES`).

:func:`attempt` makes one POST through a pinned session
(:func:`~sandbox.events.safety.pinned_session`): the callback's host is
resolved and checked again, and the connection goes to a checked address.
:func:`record` writes its outcome to the log and the ``sandbox.delivery``
logger. Queues and deliverer threads live in :mod:`sandbox.events.queue` and
:mod:`sandbox.events.deliverers`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests

from sandbox.domain import json_body
from sandbox.events.masking import redact, scrub
from sandbox.events.model import listener_name, timestamp
from sandbox.events.safety import CallbackRefused
from sandbox.events.watch import Cut

log = logging.getLogger("sandbox.delivery")

Document = dict[str, Any]
RETRIED_STATUSES = frozenset({408, 429})
MAX_BACKOFF = 300.0
MAX_LOG_ENTRIES = 1000
#: Events waiting for one subscription; beyond, new ones are dropped (and recorded),
#: so a dead listener cannot make the sandbox hoard memory or rows.
MAX_QUEUED = 1000
#: Seconds after which an attempt is slow: it moves to the slow lane, and so do the
#: subscription's next attempts until one is answered faster than this again.
SLOW_AFTER = 1.0
CALLBACK_MODES = ("listener", "exact")
#: The error of an attempt that could not connect in time (so sent nothing).
CONNECT_TIMEOUT = "timed out connecting"


def backoff_delays(base: float, attempts: int, cap: float = MAX_BACKOFF) -> list[float]:
    """Seconds to wait before attempts 2..n: base, 2*base, 4*base ... at most ``cap``."""
    return [min(base * 2**n, cap) for n in range(max(attempts - 1, 0))]


def target_url(callback: str, event_type: str, mode: str) -> str:
    """Where an event goes: ``<callback>/listener/<eventName>``, or the callback itself."""
    if mode == "exact":
        return callback
    parts = urlsplit(callback)
    path = parts.path.rstrip("/") + "/listener/" + listener_name(event_type)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def judge(status: int | None) -> str:
    """``delivered``, ``retry`` or ``rejected`` for an HTTP status (None: no answer)."""
    if status is None or status >= 500 or status in RETRIED_STATUSES:
        return "retry"
    if 200 <= status < 300:
        return "delivered"
    return "rejected"


@dataclass(frozen=True)
class DeliverySettings:
    attempts: int = 5
    backoff: float = 1.0
    timeout: tuple[float, float] = (3.0, 10.0)
    mode: str = "listener"
    #: Callback certificates: True checks them against the system's trust store, a path
    #: names a CA bundle (file or directory) to trust instead, False does not check.
    verify: bool | str = True
    #: Regular deliverer threads, shared by every subscription (and tenant).
    workers: int = 4
    #: Threads of the slow lane: attempts that took longer than SLOW_AFTER, and the
    #: subscriptions known to be that slow.
    slow_workers: int = 8


def decide(outcome: str, attempt: int, settings: DeliverySettings) -> tuple[str, float | None]:
    """The final word on attempt number ``attempt``: its outcome as recorded, and the
    seconds until the next attempt (None: the event is done, delivered or not)."""
    if outcome != "retry":
        return outcome, None
    if attempt >= settings.attempts:
        return "failed", None
    return outcome, backoff_delays(settings.backoff, settings.attempts)[attempt - 1]


@dataclass
class Delivery:
    """One event on its way to one subscription; ``attempt``: attempts made so far."""

    subscription_id: str
    url: str
    event: Document
    attempt: int = 0


class Log(Protocol):
    """Where the attempts of one store are kept: in memory, or shared in a database."""

    def add(self, entry: Document) -> None: ...

    def all(self) -> list[Document]: ...

    def clear(self) -> None: ...


@dataclass
class DeliveryLog:
    """The latest delivery attempts, oldest first (bounded, in memory)."""

    entries: deque[Document] = field(default_factory=lambda: deque(maxlen=MAX_LOG_ENTRIES))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: Document) -> None:
        with self.lock:
            self.entries.append(entry)

    def all(self) -> list[Document]:
        with self.lock:
            return [dict(e) for e in self.entries]

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


def attempt(session: requests.Session, delivery: Delivery, settings: DeliverySettings,
            timeout: tuple[float, float]) -> tuple[str, int | None, str | None]:
    """POST ``delivery``'s event once: (``judge``'s verdict or ``refused``, status, error)."""
    body = json_body.encode(delivery.event)
    try:
        # The session's adapter resolves the host, checks every address against the
        # policy and connects to a checked one (DNS may have changed since registration).
        response = session.post(
            delivery.url, data=body,
            headers={"Content-Type": "application/json;charset=utf-8",
                     "Accept": "application/json"},
            timeout=timeout, allow_redirects=False, stream=True, verify=settings.verify,
        )
    except CallbackRefused as exc:
        return "refused", None, str(exc)
    except Cut as exc:
        return "retry", None, str(exc)
    except requests.ConnectTimeout:
        return "retry", None, CONNECT_TIMEOUT
    except requests.Timeout:
        return "retry", None, "timed out"
    except requests.RequestException as exc:
        return "retry", None, _reason(exc, delivery.url)
    # stream=True and no read: a listener's answer body is never downloaded.
    response.close()
    outcome = judge(response.status_code)
    error = None
    if outcome == "rejected":
        redirect = response.headers.get("Location")
        error = (f"redirect to {redact(redirect)} not followed" if redirect and
                 300 <= response.status_code < 400 else "the listener refused the event")
    return outcome, response.status_code, error


def record(journal: Log, delivery: Delivery, outcome: str, status: int | None,
           error: str | None, wait: float | None, *, attempts: int, now: datetime) -> None:
    """Keep one attempt (or a dropped event) in ``journal`` and log it."""
    event = delivery.event
    entry: Document = {
        "id": str(uuid.uuid4()),
        "time": timestamp(now),
        "subscriptionId": delivery.subscription_id,
        "eventId": event.get("eventId"),
        "eventType": event.get("eventType"),
        "url": redact(delivery.url),
        "attempt": delivery.attempt,
        "maxAttempts": attempts,
        "outcome": "retrying" if outcome == "retry" else outcome,
        "status": status,
        "error": error,
        "nextAttemptInSeconds": wait,
    }
    journal.add(entry)
    answer = f"HTTP {status}" if status is not None else (error or "no answer")
    detail = f"{answer}; retry in {wait:g}s" if wait is not None else answer
    if outcome != "delivered" and error and status is not None:
        detail += f" ({error})"
    level = logging.INFO if outcome == "delivered" else logging.WARNING
    log.log(level, "delivery %s %s %s -> %s attempt %d/%d: %s %s",
            delivery.subscription_id[:8], event.get("eventType"), event.get("eventId"),
            entry["url"], delivery.attempt, attempts, entry["outcome"], detail)


def _reason(exc: requests.RequestException, url: str) -> str:
    # urllib3 quotes the path and query ("Max retries exceeded with url: /hooks?token=..."),
    # and TLS errors the whole URL: mask before the text reaches a log or listing.
    text = scrub(str(exc), url)
    if "refused" in text.lower():
        return "connection refused"
    return text if len(text) <= 200 else text[:197] + "..."
