"""Asynchronous, ordered, retried delivery of events to subscribers' callbacks.

The :class:`Dispatcher` keeps one queue per subscription and drains it on a
daemon thread of its own, started when the queue gets work and ending when it
is empty, so an idle sandbox runs no delivery thread and one slow listener
never delays another subscriber. The head of a queue is retried (connection
error, timeout, 5xx, 408, 429) with exponential backoff up to the configured
number of attempts before the next event is sent: events reach each
subscription in the order they happened. Any other answer is final: 2xx is
delivered, 3xx (never followed) and 4xx are rejected.
Each attempt resolves the callback's host once and connects only to an address
the callback policy allowed (:func:`~sandbox.events.safety.pinned_session`).

Every attempt is logged (``sandbox.delivery``) and recorded in the
:class:`DeliveryLog` the admin endpoint lists. Queues live in memory and are
bounded (:data:`MAX_QUEUED` per subscription; an event beyond is dropped and
recorded as such): a restart drops what was not yet delivered.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from sandbox.events.model import listener_name, timestamp
from sandbox.events.safety import CallbackPolicy, CallbackRefused, Resolver, pinned_session, resolve

log = logging.getLogger("sandbox.delivery")

Document = dict[str, Any]
RETRIED_STATUSES = frozenset({408, 429})
MAX_BACKOFF = 300.0
MAX_LOG_ENTRIES = 1000
#: Events waiting for one subscription; beyond, new ones are dropped (and recorded),
#: so a dead listener cannot make the sandbox hoard memory.
MAX_QUEUED = 1000
CALLBACK_MODES = ("listener", "exact")


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


def redact(url: str) -> str:
    """``url`` fit for logs and the admin listing: no password, no query values.

    A callback may carry a token (``?token=...``, ``user:secret@``); the admin
    listing is readable by anyone who can reach the sandbox.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(f"{pair.split('=', 1)[0]}=***" if "=" in pair else pair
                     for pair in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def judge(status: int | None) -> str:
    """``delivered``, ``retry`` or ``rejected`` for an HTTP status (None: no answer)."""
    if status is None or status >= 500 or status in RETRIED_STATUSES:
        return "retry"
    if 200 <= status < 300:
        return "delivered"
    return "rejected"


@dataclass
class Delivery:
    """One event on its way to one subscription."""

    subscription_id: str
    url: str
    event: Document
    attempt: int = 0


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


@dataclass(frozen=True)
class DeliverySettings:
    attempts: int = 5
    backoff: float = 1.0
    timeout: tuple[float, float] = (3.0, 10.0)
    mode: str = "listener"
    #: Callback certificates: True checks them against the system's trust store, a path
    #: names a CA bundle (file or directory) to trust instead, False does not check.
    verify: bool | str = True


class Dispatcher:
    """Per-subscription ordered queues, each drained by its own daemon thread."""

    def __init__(
        self,
        settings: DeliverySettings,
        policy: CallbackPolicy,
        journal: DeliveryLog | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        resolver: Resolver = resolve,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self._resolver = resolver
        self.journal = journal or DeliveryLog()
        self._now = now
        self._queues: dict[str, deque[Delivery]] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._changed = threading.Condition()
        self._closed = False

    def url_for(self, callback: str, event_type: str) -> str:
        return target_url(callback, event_type, self.settings.mode)

    def enqueue(self, subscription_id: str, callback: str, event: Document) -> None:
        """Queue ``event``; returns at once (never touches the network)."""
        url = self.url_for(callback, str(event.get("eventType")))
        delivery = Delivery(subscription_id, url, event)
        with self._changed:
            if self._closed:
                return
            queue = self._queues.setdefault(subscription_id, deque())
            full = len(queue) >= MAX_QUEUED
            if not full:
                queue.append(delivery)
                if subscription_id not in self._threads:
                    worker = threading.Thread(target=self._drain, args=(subscription_id,),
                                              name=f"delivery-{subscription_id[:8]}",
                                              daemon=True)
                    self._threads[subscription_id] = worker
                    worker.start()
        if full:
            self._record(delivery, "dropped", None,
                         f"{MAX_QUEUED} events are already waiting for this subscription", None)

    def cancel(self, subscription_id: str) -> None:
        """Drop what is queued for a subscription (an attempt in flight still ends)."""
        with self._changed:
            self._queues.pop(subscription_id, None)
            self._changed.notify_all()

    def pending(self) -> int:
        with self._changed:
            return sum(len(q) for q in self._queues.values())

    def close(self, timeout: float = 5.0) -> None:
        """Stop: nothing more is sent; waits a little for attempts in flight."""
        with self._changed:
            self._closed = True
            self._queues.clear()
            threads = list(self._threads.values())
            self._changed.notify_all()
        for worker in threads:
            if worker is not threading.current_thread():
                worker.join(timeout)

    # -- the worker ---------------------------------------------------------

    def _head(self, subscription_id: str) -> Delivery | None:
        with self._changed:
            queue = self._queues.get(subscription_id)
            if not queue or self._closed:
                self._queues.pop(subscription_id, None)
                self._threads.pop(subscription_id, None)
                return None
            return queue[0]

    def _still_queued(self, delivery: Delivery) -> bool:
        queue = self._queues.get(delivery.subscription_id)
        return not self._closed and queue is not None and bool(queue) and queue[0] is delivery

    def _drain(self, subscription_id: str) -> None:
        # A session per worker: requests.Session is not safe across threads.
        with pinned_session(self.policy, self._resolver) as session:
            while (delivery := self._head(subscription_id)) is not None:
                self._deliver(session, delivery)
                with self._changed:
                    queue = self._queues.get(subscription_id)
                    if queue and queue[0] is delivery:
                        queue.popleft()

    def _deliver(self, session: requests.Session, delivery: Delivery) -> None:
        delays = backoff_delays(self.settings.backoff, self.settings.attempts)
        while True:
            delivery.attempt += 1
            outcome, status, error = self._attempt(session, delivery)
            last = delivery.attempt >= self.settings.attempts
            if outcome == "retry" and last:
                outcome = "failed"
            wait = delays[delivery.attempt - 1] if outcome == "retry" else None
            self._record(delivery, outcome, status, error, wait)
            if wait is None:
                return
            with self._changed:
                self._changed.wait_for(lambda: not self._still_queued(delivery), timeout=wait)
                if not self._still_queued(delivery):
                    return  # unsubscribed or closed while waiting

    def _attempt(self, session: requests.Session,
                 delivery: Delivery) -> tuple[str, int | None, str | None]:
        body = json.dumps(delivery.event, ensure_ascii=False, separators=(",", ":"))
        try:
            # The session's adapter resolves the host, checks every address against the
            # policy and connects to a checked one (DNS may have changed since registration).
            response = session.post(
                delivery.url, data=body.encode("utf-8"),
                headers={"Content-Type": "application/json;charset=utf-8",
                         "Accept": "application/json"},
                timeout=self.settings.timeout, allow_redirects=False, stream=True,
                verify=self.settings.verify,
            )
        except CallbackRefused as exc:
            return "refused", None, str(exc)
        except requests.Timeout:
            return "retry", None, "timed out"
        except requests.RequestException as exc:
            return "retry", None, _reason(exc)
        # stream=True and no read: a listener's answer body is never downloaded.
        response.close()
        outcome = judge(response.status_code)
        error = None
        if outcome == "rejected":
            redirect = response.headers.get("Location")
            error = (f"redirect to {redirect} not followed" if redirect and
                     300 <= response.status_code < 400 else "the listener refused the event")
        return outcome, response.status_code, error

    def _record(self, delivery: Delivery, outcome: str, status: int | None,
                error: str | None, wait: float | None) -> None:
        event = delivery.event
        entry: Document = {
            "id": str(uuid.uuid4()),
            "time": timestamp(self._now()),
            "subscriptionId": delivery.subscription_id,
            "eventId": event.get("eventId"),
            "eventType": event.get("eventType"),
            "url": redact(delivery.url),
            "attempt": delivery.attempt,
            "maxAttempts": self.settings.attempts,
            "outcome": "retrying" if outcome == "retry" else outcome,
            "status": status,
            "error": error,
            "nextAttemptInSeconds": wait,
        }
        self.journal.add(entry)
        answer = f"HTTP {status}" if status is not None else (error or "no answer")
        detail = f"{answer}; retry in {wait:g}s" if wait is not None else answer
        if outcome != "delivered" and error and status is not None:
            detail += f" ({error})"
        level = logging.INFO if outcome == "delivered" else logging.WARNING
        log.log(level, "delivery %s %s %s -> %s attempt %d/%d: %s %s",
                delivery.subscription_id[:8], event.get("eventType"), event.get("eventId"),
                entry["url"], delivery.attempt, self.settings.attempts, entry["outcome"], detail)


def _reason(exc: requests.RequestException) -> str:
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    return text if len(text) <= 200 else text[:197] + "..."
