"""The TinyDB backend: the ``--db`` file store, hosted tenants' stores beside it.

One process owns a file store (its owner lock says so), so what the hosted
sandbox keeps apart from the stores (the tenant directory, fault rules) is in
small JSON files beside them (:mod:`sandbox.backends.tinydb.hosted`), and
notifications, request journals and delivery logs are kept in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from sandbox import events
from sandbox.backends.tinydb import open_database
from sandbox.backends.tinydb.hosted import FileDirectory, FileRules
from sandbox.config import Config
from sandbox.domain.customers import CustomerService
from sandbox.events import V4_EVENTS, EventFlavour, Notifications
from sandbox.events.budget import ThreadBudget
from sandbox.events.delivery import DeliveryLog
from sandbox.hosting.directory import MemoryDirectory, TenantDirectory
from sandbox.hosting.state import HostedState, memory_state
from sandbox.repository import MEMORY, Database
from sandbox.seed import Seed, seed_more, seed_once


def tenant_path(db_path: str, name: str, generation: str = "") -> Path:
    """Where a tenant's TinyDB store lives: ``<db stem>.tenants/<name>.json`` beside ``--db``
    (``<name>.<generation>.json`` for a tenant the admin API made).

    Tenant names are ``[a-z0-9-]{1,63}`` and generations hex digits: a file name each,
    never cut, never shared."""
    base = Path(db_path)
    return base.with_name(f"{base.stem}.tenants") / ".".join(
        part for part in (name, generation, "json") if part)


class TinyDbBackend:
    """Stores in files (or memory); hosted state in a JSON file beside them."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.memory = config.db_path == MEMORY
        # Hosted, --delivery-workers bounds the delivery threads of all tenants together.
        self.budget = ThreadBudget(config.delivery_workers)

    def _path(self, tenant: str | None, generation: str) -> str:
        if tenant is None or self.memory:
            return self.config.db_path
        return str(tenant_path(self.config.db_path, tenant, generation))

    def open_store(self, tenant: str | None, seed_file: str | None,
                   generation: str = "", *, more_seeds: Sequence[Seed] = ()) -> Database:
        path = self._path(tenant, generation)
        if path != MEMORY:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db: Database = open_database(path)
        try:
            seed_once(db.table("customer"), db.table("meta"), seed_file)
            seed_more(db, more_seeds)
        except BaseException:
            db.close()  # the store's owner lock goes with the app that failed to start
            raise
        return db

    def drop_store(self, tenant: str, generation: str = "") -> None:
        # Names hold no '.', so ``<name>[.<generation>].json*`` (snapshot, journal segments,
        # lock, fault rules) is this tenant's only.
        if self.memory:
            return
        store = tenant_path(self.config.db_path, tenant, generation)
        for path in store.parent.glob(f"{store.name}*"):
            path.unlink(missing_ok=True)

    def install_events(self, db: Database, customers: CustomerService, *, hosted: bool,
                       deliveries: DeliveryLog | None = None,
                       flavour: EventFlavour = V4_EVENTS) -> Notifications:
        return events.install(self.config, db.table(flavour.hub_collection), customers,
                              self.budget if hosted else None, deliveries, flavour)

    def directory(self) -> TenantDirectory:
        if self.memory:
            return MemoryDirectory()
        # "_": no tenant is named so, so the file is never a tenant's store.
        return FileDirectory(tenant_path(self.config.db_path, "x").with_name("_admin.json"))

    def hosted_state(self, tenant: str | None, generation: str = "") -> HostedState:
        if self.memory:
            return memory_state(self.config.journal_size)
        # The rules file is one of the store's files: dropping the store removes it.
        return replace(memory_state(self.config.journal_size),
                       rules=FileRules(Path(self._path(tenant, generation) + ".faults")))

    def close(self) -> None:
        pass
