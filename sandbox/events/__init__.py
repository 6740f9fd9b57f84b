"""The event side of TMF629: hub subscriptions, event delivery and the listener sink.

:func:`install` builds the parts from the :class:`~sandbox.config.Config` and
subscribes the hub to the customer service; ``create_app`` keeps the result
in ``app.extensions["sandbox.events"]``. Nothing here imports Flask: the
blueprints in :mod:`sandbox.api` are the HTTP face of these objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.config import Config
from sandbox.domain.customers import Change, CustomerService
from sandbox.events.budget import ThreadBudget
from sandbox.events.delivery import CALLBACK_MODES, DeliveryLog, DeliverySettings, Dispatcher
from sandbox.events.hub import Hub
from sandbox.events.model import events_for
from sandbox.events.safety import CallbackPolicy, policy_for
from sandbox.events.sink import ReceivedEvents
from sandbox.repository import Repository

EXTENSION = "sandbox.events"


@dataclass(frozen=True)
class EventFlavour:
    """What an API version's notifications differ in: the collection its hub keeps
    subscriptions in, and the events (envelope) one stored change produces."""

    hub_collection: str = "hub"
    build: Callable[[Change], list[dict[str, Any]]] = events_for


V4_EVENTS = EventFlavour()


@dataclass
class Notifications:
    """Everything the hub, listener and admin endpoints work with."""

    hub: Hub
    dispatcher: Dispatcher
    deliveries: DeliveryLog
    received: ReceivedEvents
    policy: CallbackPolicy

    def close(self, timeout: float = 5.0) -> None:
        """Stop delivering; queued events are dropped, attempts in flight get ``timeout``."""
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
    )


def install(config: Config, subscriptions: Repository,
            customers: CustomerService, budget: ThreadBudget | None = None,
            deliveries: DeliveryLog | None = None,
            flavour: EventFlavour = V4_EVENTS) -> Notifications:
    """Build the notification parts and subscribe the hub to ``customers``; a hosted
    tenant's dispatcher shares the server's ``budget`` of delivery threads and records
    its attempts in the ``deliveries`` log its backend keeps (default: in memory)."""
    policy = policy_for(config.bind_host, config.callback_networks, config.public_url)
    journal = deliveries if deliveries is not None else DeliveryLog()
    dispatcher = Dispatcher(delivery_settings(config), policy, journal, budget=budget)
    hub = Hub(subscriptions, dispatcher, policy, max_subscriptions=config.max_subscriptions,
              build=flavour.build)
    customers.observers.append(hub.observe)
    received = ReceivedEvents(max_bytes=config.sink_max_bytes)
    return Notifications(hub, dispatcher, journal, received, policy)


__all__ = ["EXTENSION", "V4_EVENTS", "EventFlavour", "Notifications", "install"]
