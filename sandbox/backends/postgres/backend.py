"""The PostgreSQL backend: every store a schema of one database, shared by N processes.

The open sandbox's store is the database's default schema; each hosted tenant
gets a schema of its own. Subscriptions, the event outbox and the listener
sink live in the database too, so every process serves the same sandbox.
"""

from __future__ import annotations

from functools import cached_property

from sandbox.backends.postgres import drop_schema, install_events, open_store
from sandbox.backends.postgres.database import PgDatabase
from sandbox.backends.postgres.hosted import PgDirectory, PgHosted
from sandbox.backends.postgres.server import PgServer
from sandbox.config import Config
from sandbox.domain.customers import CustomerService
from sandbox.events import Notifications
from sandbox.events.delivery import MAX_LOG_ENTRIES, DeliveryLog
from sandbox.hosting.directory import TenantDirectory
from sandbox.hosting.state import HostedState
from sandbox.repository import Database

#: Connections each hosted tenant's PostgreSQL pool may open.
HOSTED_CONNECTIONS = 4


def tenant_schema(name: str) -> str:
    return f"tenant_{name.replace('-', '_')}"


class PostgresBackend:
    """Stores as schemas of the ``--db`` database."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.url = config.db_path

    def open_store(self, tenant: str | None, seed_file: str | None,
                   generation: str = "") -> Database:
        # Seeding holds an advisory lock: processes starting together seed once.
        if tenant is None:
            return open_store(self.url, seed_file)
        return open_store(self.url, seed_file, max_connections=HOSTED_CONNECTIONS,
                          schema=tenant_schema(tenant))

    def drop_store(self, tenant: str, generation: str = "") -> None:
        drop_schema(self.url, tenant_schema(tenant))

    def install_events(self, db: Database, customers: CustomerService, *, hosted: bool,
                       deliveries: DeliveryLog | None = None) -> Notifications:
        assert isinstance(db, PgDatabase)
        # Hosted: one deliverer per tenant (its outbox is shared by every process, so
        # the processes together deliver in parallel).
        return install_events(self.config, db, customers, 1 if hosted else None,
                              deliveries=deliveries)

    @cached_property
    def server(self) -> PgServer:
        return PgServer(self.url, pool_size=self.config.pg_pool_size)

    @cached_property
    def hosted(self) -> PgHosted:
        """Tenants, fault rules, journals and delivery logs, shared by every process."""
        return PgHosted(self.server)

    def directory(self) -> TenantDirectory:
        return PgDirectory(self.hosted)

    def hosted_state(self, tenant: str | None, generation: str = "") -> HostedState:
        # Tenant "" is the open sandbox's (no hosted tenant has an empty name).
        return self.hosted.state(tenant or "", generation, self.config.journal_size,
                                 MAX_LOG_ENTRIES)

    def close(self) -> None:
        if "hosted" in self.__dict__:
            self.hosted.close()
        if "server" in self.__dict__:
            self.server.close()
