"""Events that survive: one delivery queue in PostgreSQL for every store of the database.

``public.delivery_queue`` (shared migration 2) holds the events of every store
(schema), each row naming its store and subscription. The rules are
:mod:`sandbox.events`' (order, attempts, backoff, the queue bound, the lanes);
here is only where the events wait:

* :class:`PgStoreQueue`, one store's :class:`~sandbox.events.queue.EventQueue`:
  ``push`` runs in the write section of the customer change that caused the
  events, so they are committed with the change or not at all; a few
  statements for all of them, however many subscriptions get them. It holds a
  share lock on the subscriptions until then: an unregistering elsewhere waits
  for the change, then drops what it queued.
* :class:`PgQueue`, the process's :class:`~sandbox.events.queue.Source` over
  every store it serves, drained by the process's one set of
  :class:`~sandbox.events.deliverers.Deliverers` (``--delivery-workers`` and
  the slow lane), whatever the number of tenants. A claim leases the head of
  a subscription (its lowest row) in a short transaction, ``FOR UPDATE SKIP
  LOCKED``, only while no other row of that subscription comes before it and
  its lease is not held: no two deliverers of any process send one
  subscription's events at once, and they go in order. No connection is held
  during the HTTP attempt; the outcome deletes the row or schedules its retry,
  if the lease is still ours. A deliverer killed mid-attempt (``kill -9``)
  leaves its lease to expire (:func:`lease_seconds`), then any process sends
  the event again with the same ``eventId``: at least once.

``NOTIFY`` (in the change's transaction) wakes the deliverers of every process
through each process's one listening connection
(:meth:`~sandbox.backends.postgres.server.PgServer.listen`); a poll every
:data:`POLL` seconds is the backstop, and times the retries.

Unregistering deletes the subscription's rows, the leased head included: an
attempt already in flight ends (its answer is logged, its outcome changes
nothing), and nothing more is sent.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence, Set

import psycopg
from psycopg.types.json import Jsonb

from sandbox.backends.postgres.database import PgDatabase
from sandbox.backends.postgres.server import PgServer, notify
from sandbox.errors import ApiError
from sandbox.events.delivery import Delivery, DeliverySettings, Log
from sandbox.events.queue import Claim, Item, Key, Pushed

log = logging.getLogger("sandbox.delivery")
CHANNEL = "tmf629_delivery"
#: Seconds between looks at the queue when no NOTIFY came (retries fall due so).
POLL = 0.5
#: Added to the longest an attempt may take: a lease outlives any live attempt.
LEASE_MARGIN = 5.0

# A due head of a store this process serves, not leased, in the asked lane: the oldest.
CLAIM = """
    UPDATE public.delivery_queue SET leased_until = now() + make_interval(secs => %(lease)s),
                                     lease = %(token)s
    WHERE seq = (
        SELECT q.seq FROM public.delivery_queue q
        WHERE q.store = ANY(%(stores)s) AND q.next_attempt <= now()
          AND (q.leased_until IS NULL OR q.leased_until < now())
          AND NOT EXISTS (SELECT 1 FROM public.delivery_queue p
                          WHERE p.store = q.store AND p.subscription_id = q.subscription_id
                            AND p.seq < q.seq)
          AND EXISTS (SELECT 1 FROM unnest(%(slow_stores)s::text[], %(slow_subs)s::text[])
                          s(store, subscription_id)
                      WHERE s.store = q.store AND s.subscription_id = q.subscription_id)
              = %(lane_slow)s
        ORDER BY q.seq LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING seq, store, subscription_id, url, event, attempt
"""


def lease_seconds(settings: DeliverySettings) -> float:
    """How long a claim holds a head: longer than an attempt may take (connecting and
    the answer), so only a dead deliverer's lease runs out."""
    connect, read = settings.timeout
    return connect + read + LEASE_MARGIN


class PgQueue:
    """``public.delivery_queue`` as this process's deliverers see it: one source for
    every store the process serves (:meth:`serve`), each with its delivery log."""

    def __init__(self, server: PgServer, settings: DeliverySettings) -> None:
        self._server = server
        self._lease = lease_seconds(settings)
        self._logs: dict[str, Log] = {}
        self._lock = threading.Lock()

    def serve(self, store: str, journal: Log) -> None:
        with self._lock:
            self._logs[store] = journal

    def forget(self, store: str) -> None:
        with self._lock:
            self._logs.pop(store, None)

    def claim(self, slow: Set[Key], lane_slow: bool) -> Claim | None:
        with self._lock:
            logs = dict(self._logs)
        if not logs:
            return None
        token = uuid.uuid4().hex
        params = {"lease": self._lease, "token": token, "stores": list(logs),
                  "slow_stores": [store for store, _ in slow],
                  "slow_subs": [subscription for _, subscription in slow],
                  "lane_slow": lane_slow}
        try:
            with self._server.connection() as conn, conn.transaction():
                row = conn.execute(CLAIM, params).fetchone()
        except (psycopg.Error, ApiError) as exc:  # ApiError: every pooled connection busy
            log.warning("delivery queue: %s", exc)  # the poll tries again; the lane lives on
            return None
        if row is None:
            return None
        seq, store, subscription_id, url, event, attempts = row
        delivery = Delivery(subscription_id, url, event, int(attempts))
        return Claim((store, subscription_id), delivery, logs[store], self, (seq, token))

    def settle(self, claim: Claim, wait: float | None) -> None:
        seq, token = claim.token
        with self._server.connection() as conn, conn.transaction():
            if wait is None:
                conn.execute("DELETE FROM public.delivery_queue WHERE seq = %s AND lease = %s",
                             (seq, token))
            else:
                conn.execute("UPDATE public.delivery_queue SET attempt = %s, leased_until = NULL, "
                             "lease = NULL, next_attempt = now() + make_interval(secs => %s) "
                             "WHERE seq = %s AND lease = %s",
                             (claim.delivery.attempt, wait, seq, token))

    def put_back(self, claim: Claim) -> None:
        seq, token = claim.token
        with self._server.connection() as conn, conn.transaction():
            conn.execute("UPDATE public.delivery_queue SET leased_until = NULL, lease = NULL "
                         "WHERE seq = %s AND lease = %s", (seq, token))

    def due_in(self, slow: Set[Key], lane_slow: bool) -> float | None:
        # Other processes queue and settle too: only a look tells, so poll.
        with self._lock:
            stores = set(self._logs)
        if not stores or (lane_slow and not any(store in stores for store, _ in slow)):
            return None
        return POLL


class PgStoreQueue:
    """One store's events in the shared queue, as its hub fills them; ``source`` serves
    them to this process's deliverers, writing to ``journal``, until :meth:`close`."""

    def __init__(self, db: PgDatabase, source: PgQueue, journal: Log,
                 hub: str = "hub") -> None:
        self._db = db
        #: The collection of the subscriptions whose events these are (an API version's).
        self._hub = hub
        self.store = db.schema
        self._source = source
        source.serve(self.store, journal)

    def key(self, subscription_id: str) -> Key:
        return (self.store, subscription_id)

    def push(self, items: Sequence[Item], limit: int) -> list[Pushed]:
        """A few statements for one change's events, however many subscriptions get them."""
        wanted = sorted({subscription_id for subscription_id, _, _ in items})
        with self._db.transaction() as conn:  # the change's own section
            # Subscriptions still there, kept until the change commits (see the docstring).
            live = {row[0] for row in conn.execute(
                "SELECT id FROM document WHERE collection = %s AND id = ANY(%s) "
                "ORDER BY id FOR SHARE", (self._hub, wanted))}
            waiting = dict(conn.execute(
                "SELECT subscription_id, count(*) FROM public.delivery_queue "
                "WHERE store = %s AND subscription_id = ANY(%s) GROUP BY 1",
                (self.store, sorted(live))).fetchall())
            pushed: list[Pushed] = []
            rows = []
            for subscription_id, url, event in items:
                if subscription_id not in live:  # unregistered since the hub read the list
                    pushed.append("queued")
                elif waiting.get(subscription_id, 0) >= limit:
                    pushed.append("full")
                else:
                    waiting[subscription_id] = waiting.get(subscription_id, 0) + 1
                    rows.append((self.store, subscription_id, url, Jsonb(event)))
                    pushed.append("queued")
            if rows:
                with conn.cursor() as cursor:  # in order: seq is the order of delivery
                    cursor.executemany("INSERT INTO public.delivery_queue "
                                       "(store, subscription_id, url, event) "
                                       "VALUES (%s, %s, %s, %s)", rows)
                notify(conn, CHANNEL)
        # The deliverers hear of it from the NOTIFY, once the change commits.
        return pushed

    def cancel(self, subscription_id: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM public.delivery_queue WHERE store = %s "
                         "AND subscription_id = %s", (self.store, subscription_id))

    def pending(self) -> int:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT count(*) FROM public.delivery_queue WHERE store = %s",
                               (self.store,)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """This process stops delivering the store's events (others may go on)."""
        self._source.forget(self.store)
