"""Hosted state in PostgreSQL: the tenant directory and each tenant's fault rules, shared.

Every process sharing the database serves the same tenants with the same
rules, so both live in tables of the ``public`` schema (shared migration 1)
and each change is made in one transaction under an advisory lock, followed
by a ``NOTIFY`` on :data:`CHANNEL` (sent when it commits): ``tenants`` for the
directory, ``faults:<tenant>:<generation>`` for a tenant's rules. Each process
keeps what it read and re-reads on the notification; a notification missed
while the listener reconnected is made good by its ``None`` call (everything is
re-read) and by a cheap version check at most once per :data:`RECHECK` seconds.

The request journals and delivery logs are in :mod:`sandbox.backends.postgres.logs`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from psycopg.types.json import Jsonb

from sandbox.backends.postgres.logs import LogWriter, PgLog
from sandbox.backends.postgres.migrations import DIRECTORY_LOCK, RULES_LOCK, Connection
from sandbox.backends.postgres.server import PgServer, notify
from sandbox.hosting.directory import Changes, kept_spec
from sandbox.hosting.state import HostedState

CHANNEL = "tmf629_hosted"
TENANTS = "tenants"
#: Seconds a process serves what it read before checking it is still current.
RECHECK = 1.0

Rules = list[dict[str, Any]]


class PgHosted:
    """The hosted state of one process on one database: notifications in, caches, and
    the one thread writing journals and delivery logs."""

    def __init__(self, server: PgServer) -> None:
        self.server = server
        self.writer = LogWriter(server)
        self._watchers: list[Callable[[], None]] = []
        self._rules: dict[tuple[str, str], PgRules] = {}
        self._lock = threading.Lock()
        server.listen(CHANNEL, self._heard)

    def _heard(self, payload: str | None) -> None:
        """On the listener's thread: only note what changed."""
        with self._lock:
            watchers, rules = list(self._watchers), list(self._rules.values())
        if payload is None or payload == TENANTS:
            for callback in watchers:
                callback()
        if payload is None:
            for kept in rules:
                kept.stale = True
        elif payload.startswith("faults:"):
            _, tenant, generation = payload.split(":", 2)
            found = self._rules.get((tenant, generation))
            if found is not None:
                found.stale = True

    def watch(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._watchers.append(callback)

    def state(self, tenant: str, generation: str, journal_size: int,
              deliveries_size: int) -> HostedState:
        with self._lock:
            rules = self._rules.setdefault((tenant, generation),
                                           PgRules(self.server, tenant, generation))
        journal = PgLog(self.writer, "journal", tenant, generation, journal_size)
        deliveries = PgLog(self.writer, "delivery", tenant, generation, deliveries_size)
        return HostedState(rules, journal, deliveries,
                           forget=lambda: self.forget(tenant, generation))

    def forget(self, tenant: str, generation: str) -> None:
        """Remove a deleted tenant's rules, journal and delivery log."""
        self.writer.flush()
        with self.server.connection() as conn, conn.transaction():
            conn.execute("DELETE FROM public.hosted_fault_rules WHERE tenant = %s "
                         "AND generation = %s", (tenant, generation))
            conn.execute("DELETE FROM public.hosted_log WHERE tenant = %s AND generation = %s",
                         (tenant, generation))
            notify(conn, CHANNEL, f"faults:{tenant}:{generation}")
        with self._lock:
            self._rules.pop((tenant, generation), None)

    def close(self) -> None:
        self.server.unlisten(CHANNEL, self._heard)
        self.writer.close()


class PgDirectory:
    """The tenant directory in ``public.hosted_tenant`` and ``public.hosted_tenant_removed``."""

    def __init__(self, hosted: PgHosted) -> None:
        self.hosted = hosted

    def read(self) -> Changes:
        with self.hosted.server.connection() as conn, conn.transaction():
            return _read_changes(conn)

    def update(self, step: Callable[[Changes], Changes]) -> Changes:
        with self.hosted.server.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (DIRECTORY_LOCK,))
            before = _read_changes(conn)
            after = step(before)
            kept = {spec.name: spec for spec in after.created}
            for spec in before.created:
                if kept.get(spec.name) != spec:
                    conn.execute("DELETE FROM public.hosted_tenant WHERE name = %s",
                                 (spec.name,))
            for spec in after.created:
                if spec not in before.created:
                    conn.execute("INSERT INTO public.hosted_tenant (name, generation, "
                                 "key_digests, seed) VALUES (%s, %s, %s, %s)",
                                 (spec.name, spec.generation, list(spec.digests), spec.seed))
            conn.execute("DELETE FROM public.hosted_tenant_removed")
            for name in sorted(after.removed):
                conn.execute("INSERT INTO public.hosted_tenant_removed (name) VALUES (%s)",
                             (name,))
            conn.execute("UPDATE public.hosted_directory SET version = version + 1")
            notify(conn, CHANNEL, TENANTS)
        return after

    def version(self) -> object:
        with self.hosted.server.connection() as conn:
            row = conn.execute("SELECT version FROM public.hosted_directory").fetchone()
        return row[0] if row else None

    def watch(self, callback: Callable[[], None]) -> None:
        self.hosted.watch(callback)

    def close(self) -> None:
        pass


def _read_changes(conn: Connection) -> Changes:
    created = tuple(kept_spec(name, digests, seed, generation) for name, generation, digests,
                    seed in conn.execute("SELECT name, generation, key_digests, seed FROM "
                                         "public.hosted_tenant ORDER BY seq"))
    removed = frozenset(row[0] for row in conn.execute(
        "SELECT name FROM public.hosted_tenant_removed"))
    return Changes(created, removed)


class PgRules:
    """One tenant's fault rules in ``public.hosted_fault_rules``: read when a notification
    says they changed, or when they were last checked :data:`RECHECK` seconds ago."""

    def __init__(self, server: PgServer, tenant: str, generation: str) -> None:
        self.server = server
        self.key = (tenant, generation)
        #: Set by a notification: the next ``load`` reads the rules again.
        self.stale = True
        self._checked = 0.0
        self._version = 0
        self._rules: Rules | None = None
        self._lock = threading.Lock()

    def load(self) -> Rules | None:
        if not self.stale and time.monotonic() - self._checked < RECHECK:
            return self._rules
        with self._lock:
            self.stale, self._checked = False, time.monotonic()
            with self.server.connection() as conn:
                # The rules travel only when they changed since this process read them.
                row = conn.execute("SELECT version, CASE WHEN version <> %s THEN rules END "
                                   "FROM public.hosted_fault_rules WHERE tenant = %s AND "
                                   "generation = %s", (self._version, *self.key)).fetchone()
            if row is None:
                self._version, self._rules = 0, None
            elif row[0] != self._version:
                self._version, self._rules = int(row[0]), list(row[1])
            return self._rules

    def change(self, step: Callable[[Rules | None], Rules]) -> Rules:
        with self.server.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (RULES_LOCK,))
            row = conn.execute("SELECT rules FROM public.hosted_fault_rules WHERE tenant = %s "
                               "AND generation = %s", self.key).fetchone()
            rules = list(step(None if row is None else list(row[0])))
            conn.execute("INSERT INTO public.hosted_fault_rules (tenant, generation, rules) "
                         "VALUES (%s, %s, %s) ON CONFLICT (tenant, generation) DO UPDATE "
                         "SET rules = excluded.rules, version = hosted_fault_rules.version + 1",
                         (*self.key, Jsonb(rules)))
            notify(conn, CHANNEL, "faults:{}:{}".format(*self.key))
        self.stale = True
        return rules
