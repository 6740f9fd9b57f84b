"""One store's side of delivery: the hub queues its events here.

A :class:`Dispatcher` puts an event in the store's
:class:`~sandbox.events.queue.EventQueue` (in memory, or a table), applies the
queue bound (:data:`~sandbox.events.delivery.MAX_QUEUED` per subscription; an
event beyond is dropped and recorded as such) and tells the process's
:class:`~sandbox.events.deliverers.Deliverers` that a subscription has work.
It never touches the network and never waits for a deliverer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from sandbox.events import delivery
from sandbox.events.deliverers import Deliverers
from sandbox.events.delivery import Delivery, DeliveryLog, DeliverySettings, Document, Log
from sandbox.events.queue import EventQueue, MemoryQueue, Source
from sandbox.events.safety import CallbackPolicy, Resolver, resolve


class Dispatcher:
    """Queue, cancel and count one store's events; ``source`` (a queue in memory) is
    served by ``deliverers`` while the dispatcher lives."""

    def __init__(self, queue: EventQueue, deliverers: Deliverers, journal: Log, *,
                 source: Source | None = None, owns_deliverers: bool = False,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.queue = queue
        self.deliverers = deliverers
        self.journal = journal
        self._source = source
        self._owns_deliverers = owns_deliverers
        self._now = now
        self._closed = False
        if source is not None:
            deliverers.add(source)

    @classmethod
    def standalone(cls, settings: DeliverySettings, policy: CallbackPolicy,
                   journal: Log | None = None, *, resolver: Resolver = resolve) -> Dispatcher:
        """A queue in memory with deliverer threads of its own (closed with it)."""
        journal = journal if journal is not None else DeliveryLog()
        queue = MemoryQueue(journal)
        return cls(queue, Deliverers(settings, policy, resolver=resolver), journal,
                   source=queue, owns_deliverers=True)

    @property
    def settings(self) -> DeliverySettings:
        return self.deliverers.settings

    def enqueue(self, subscription_id: str, callback: str, event: Document) -> None:
        """Queue ``event``; returns at once (never touches the network)."""
        self.enqueue_many([(subscription_id, callback, event)])

    def enqueue_many(self, items: Sequence[tuple[str, str, Document]]) -> None:
        """Queue each (subscription id, callback, event): one change's events, in order."""
        if self._closed or not items:
            return
        mode, limit = self.settings.mode, delivery.MAX_QUEUED
        queued = [(subscription_id, delivery.target_url(callback, str(event.get("eventType")),
                                                        mode), event)
                  for subscription_id, callback, event in items]
        for (subscription_id, url, event), pushed in zip(queued, self.queue.push(queued, limit),
                                                        strict=True):
            if pushed == "ready":
                self.deliverers.poke(self.queue.key(subscription_id))
            elif pushed == "full":
                delivery.record(self.journal, Delivery(subscription_id, url, event), "dropped",
                                None, f"{limit} events are already waiting for this "
                                "subscription", None, attempts=self.settings.attempts,
                                now=self._now())

    def cancel(self, subscription_id: str) -> None:
        """Nothing more goes to the subscription; an attempt already in flight ends."""
        self.queue.cancel(subscription_id)
        self.deliverers.forget(self.queue.key(subscription_id))

    def pending(self) -> int:
        return self.queue.pending()

    def threads(self) -> int:
        """Deliverer threads alive in the process now."""
        return self.deliverers.threads()

    def close(self, timeout: float = 5.0) -> None:
        """Stop delivering this store's events (a queue in memory loses what it held)."""
        self._closed = True
        if self._source is not None:
            self.deliverers.remove(self._source)
        self.queue.close()
        if self._owns_deliverers:
            self.deliverers.close(timeout)
