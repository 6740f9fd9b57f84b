"""Asynchronous, ordered, retried delivery of events to subscribers' callbacks.

The :class:`Dispatcher` keeps one queue per subscription and drains them on a
bounded pool of daemon threads (``workers``), started when queues get work and
ending when all are empty, so an idle sandbox runs no delivery thread and a
thousand subscriptions cost no more threads than one. A worker waiting for a
retry's backoff does not hold a thread: the subscription sleeps in a schedule.
The head of a queue is retried (connection
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

import heapq
import itertools
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from sandbox.events.budget import ThreadBudget
from sandbox.events.masking import redact, scrub
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
    #: Threads delivering events, shared by every subscription.
    workers: int = 4


class Dispatcher:
    """Per-subscription ordered queues, drained by a bounded pool of worker threads.

    A subscription is owned by at most one worker at a time (while its head is
    in flight or waiting for a retry), so its events go out in order; workers
    start on demand up to ``settings.workers`` and end when nothing is left.
    """

    def __init__(
        self,
        settings: DeliverySettings,
        policy: CallbackPolicy,
        journal: DeliveryLog | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        resolver: Resolver = resolve,
        budget: ThreadBudget | None = None,
    ) -> None:
        if settings.workers < 1:
            raise ValueError("delivery workers must be at least 1")
        self.settings = settings
        self.policy = policy
        self._resolver = resolver
        self.journal = journal or DeliveryLog()
        self._now = now
        self._queues: dict[str, deque[Delivery]] = {}
        #: Subscriptions with work that no worker owns yet, in the order they got it.
        self._ready: deque[str] = deque()
        #: Subscriptions a worker owns: head in flight, or waiting in ``_sleeping``.
        self._owned: set[str] = set()
        #: (due, tie-breaker, subscription) for heads waiting to be retried.
        self._sleeping: list[tuple[float, int, str]] = []
        self._sequence = itertools.count()
        self._workers: set[threading.Thread] = set()
        self._idle = 0
        self._changed = threading.Condition()
        self._closed = False
        #: Threads shared with the other tenants' dispatchers (None: ``workers`` of its own).
        self._budget = budget

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
                if subscription_id not in self._owned:
                    self._owned.add(subscription_id)
                    self._ready.append(subscription_id)
                    self._wake_or_start()
        if full:
            self._record(delivery, "dropped", None,
                         f"{MAX_QUEUED} events are already waiting for this subscription", None)

    def _wake_or_start(self) -> None:
        # Called with the condition held.
        if self._idle > 0:
            self._changed.notify()
        elif len(self._workers) < self.settings.workers and (
                self._budget is None or self._budget.take(self)):
            worker = threading.Thread(target=self._work, name="delivery-worker", daemon=True)
            self._workers.add(worker)
            worker.start()

    def poke(self) -> bool:
        """A shared thread came free: start a worker if work waits for one; whether it did."""
        with self._changed:
            if not self._ready or self._closed or self._idle:
                return False
            before = len(self._workers)
            self._wake_or_start()
            return len(self._workers) > before

    def cancel(self, subscription_id: str) -> None:
        """Drop what is queued for a subscription (an attempt in flight still ends)."""
        with self._changed:
            self._queues.pop(subscription_id, None)
            self._changed.notify_all()

    def pending(self) -> int:
        with self._changed:
            return sum(len(q) for q in self._queues.values())

    def threads(self) -> int:
        """Delivery threads alive now (at most ``settings.workers``)."""
        with self._changed:
            return len(self._workers)

    def close(self, timeout: float = 5.0) -> None:
        """Stop: nothing more is sent; waits a little for attempts in flight."""
        with self._changed:
            self._closed = True
            self._queues.clear()
            workers = list(self._workers)
            self._changed.notify_all()
        for worker in workers:
            if worker is not threading.current_thread():
                worker.join(timeout)

    # -- the workers --------------------------------------------------------

    def _next(self) -> Delivery | None:
        """The head of the next subscription to serve, owned by the caller; None: stop."""
        with self._changed:
            while not self._closed:
                now = time.monotonic()
                while self._sleeping and self._sleeping[0][0] <= now:
                    self._ready.append(heapq.heappop(self._sleeping)[2])
                while self._ready:
                    subscription_id = self._ready.popleft()
                    queue = self._queues.get(subscription_id)
                    if queue:
                        return queue[0]
                    self._owned.discard(subscription_id)  # cancelled meanwhile
                    self._queues.pop(subscription_id, None)
                if not self._sleeping:
                    break
                self._idle += 1
                self._changed.wait(self._sleeping[0][0] - now)
                self._idle -= 1
            self._workers.discard(threading.current_thread())
            return None

    def _work(self) -> None:
        try:
            self._serve()
        finally:
            if self._budget is not None:  # outside our lock: it may take another's
                self._budget.give_back()

    def _serve(self) -> None:
        # A session per worker: requests.Session is not safe across threads.
        with pinned_session(self.policy, self._resolver) as session:
            while (delivery := self._next()) is not None:
                wait = self._deliver(session, delivery)
                with self._changed:
                    subscription_id = delivery.subscription_id
                    queue = self._queues.get(subscription_id)
                    if wait is not None and queue and queue[0] is delivery:
                        entry = (time.monotonic() + wait, next(self._sequence), subscription_id)
                        heapq.heappush(self._sleeping, entry)
                        continue
                    if queue and queue[0] is delivery:
                        queue.popleft()
                    if queue:
                        self._ready.append(subscription_id)
                    else:
                        self._queues.pop(subscription_id, None)
                        self._owned.discard(subscription_id)

    def _deliver(self, session: requests.Session, delivery: Delivery) -> float | None:
        """One attempt, recorded; the seconds until the next one, or None when final."""
        delays = backoff_delays(self.settings.backoff, self.settings.attempts)
        delivery.attempt += 1
        outcome, status, error = self._attempt(session, delivery)
        last = delivery.attempt >= self.settings.attempts
        if outcome == "retry" and last:
            outcome = "failed"
        wait = delays[delivery.attempt - 1] if outcome == "retry" else None
        self._record(delivery, outcome, status, error, wait)
        return wait

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


def _reason(exc: requests.RequestException, url: str) -> str:
    # urllib3 quotes the path and query ("Max retries exceeded with url: /hooks?token=..."),
    # and TLS errors the whole URL: mask before the text reaches a log or listing.
    text = scrub(str(exc), url)
    if "refused" in text.lower():
        return "connection refused"
    return text if len(text) <= 200 else text[:197] + "..."
