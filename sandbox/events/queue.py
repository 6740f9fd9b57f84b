"""Where events wait for delivery: the two small protocols a backend implements.

A store's hub fills an :class:`EventQueue` (``push``, ``cancel``, ``pending``);
the deliverers (:mod:`sandbox.events.deliverers`) drain :class:`Source`\\ s
(``claim``, ``settle``, ``put_back``, ``due_in``). A source hands out the
*head* of one subscription's queue at a time and no other event of that
subscription until the head is settled, so events reach each subscription in
order with at most one attempt in flight. Subscriptions are known to the
deliverers by a :data:`Key`: (scope, subscription id), the scope naming the
store (a PostgreSQL schema; a queue in memory makes up its own).

:class:`MemoryQueue` is both, for a store in this process (the file store):
bounded ordered queues per subscription, a ready list served in turn, and the
heads waiting for a retry in a schedule, so no thread sleeps through a backoff.
Its events are lost with the process. The PostgreSQL backend keeps them in a table
(:mod:`sandbox.backends.postgres.outbox`).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence, Set
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sandbox.events.delivery import Delivery, Document, Log

Key = tuple[str, str]
#: An event for a subscription: (subscription id, URL it goes to, event).
Item = tuple[str, str, Document]
#: What a push did to an item: ``full`` dropped the event (the queue holds ``limit`` already),
#: ``ready`` made a subscription ready (a deliverer should look), ``queued`` neither.
Pushed = Literal["full", "ready", "queued"]


@dataclass
class Claim:
    """A subscription's head, handed to one deliverer until it is settled."""

    key: Key
    delivery: Delivery
    log: Log
    source: Source
    #: The source's own handle on the head (the queued object, a row number...).
    token: Any = None


class EventQueue(Protocol):
    """One store's queues, as its hub sees them."""

    def push(self, items: Sequence[Item], limit: int) -> list[Pushed]:
        """Queue each item's event behind its subscription's others unless ``limit`` wait
        already (one change's events for every subscription, in one go)."""
        ...

    def cancel(self, subscription_id: str) -> None:
        """Drop everything queued for the subscription (an attempt in flight ends)."""
        ...

    def pending(self) -> int:
        """Events queued, in flight included."""
        ...

    def key(self, subscription_id: str) -> Key:
        """How the deliverers know the subscription."""
        ...

    def close(self) -> None:
        """The store closes: its events are no longer served from here."""
        ...


class Source(Protocol):
    """Queues as the deliverers see them."""

    def claim(self, slow: Set[Key], lane_slow: bool) -> Claim | None:
        """A due head of a subscription not in flight, whose key is in ``slow`` exactly
        when ``lane_slow``; None when there is none."""
        ...

    def settle(self, claim: Claim, wait: float | None) -> None:
        """An attempt was made (``claim.delivery.attempt`` counts it): the head is done
        (``wait`` None), or waits ``wait`` seconds for the next attempt."""
        ...

    def put_back(self, claim: Claim) -> None:
        """Nothing was sent: the head is due again at once, as it was."""
        ...

    def due_in(self, slow: Set[Key], lane_slow: bool) -> float | None:
        """Seconds until a claim of that lane may find something (0: now); None when
        nothing of that lane is queued (or scheduled)."""
        ...


class MemoryQueue:
    """The events of one store, in memory (both protocols).

    A subscription with events is in exactly one state: ready (listed in
    ``_ready``, served in turn), busy (its head in flight) or asleep (its head
    waiting for a retry). Entries of ``_ready`` and of the schedule that a cancel
    made stale are skipped when met.
    """

    def __init__(self, log: Log, scope: str | None = None) -> None:
        self.log = log
        self.scope = scope or uuid.uuid4().hex
        self._queues: dict[str, deque[Delivery]] = {}
        self._ready: deque[str] = deque()
        self._busy: set[str] = set()
        #: subscription -> (tie-breaker, due) of its entry in ``_schedule``.
        self._asleep: dict[str, tuple[int, float]] = {}
        self._schedule: list[tuple[float, int, str]] = []
        self._sequence = itertools.count()
        self._lock = threading.Lock()

    def key(self, subscription_id: str) -> Key:
        return (self.scope, subscription_id)

    def push(self, items: Sequence[Item], limit: int) -> list[Pushed]:
        with self._lock:
            return [self._push(subscription_id, url, event, limit)
                    for subscription_id, url, event in items]

    def _push(self, subscription_id: str, url: str, event: Document, limit: int) -> Pushed:
        # Called with the lock held.
        queue = self._queues.setdefault(subscription_id, deque())
        if len(queue) >= limit:
            return "full"
        queue.append(Delivery(subscription_id, url, event))
        if len(queue) > 1 or subscription_id in self._busy or subscription_id in self._asleep:
            return "queued"  # behind a head that is ready, in flight or asleep
        self._ready.append(subscription_id)
        return "ready"

    def cancel(self, subscription_id: str) -> None:
        with self._lock:
            self._queues.pop(subscription_id, None)
            self._asleep.pop(subscription_id, None)

    def close(self) -> None:
        with self._lock:
            self._queues.clear()
            self._ready.clear()
            self._asleep.clear()
            self._schedule.clear()

    def pending(self) -> int:
        with self._lock:
            return sum(len(queue) for queue in self._queues.values())

    def claim(self, slow: Set[Key], lane_slow: bool) -> Claim | None:
        with self._lock:
            self._wake_sleepers()
            for subscription_id in list(self._ready):
                if not self._is_ready(subscription_id):
                    self._ready.remove(subscription_id)  # stale
                elif (self.key(subscription_id) in slow) == lane_slow:
                    self._ready.remove(subscription_id)
                    self._busy.add(subscription_id)
                    head = self._queues[subscription_id][0]
                    copy = Delivery(head.subscription_id, head.url, head.event, head.attempt)
                    return Claim(self.key(subscription_id), copy, self.log, self, head)
            return None

    def settle(self, claim: Claim, wait: float | None) -> None:
        subscription_id = claim.delivery.subscription_id
        with self._lock:
            self._busy.discard(subscription_id)
            queue = self._queues.get(subscription_id)
            if queue and queue[0] is claim.token:  # else cancelled meanwhile
                if wait is not None:
                    queue[0].attempt = claim.delivery.attempt
                    due = time.monotonic() + wait
                    tie = next(self._sequence)
                    self._asleep[subscription_id] = (tie, due)
                    heapq.heappush(self._schedule, (due, tie, subscription_id))
                    return
                queue.popleft()
            if queue:
                self._ready.append(subscription_id)
            elif queue is not None:
                del self._queues[subscription_id]

    def put_back(self, claim: Claim) -> None:
        subscription_id = claim.delivery.subscription_id
        with self._lock:
            self._busy.discard(subscription_id)
            if self._queues.get(subscription_id):
                self._ready.appendleft(subscription_id)

    def due_in(self, slow: Set[Key], lane_slow: bool) -> float | None:
        with self._lock:
            if any(self._is_ready(s) and (self.key(s) in slow) == lane_slow
                   for s in self._ready):
                return 0.0
            dues = [due for s, (_, due) in self._asleep.items()
                    if (self.key(s) in slow) == lane_slow]
        return max(0.0, min(dues) - time.monotonic()) if dues else None

    def _is_ready(self, subscription_id: str) -> bool:
        return (bool(self._queues.get(subscription_id)) and subscription_id not in self._busy
                and subscription_id not in self._asleep)

    def _wake_sleepers(self) -> None:
        # Called with the lock held: heads whose retry is due become ready again.
        now = time.monotonic()
        while self._schedule and self._schedule[0][0] <= now:
            _, tie, subscription_id = heapq.heappop(self._schedule)
            if self._asleep.get(subscription_id, (None,))[0] == tie:
                del self._asleep[subscription_id]
                if self._queues.get(subscription_id):
                    self._ready.append(subscription_id)
