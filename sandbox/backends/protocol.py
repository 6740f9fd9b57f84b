"""The :class:`Backend` protocol: what the app factory and the hosting layer need of a
storage engine, beyond the per-table :class:`~sandbox.repository.Repository`."""

from __future__ import annotations

from typing import Protocol

from sandbox.domain.customers import CustomerService
from sandbox.events import Notifications
from sandbox.hosting.tenants_file import ChangeStore
from sandbox.repository import Database


class Backend(Protocol):
    """One storage engine: opens and drops tenants' stores, builds their notification
    parts, and keeps the hosted state every process of a sandbox shares."""

    def open_store(self, tenant: str | None, seed_file: str | None,
                   generation: str = "") -> Database:
        """The store of ``tenant`` (``None``: the open sandbox's ``--db`` store itself),
        seeded from ``seed_file`` once in its life; hosted tenants' stores are apart, so
        no query can reach another tenant's documents. ``generation`` tells a tenant
        made again under the same name from the one before it: never the same store."""
        ...

    def drop_store(self, tenant: str, generation: str = "") -> None:
        """Remove a deleted (and closed) tenant's store with everything in it."""
        ...

    def install_events(self, db: Database, customers: CustomerService, *,
                       hosted: bool) -> Notifications:
        """The hub, deliverers and listener sink of one store, observing ``customers``."""
        ...

    def tenant_changes(self) -> ChangeStore | None:
        """Where the admin API's tenant creations and deletions are kept (None: nowhere,
        they last as long as the process)."""
        ...

    def close(self) -> None:
        """Release what the backend holds for the whole server (pools, threads)."""
        ...
