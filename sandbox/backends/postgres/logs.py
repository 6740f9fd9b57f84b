"""Request journals and delivery logs in ``public.hosted_log``, read by every process.

Behind a load balancer one process serves a request and another lists the
journal, so the entries live in the database. Writing one must not slow the
request it records: :meth:`PgLog.add` only queues the entry for the process's
one :class:`LogWriter` thread, which inserts the queue in batches and trims
each log it wrote to to its newest ``size`` entries, in SQL. The queue is
bounded (:data:`QUEUED`): if the database falls that far behind, new entries
are dropped (and counted), never waited for. Reading a log first waits
(bounded) for this process's queued entries, so an operator sees every request
this process answered before.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from sandbox.backends.postgres.migrations import LOG_LOCK
from sandbox.backends.postgres.server import PgServer
from sandbox.events.delivery import DeliveryLog

log = logging.getLogger("sandbox.postgres")

#: Entries waiting for the writer at most; beyond, new ones are dropped.
QUEUED = 10_000
#: Entries inserted per transaction at most.
BATCH = 500
#: How long reading a log waits for this process's queued entries (seconds).
FLUSH_SECONDS = 5.0

Entry = tuple[str, str, str, int, dict[str, Any]]

_INSERT = ("INSERT INTO public.hosted_log (kind, tenant, generation, entry) "
           "VALUES (%s, %s, %s, %s)")
# Everything but the log's newest ``n`` entries, by the time they name (the order they are
# listed in): a process's batch may come after another's newer entries.
_TRIM = """
    DELETE FROM public.hosted_log WHERE kind = %(k)s AND tenant = %(t)s
      AND generation = %(g)s AND seq IN (
        SELECT seq FROM public.hosted_log
        WHERE kind = %(k)s AND tenant = %(t)s AND generation = %(g)s
        ORDER BY entry->>'time' DESC, seq DESC OFFSET %(n)s)
"""


class LogWriter:
    """The one thread of a process that writes queued log entries."""

    def __init__(self, server: PgServer) -> None:
        self.server = server
        self.dropped = 0
        self._queue: deque[Entry] = deque()
        self._queued = 0  # entries ever queued (dropped ones not counted)
        self._written = 0  # of those, entries the thread is done with
        self._closed = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="hosted-log-writer",
                                        daemon=True)
        self._thread.start()

    def put(self, entry: Entry) -> None:
        with self._wake:
            if self._closed or len(self._queue) >= QUEUED:
                self.dropped += 1
                return
            self._queue.append(entry)
            self._queued += 1
            self._wake.notify_all()

    def flush(self, timeout: float = FLUSH_SECONDS) -> bool:
        """Wait until every entry queued so far is written; False if that took too long."""
        with self._wake:
            target = self._queued
            return self._wake.wait_for(lambda: self._written >= target or self._closed,
                                       timeout)

    def close(self, timeout: float = FLUSH_SECONDS) -> None:
        self.flush(timeout)
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._queue or self._closed)
                if not self._queue:
                    return
                batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
            try:
                self._write(batch)
            except psycopg.Error as exc:  # the entries are lost, the requests were answered
                log.warning("hosted log: %d entries not written: %s", len(batch),
                            str(exc).strip())
            with self._wake:
                self._written += len(batch)
                self._wake.notify_all()

    def _write(self, batch: list[Entry]) -> None:
        sizes = {(kind, tenant, generation): size for kind, tenant, generation, size, _ in batch}
        with self.server.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            # Writers of one log take turns (in one order: no deadlock), so each trim
            # counts the entries the others committed: a log never holds more than size.
            for kind, tenant, generation in sorted(sizes):
                cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                               (LOG_LOCK, f"{kind}:{tenant}:{generation}"))
            cursor.executemany(_INSERT, [(kind, tenant, generation, Jsonb(entry))
                                         for kind, tenant, generation, _, entry in batch])
            for (kind, tenant, generation), size in sizes.items():
                cursor.execute(_TRIM, {"k": kind, "t": tenant, "g": generation, "n": size})


class PgLog(DeliveryLog):
    """One tenant's journal or delivery log (``kind``), its newest ``size`` entries: the
    :class:`~sandbox.events.delivery.DeliveryLog` interface, which the journal's store
    shares (``add``, ``all``, ``clear``)."""

    def __init__(self, writer: LogWriter, kind: str, tenant: str, generation: str,
                 size: int) -> None:
        super().__init__()
        self.writer = writer
        self.key = (kind, tenant, generation)
        self.size = size

    def add(self, entry: dict[str, Any]) -> None:
        self.writer.put((*self.key, self.size, entry))

    def all(self) -> list[dict[str, Any]]:
        """Oldest first: by the time each entry names (processes write in batches of their
        own, so the order they were written in mixes them a little)."""
        self.writer.flush()
        with self.writer.server.connection() as conn:
            return [row[0] for row in conn.execute(
                "SELECT entry FROM public.hosted_log WHERE kind = %s AND tenant = %s "
                "AND generation = %s ORDER BY entry->>'time', seq", self.key)]

    def clear(self) -> None:
        self.writer.flush()
        with self.writer.server.connection() as conn, conn.transaction():
            conn.execute("DELETE FROM public.hosted_log WHERE kind = %s AND tenant = %s "
                         "AND generation = %s", self.key)
