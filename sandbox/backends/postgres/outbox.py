"""Events that survive: subscriptions and a transactional outbox in PostgreSQL.

:class:`OutboxDispatcher` keeps the rules of the in-memory
:class:`~sandbox.events.delivery.Dispatcher` (the same attempts, backoff,
judging of answers, callback pinning and delivery log) but queues in the
``outbox`` table. ``enqueue`` runs inside the write section of the customer
change that caused the event, so the event is committed with the change or
not at all. Deliverer threads in every process claim the *head* of a
subscription's queue (the oldest row of that subscription) with ``FOR UPDATE
SKIP LOCKED`` and keep the row locked while they deliver: no two processes
send the same head, later events of a subscription wait for their head, so
order holds per subscription. The row is deleted in the transaction that
records the outcome; a deliverer killed mid-attempt (``kill -9``) releases its
lock with its connection and another deliverer sends the event again, with the
same ``eventId`` (at least once). ``NOTIFY`` wakes the deliverers of every
process (through the process's one listening connection,
:meth:`~sandbox.backends.postgres.server.PgServer.listen`); a short poll is the
backstop (and times retries).
The listener sink is :class:`~sandbox.backends.postgres.sink.PgReceivedEvents`.

:class:`PgHub` reads subscriptions from the database on every change, so a
subscription registered through one process is served by all of them.
"""

from __future__ import annotations

import logging
import threading

import psycopg
import requests
from psycopg.types.json import Jsonb

from sandbox.backends.postgres.database import PgDatabase
from sandbox.backends.postgres.migrations import HUB_LOCK
from sandbox.backends.postgres.server import notify
from sandbox.backends.postgres.sink import PgReceivedEvents
from sandbox.config import Config
from sandbox.domain.customers import Change, CustomerService
from sandbox.errors import ApiError
from sandbox.events import V4_EVENTS, EventFlavour, Notifications, delivery_settings
from sandbox.events.delivery import (
    MAX_QUEUED,
    Delivery,
    DeliveryLog,
    DeliverySettings,
    Dispatcher,
    backoff_delays,
)
from sandbox.events.hub import Hub
from sandbox.events.safety import CallbackPolicy, Resolver, pinned_session, policy_for, resolve
from sandbox.repository import Document, StoreGone

log = logging.getLogger("sandbox.delivery")
CHANNEL = "tmf629_outbox"

# The oldest row of its subscription, due, not being delivered, for a live subscription.
CLAIM = """
    SELECT o.seq, o.subscription_id, o.url, o.event, o.attempt FROM outbox o
    WHERE o.next_attempt <= now()
      AND NOT EXISTS (SELECT 1 FROM outbox p
                      WHERE p.subscription_id = o.subscription_id AND p.seq < o.seq)
      AND EXISTS (SELECT 1 FROM document h WHERE h.collection = %(hub)s
                  AND h.id = o.subscription_id)
    ORDER BY o.seq LIMIT 1 FOR UPDATE OF o SKIP LOCKED
"""


class OutboxDispatcher(Dispatcher):
    """The outbox in PostgreSQL, drained by ``workers`` threads of this process
    (``settings.workers``, ``--delivery-workers``, unless given).

    Of the in-memory dispatcher it keeps the settings, the policy, the log and
    one attempt (``_attempt``, ``_record``); its names here start with
    ``outbox`` so they never shadow the parent's own queue machinery.
    """

    def __init__(self, db: PgDatabase, settings: DeliverySettings, policy: CallbackPolicy,
                 journal: DeliveryLog | None = None, *, workers: int | None = None,
                 poll: float = 0.5, resolver: Resolver = resolve,
                 hub_collection: str = "hub") -> None:
        super().__init__(settings, policy, journal, resolver=resolver)
        self._db = db
        #: Each API version's deliverers claim the events of its own hub's subscriptions.
        self._outbox_hub = hub_collection
        self._outbox_poll = poll
        self._outbox_stop = threading.Event()
        self._outbox_wake = threading.Condition()
        self._outbox_threads = [
            threading.Thread(target=self._drain_outbox, name=f"outbox-{n}", daemon=True)
            for n in range(settings.workers if workers is None else workers)]
        for worker in self._outbox_threads:
            worker.start()
        db.server.listen(CHANNEL, self._wake_outbox)

    def enqueue(self, subscription_id: str, callback: str, event: Document) -> None:
        """Queue ``event`` in the caller's write section (committed with its cause)."""
        url = self.url_for(callback, str(event.get("eventType")))
        with self._db.transaction() as conn:
            # Bounded like the in-memory queues: a dead listener cannot fill the database.
            waiting = conn.execute("SELECT count(*) FROM (SELECT 1 FROM outbox WHERE "
                                   "subscription_id = %s LIMIT %s) w",
                                   (subscription_id, MAX_QUEUED)).fetchone()
            if waiting and waiting[0] >= MAX_QUEUED:
                self._record(Delivery(subscription_id, url, event), "dropped", None,
                             f"{MAX_QUEUED} events are already waiting for this subscription",
                             None)
                return
            conn.execute("INSERT INTO outbox (subscription_id, url, event) VALUES (%s, %s, %s)",
                         (subscription_id, url, Jsonb(event)))
            notify(conn, CHANNEL)

    def cancel(self, subscription_id: str) -> None:
        """Drop the subscription's queue, waiting for an attempt in flight in any process.

        The row being delivered is locked by its deliverer: the ``DELETE`` waits
        for that attempt (bounded by the delivery timeout), so once unregistering
        answers 204 nothing more reaches the callback.
        """
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM outbox WHERE subscription_id = %s", (subscription_id,))

    def pending(self) -> int:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT count(*) FROM outbox").fetchone()
        return int(row[0]) if row else 0

    def close(self, timeout: float = 5.0) -> None:
        self._db.server.unlisten(CHANNEL, self._wake_outbox)
        self._outbox_stop.set()
        with self._outbox_wake:
            self._outbox_wake.notify_all()
        for worker in self._outbox_threads:
            if worker is not threading.current_thread():
                worker.join(timeout)

    # -- deliverers ---------------------------------------------------------

    def _wake_outbox(self, payload: str | None) -> None:
        """A NOTIFY from any process (or a resync) wakes this process's deliverers."""
        with self._outbox_wake:
            self._outbox_wake.notify_all()

    def _drain_outbox(self) -> None:
        with pinned_session(self.policy, self._resolver) as session:
            while not self._outbox_stop.is_set():
                try:
                    busy = self._deliver_head(session)
                except StoreGone:  # the tenant was deleted by another process: for good
                    return
                except (psycopg.Error, ApiError) as exc:  # ApiError: the pool was busy
                    log.warning("outbox: %s", exc)
                    busy = False
                if not busy:
                    with self._outbox_wake:
                        self._outbox_wake.wait(self._outbox_poll)

    def _deliver_head(self, session: requests.Session) -> bool:
        """Claim one due head, attempt it, record the outcome; False when none is due."""
        if self._outbox_stop.is_set():
            return False
        with self._db.transaction() as conn:
            row = conn.execute(CLAIM, {"hub": self._outbox_hub}).fetchone()
            if row is None:
                return False
            seq, subscription_id, url, event, attempt = row
            delivery = Delivery(subscription_id, url, event, int(attempt) + 1)
            outcome, status, error = self._attempt(session, delivery)
            if outcome == "retry" and delivery.attempt >= self.settings.attempts:
                outcome = "failed"
            delays = backoff_delays(self.settings.backoff, self.settings.attempts)
            wait = delays[delivery.attempt - 1] if outcome == "retry" else None
            self._record(delivery, outcome, status, error, wait)
            if wait is None:
                conn.execute("DELETE FROM outbox WHERE seq = %s", (seq,))
            else:
                conn.execute("UPDATE outbox SET attempt = %s, next_attempt = now() + "
                             "make_interval(secs => %s) WHERE seq = %s",
                             (delivery.attempt, wait, seq))
        return True


class PgHub(Hub):
    """The hub, reading subscriptions from the database (shared by every process)."""

    def __init__(self, db: PgDatabase, dispatcher: Dispatcher, policy: CallbackPolicy, *,
                 max_subscriptions: int = 100, flavour: EventFlavour = V4_EVENTS) -> None:
        super().__init__(db.table(flavour.hub_collection), dispatcher, policy,
                         max_subscriptions=max_subscriptions, build=flavour.build)
        self._db = db

    def _admit(self, subscription: Document) -> None:
        """Count and insert under an advisory lock, in one transaction: processes
        registering at once queue here, so together they never pass the cap."""
        with self._db.exclusively(HUB_LOCK):
            if self._repo.count() >= self.max_subscriptions:
                raise self.full()
            self._repo.insert(subscription)

    def subscriptions(self) -> list[Document]:
        return self._repo.all()

    def observe(self, change: Change) -> None:
        """Route at once, in the change's own transaction: that is the outbox's guarantee.

        (The in-memory hub may defer routing; here a change and its events
        commit together, so nothing is lost between them. Regex queries wait
        for an evaluation slot like the in-memory router does.)
        """
        events = self.build(change)
        if events:
            self.dispatch(events, self.subscriptions(), change.kind)


def install_events(config: Config, db: PgDatabase, customers: CustomerService,
                   workers: int | None = None, *,
                   deliveries: DeliveryLog | None = None,
                   flavour: EventFlavour = V4_EVENTS) -> Notifications:
    """The notification parts on PostgreSQL (``sandbox.events.install``'s counterpart);
    ``workers`` deliverer threads (default ``--delivery-workers``), attempts recorded in
    ``deliveries`` (the tenant's shared log; default: in memory)."""
    policy = policy_for(config.bind_host, config.callback_networks, config.public_url)
    journal = deliveries if deliveries is not None else DeliveryLog()
    dispatcher = OutboxDispatcher(db, delivery_settings(config), policy, journal,
                                  workers=workers, hub_collection=flavour.hub_collection)
    hub = PgHub(db, dispatcher, policy, max_subscriptions=config.max_subscriptions,
                flavour=flavour)
    customers.observers.append(hub.observe)
    return Notifications(hub, dispatcher, journal,
                         PgReceivedEvents(db, max_bytes=config.sink_max_bytes), policy)
