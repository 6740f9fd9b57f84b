"""The shared delivery queue in PostgreSQL: bounded, leased, ordered, migrated.

Real PostgreSQL, a database per test. Two :class:`PgQueue`\\ s on one database
stand for the deliverers of two processes.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from ctk_runner.notifications.listener import EventListener
from sandbox import create_app
from sandbox.backends.postgres import (
    MIGRATIONS,
    PgDatabase,
    PgServer,
    drop_schema,
    migrate,
    outbox,
)
from sandbox.events import delivery
from sandbox.events.deliverers import Deliverers
from sandbox.events.delivery import DeliveryLog, DeliverySettings
from sandbox.events.dispatch import Dispatcher
from sandbox.events.queue import Claim
from sandbox.events.safety import policy_for
from tests.conftest import API, MINIMAL
from tests.pg_support import scratch_database

#: A lease that outlives anything a test does between two claims, yet runs out soon.
SHORT = DeliverySettings(timeout=(0.5, 0.5))


@pytest.fixture
def store(pg_server: PgServer) -> PgDatabase:
    db = PgDatabase(pg_server)
    for ident in ("a", "b"):
        db.table("hub").insert({"id": ident, "callback": "http://127.0.0.1:9/", "query": ""})
    return db


def event(n: int) -> dict[str, Any]:
    return {"eventId": f"e{n}", "eventType": "CustomerCreateEvent"}


def fill(db: PgDatabase, source: outbox.PgQueue, pushes: list[tuple[str, int]]) -> None:
    queue = outbox.PgStoreQueue(db, source, DeliveryLog())
    items = [(subscription, "http://127.0.0.1:9/", event(n)) for subscription, n in pushes]
    assert queue.push(items, 10) == ["queued"] * len(items)


def claim_within(source: outbox.PgQueue, timeout: float) -> Claim | None:
    deadline = time.monotonic() + timeout
    while (claim := source.claim(set(), False)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return claim


def claimed(claim: Claim | None) -> tuple[str, str] | None:
    return None if claim is None else (claim.key[1], claim.delivery.event["eventId"])


def test_the_queue_is_bounded_per_subscription(store: PgDatabase,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "MAX_QUEUED", 5)
    journal = DeliveryLog()
    source = outbox.PgQueue(store.server, SHORT)
    # Deliverers that never look at this queue: everything stays queued.
    dispatcher = Dispatcher(outbox.PgStoreQueue(store, source, journal),
                            Deliverers(SHORT, policy_for("127.0.0.1", None)), journal)
    dispatcher.enqueue_many([("a", "http://127.0.0.1:9/", event(n)) for n in range(4)])
    for n in range(4, 7):
        dispatcher.enqueue("a", "http://127.0.0.1:9/", event(n))
    dispatcher.enqueue("gone", "http://127.0.0.1:9/", event(9))  # no such subscription
    assert dispatcher.pending() == 5
    assert [e["eventId"] for e in journal.all() if e["outcome"] == "dropped"] == ["e5", "e6"]


def test_two_processes_never_hold_one_subscription_at_once(store: PgDatabase) -> None:
    first, second = (outbox.PgQueue(store.server, DeliverySettings()) for _ in range(2))
    for source in (first, second):
        source.serve(store.schema, DeliveryLog())
    fill(store, first, [("a", 1), ("a", 2), ("b", 1)])
    one = first.claim(set(), False)
    assert claimed(one) == ("a", "e1")
    # The other process gets b's head, never a's next event while a's head is out.
    other = second.claim(set(), False)
    assert claimed(other) == ("b", "e1")
    assert second.claim(set(), False) is None
    assert one is not None and other is not None
    one.delivery.attempt = 1
    first.settle(one, None)
    assert claimed(second.claim(set(), False)) == ("a", "e2")
    # The lanes: a subscription known slow is claimed only by the slow lane.
    fill(store, first, [("b", 2)])
    other.delivery.attempt = 1
    second.settle(other, None)
    slow = {(store.schema, "b")}
    assert second.claim(slow, False) is None
    assert claimed(second.claim(slow, True)) == ("b", "e2")


def test_a_dead_deliverers_lease_runs_out_and_the_event_goes_again(
        store: PgDatabase) -> None:
    dead, heir = (outbox.PgQueue(store.server, SHORT) for _ in range(2))
    for source in (dead, heir):
        source.serve(store.schema, DeliveryLog())
    fill(store, dead, [("a", 1), ("a", 2)])
    lost = dead.claim(set(), False)  # ...and its process is killed mid-attempt
    assert claimed(lost) == ("a", "e1") and heir.claim(set(), False) is None
    again = claim_within(heir, 30)
    assert claimed(again) == ("a", "e1") and again is not None
    assert again.delivery.attempt == 0  # the lost attempt never counted
    assert lost is not None
    lost.delivery.attempt = 1
    dead.settle(lost, None)  # a late outcome of the lost lease changes nothing
    assert heir.claim(set(), False) is None  # e1 is still out, with the heir
    again.delivery.attempt = 1
    heir.settle(again, None)
    assert claimed(heir.claim(set(), False)) == ("a", "e2")


def test_events_in_an_old_outbox_are_moved_and_delivered() -> None:
    with scratch_database() as url, EventListener() as listener:
        with psycopg.connect(url) as conn:  # a store made before migration 3
            migrate(conn, "public", MIGRATIONS[:2])
            for n in range(3):
                conn.execute("INSERT INTO outbox (subscription_id, url, event, attempt) "
                             "VALUES ('old', %s, %s, %s)",
                             (listener.url, psycopg.types.json.Jsonb(event(n)), n))
        app = create_app({"db_path": url, "seed_file": None})
        try:
            got = listener.wait_count(3, timeout=30)
            with psycopg.connect(url) as conn:
                left = conn.execute("SELECT to_regclass('public.outbox')").fetchone()
            assert left == (None,)
            log = app.extensions["sandbox.events"].deliveries.all()
        finally:
            app.extensions["sandbox.events"].close(timeout=1)
            app.extensions["sandbox.backend"].close()
    assert [g.body["eventId"] for g in got] == ["e0", "e1", "e2"]
    assert [e["attempt"] for e in log] == [1, 2, 3]  # the moved attempts still count


def test_unregistering_drops_what_waits(pg_server: PgServer) -> None:
    with EventListener(responder=lambda item: 503) as refusing:
        app = create_app({"db_path": pg_server.url, "seed_file": None,
                          "delivery_backoff": 60})
        try:
            client = app.test_client()
            hub = client.post(f"{API}/hub", json={"callback": refusing.url})
            for _ in range(3):
                assert client.post(f"{API}/customer", json=MINIMAL).status_code == 201
            assert refusing.wait_count(1, timeout=20)  # the head now waits 60 s to retry
            notifications = app.extensions["sandbox.events"]
            assert notifications.dispatcher.pending() == 3
            assert client.delete(f"{API}/hub/{hub.json['id']}").status_code == 204
            assert notifications.dispatcher.pending() == 0
        finally:
            app.extensions["sandbox.events"].close(timeout=1)
            app.extensions["sandbox.backend"].close()


def test_a_dropped_store_leaves_no_event_behind(pg_server: PgServer) -> None:
    schema = "t_gone_0123456789abcdef"
    db = PgDatabase(pg_server, schema)
    db.table("hub").insert({"id": "a", "callback": "http://127.0.0.1:9/", "query": ""})
    source = outbox.PgQueue(pg_server, SHORT)
    fill(db, source, [("a", 1), ("a", 2)])
    drop_schema(pg_server, schema)
    with pg_server.connection() as conn:
        row = conn.execute("SELECT count(*) FROM public.delivery_queue").fetchone()
    assert row == (0,)
