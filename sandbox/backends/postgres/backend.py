"""The PostgreSQL backend: every store a schema of one database, shared by N processes.

The open sandbox's store is the database's ``public`` schema; each hosted
tenant gets a schema of its own, named from its name and generation
(:func:`~sandbox.backends.postgres.naming.store_schema`). Subscriptions, the
event outbox and the listener sink live in the database too, so every process
serves the same sandbox. The backend holds the process's one
:class:`~sandbox.backends.postgres.server.PgServer`: ``--pg-pool-size`` + 1
connections, whatever the number of tenants.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from sandbox.backends.postgres import drop_schema, install_events, open_store
from sandbox.backends.postgres.database import PgDatabase
from sandbox.backends.postgres.hosted import PgDirectory, PgHosted
from sandbox.backends.postgres.migrations import PUBLIC
from sandbox.backends.postgres.naming import store_schema
from sandbox.backends.postgres.server import PgServer
from sandbox.config import Config
from sandbox.domain.customers import CustomerService
from sandbox.events import V4_EVENTS, EventFlavour, Notifications
from sandbox.events.delivery import MAX_LOG_ENTRIES, DeliveryLog
from sandbox.hosting.directory import TenantDirectory
from sandbox.hosting.state import HostedState
from sandbox.repository import Database
from sandbox.seed import Seed


class PostgresBackend:
    """Stores as schemas of the ``--db`` database, all served by one :class:`PgServer`."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.server = PgServer(config.db_path, pool_size=config.pg_pool_size)

    def open_store(self, tenant: str | None, seed_file: str | None,
                   generation: str = "", *, more_seeds: Sequence[Seed] = ()) -> Database:
        schema = PUBLIC if tenant is None else store_schema(tenant, generation)
        return open_store(self.server, seed_file, schema=schema, more_seeds=more_seeds)

    def drop_store(self, tenant: str, generation: str = "") -> None:
        drop_schema(self.server, store_schema(tenant, generation))

    def install_events(self, db: Database, customers: CustomerService, *, hosted: bool,
                       deliveries: DeliveryLog | None = None,
                       flavour: EventFlavour = V4_EVENTS) -> Notifications:
        assert isinstance(db, PgDatabase)
        # Hosted: one deliverer per tenant (its outbox is shared by every process, so
        # the processes together deliver in parallel).
        return install_events(self.config, db, customers, 1 if hosted else None,
                              deliveries=deliveries, flavour=flavour)

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
        """Close the hosted state, the pool and the listener: after every tenant is closed
        (closing twice does no harm)."""
        if "hosted" in self.__dict__:
            self.hosted.close()
        self.server.close()
