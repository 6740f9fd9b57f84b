"""The :class:`Backend` protocol: what the app factory and the hosting layer need of a
storage engine, beyond the per-table :class:`~sandbox.repository.Repository`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sandbox.domain.customers import CustomerService
from sandbox.events import V4_EVENTS, EventFlavour, Notifications
from sandbox.events.delivery import DeliveryLog
from sandbox.hosting.directory import TenantDirectory
from sandbox.hosting.state import HostedState
from sandbox.repository import Database
from sandbox.seed import Seed


class Backend(Protocol):
    """One storage engine: opens and drops tenants' stores, builds their notification
    parts, and keeps the hosted state every process of a sandbox shares."""

    def open_store(self, tenant: str | None, seed_file: str | None,
                   generation: str = "", *, more_seeds: Sequence[Seed] = ()) -> Database:
        """The store of ``tenant`` (``None``: the open sandbox's ``--db`` store itself),
        seeded from ``seed_file`` once in its life; hosted tenants' stores are apart, so
        no query can reach another tenant's documents. ``generation`` tells a tenant
        made again under the same name from the one before it: never the same store.
        ``more_seeds``: other collections seeded once each, as exclusively as the first
        (another API version's customers)."""
        ...

    def drop_store(self, tenant: str, generation: str = "") -> None:
        """Remove a deleted (and closed) tenant's store with everything in it."""
        ...

    def install_events(self, db: Database, customers: CustomerService, *, hosted: bool,
                       deliveries: DeliveryLog | None = None,
                       flavour: EventFlavour = V4_EVENTS) -> Notifications:
        """The hub, deliverers and listener sink of one store, observing ``customers``;
        delivery attempts are recorded in ``deliveries`` (a tenant's, from
        :meth:`hosted_state`; default: a log in memory). ``flavour``: the API version's
        hub collection and event envelope."""
        ...

    def directory(self) -> TenantDirectory:
        """The tenant directory: the admin API's tenant creations and deletions, kept
        across restarts and shared by every process serving the same stores."""
        ...

    def hosted_state(self, tenant: str | None, generation: str = "") -> HostedState:
        """The fault rules, request journal and delivery log of one tenant (``None``: the
        open sandbox's), kept apart from its store; ``forget()`` removes them."""
        ...

    def close(self) -> None:
        """Release what the backend holds for the whole server (pools, threads)."""
        ...
