"""The event side of TMF629: hub subscriptions, event delivery and the listener sink.

The rules live here once for every backend; a backend provides only where
things are kept, as an :class:`EventStore`: the subscriptions table, an
:class:`~sandbox.events.queue.EventQueue` for the events waiting to be
delivered, a :class:`~sandbox.events.sink.RecordStore` for the listener sink,
and the delivery log (:class:`~sandbox.events.delivery.Log`). :func:`install`
builds a store's parts on them and subscribes its hub to the customer service;
the process's :class:`~sandbox.events.deliverers.Deliverers`
(:func:`deliverers_for`) deliver for every store. Nothing here imports Flask:
the blueprints in :mod:`sandbox.api` are the HTTP face of these objects.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sandbox.config import Config
from sandbox.domain.customers import Change, CustomerService
from sandbox.events.deliverers import Deliverers
from sandbox.events.delivery import CALLBACK_MODES, DeliverySettings, Log
from sandbox.events.dispatch import Dispatcher
from sandbox.events.hub import Hub
from sandbox.events.model import events_for
from sandbox.events.queue import EventQueue, Source
from sandbox.events.safety import CallbackPolicy, Resolver, policy_for, resolve
from sandbox.events.sink import ReceivedEvents, RecordStore
from sandbox.repository import Repository

EXTENSION = "sandbox.events"


@dataclass(frozen=True)
class EventFlavour:
    """What an API version's notifications differ in: the collection its hub keeps
    subscriptions in, and the events (envelope) one stored change produces."""

    hub_collection: str = "hub"
    build: Callable[[Change], list[dict[str, Any]]] = events_for


V4_EVENTS = EventFlavour()


@dataclass(frozen=True)
class EventStore:
    """Where a backend keeps one store's notification state."""

    subscriptions: Repository
    queue: EventQueue
    records: RecordStore
    deliveries: Log
    #: Other processes use the store too: the hub reads it on every change and routes in
    #: the change's transaction (see :class:`~sandbox.events.hub.Hub`).
    shared: bool = False
    #: A section one registration holds at a time (across processes when shared);
    #: None: the subscriptions table's lock.
    admission: Callable[[], AbstractContextManager[object]] | None = None
    #: The queue as the deliverers drain it, when it is this store's own (in memory).
    source: Source | None = None


@dataclass
class Notifications:
    """Everything the hub, listener and admin endpoints work with."""

    hub: Hub
    dispatcher: Dispatcher
    deliveries: Log
    received: ReceivedEvents
    policy: CallbackPolicy

    def close(self, timeout: float = 5.0) -> None:
        """Stop delivering; events queued in memory are dropped."""
        self.hub.close(timeout)
        self.dispatcher.close(timeout)


def delivery_settings(config: Config) -> DeliverySettings:
    if config.callback_mode not in CALLBACK_MODES:
        raise ValueError(f"callback_mode must be one of {', '.join(CALLBACK_MODES)}, "
                         f"not {config.callback_mode!r}")
    if config.delivery_attempts < 1:
        raise ValueError("delivery_attempts must be at least 1")
    if config.delivery_backoff < 0 or min(config.delivery_timeout) <= 0:
        raise ValueError("delivery_backoff must be >= 0 and delivery_timeout positive")
    return DeliverySettings(
        attempts=config.delivery_attempts,
        backoff=config.delivery_backoff,
        timeout=(float(config.delivery_timeout[0]), float(config.delivery_timeout[1])),
        mode=config.callback_mode,
        workers=config.delivery_workers,
        slow_workers=config.slow_delivery_workers,
    )


def deliverers_for(config: Config, resolver: Resolver = resolve) -> Deliverers:
    """The deliverer threads of a process (started on demand), for all its stores."""
    policy = policy_for(config.bind_host, config.callback_networks, config.public_url)
    return Deliverers(delivery_settings(config), policy, resolver=resolver)


def install(config: Config, store: EventStore, customers: CustomerService,
            deliverers: Deliverers, flavour: EventFlavour = V4_EVENTS) -> Notifications:
    """Build one store's notification parts and subscribe its hub to ``customers``;
    ``flavour``: the API version's events."""
    dispatcher = Dispatcher(store.queue, deliverers, store.deliveries, source=store.source)
    hub = Hub(store.subscriptions, dispatcher, deliverers.policy,
              max_subscriptions=config.max_subscriptions, shared=store.shared,
              admission=store.admission, build=flavour.build)
    customers.observers.append(hub.observe)
    received = ReceivedEvents(store.records, max_bytes=config.sink_max_bytes)
    return Notifications(hub, dispatcher, store.deliveries, received, deliverers.policy)


__all__ = ["EXTENSION", "V4_EVENTS", "EventFlavour", "EventStore", "Notifications",
           "deliverers_for", "install"]
