"""The TinyDB backend: the ``--db`` file store, hosted tenants' stores beside it.

One process owns a file store (its owner lock says so), so what the hosted
sandbox keeps apart from the stores (the admin API's tenants) is a small JSON
file beside them, and notifications are queued in memory.
"""

from __future__ import annotations

from pathlib import Path

from sandbox import events
from sandbox.backends.tinydb import open_database
from sandbox.config import Config
from sandbox.domain.customers import CustomerService
from sandbox.events import EventStore, Notifications
from sandbox.events.delivery import DeliveryLog
from sandbox.events.queue import MemoryQueue
from sandbox.events.sink import MemoryRecords
from sandbox.hosting.tenants_file import ChangeStore, JsonFile
from sandbox.repository import MEMORY, Database
from sandbox.seed import seed_once


def tenant_path(db_path: str, name: str) -> Path:
    """Where a tenant's TinyDB store lives: ``<db stem>.tenants/<name>.json`` beside ``--db``.

    Tenant names are ``[a-z0-9-]{1,63}``: a file name each, never cut, never shared."""
    base = Path(db_path)
    return base.with_name(f"{base.stem}.tenants") / f"{name}.json"


class TinyDbBackend:
    """Stores in files (or memory); hosted state in a JSON file beside them."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.memory = config.db_path == MEMORY
        # One set of deliverers (started on demand) for the stores of every tenant.
        self.deliverers = events.deliverers_for(config)

    def _path(self, tenant: str | None) -> str:
        if tenant is None or self.memory:
            return self.config.db_path
        return str(tenant_path(self.config.db_path, tenant))

    def open_store(self, tenant: str | None, seed_file: str | None,
                   generation: str = "") -> Database:
        path = self._path(tenant)
        if path != MEMORY:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db: Database = open_database(path)
        try:
            seed_once(db.table("customer"), db.table("meta"), seed_file)
        except BaseException:
            db.close()  # the store's owner lock goes with the app that failed to start
            raise
        return db

    def drop_store(self, tenant: str, generation: str = "") -> None:
        # Names hold no '.', so ``<name>.json*`` (snapshot, journal segments, lock) is
        # this tenant's only.
        if self.memory:
            return
        store = tenant_path(self.config.db_path, tenant)
        for path in store.parent.glob(f"{store.name}*"):
            path.unlink(missing_ok=True)

    def install_events(self, db: Database, customers: CustomerService, *,
                       hosted: bool) -> Notifications:
        # One process owns the store: its events wait in memory (lost with the process).
        deliveries = DeliveryLog()
        queue = MemoryQueue(deliveries)
        store = EventStore(db.table("hub"), queue, MemoryRecords(), deliveries, source=queue)
        return events.install(self.config, store, customers, self.deliverers)

    def tenant_changes(self) -> ChangeStore | None:
        if self.memory:
            return None
        # "_": no tenant is named so, so the file is never a tenant's store.
        return ChangeStore(JsonFile(tenant_path(self.config.db_path, "x").with_name(
            "_admin.json")))

    def close(self) -> None:
        self.deliverers.close()
