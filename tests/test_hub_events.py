"""Events end to end in one process: the app behind waitress, real listeners, real HTTP."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import schemas
from ctk_runner.notifications.listener import EventListener, Received
from tests.conftest import MINIMAL, wait_until, waitress_server

MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
def app_config(db_path: Path) -> dict[str, Any]:
    # Short retries so a failing listener is retried within the test.
    return {"db_path": str(db_path), "delivery_backoff": 0.02, "delivery_timeout": (2.0, 20.0)}


@pytest.fixture
def listener() -> Iterator[EventListener]:
    with EventListener() as running:
        yield running


def admin(api_root: str) -> str:
    return api_root.split("/tmf-api/")[0] + "/admin"


def subscribe(api_root: str, callback: str, query: str | None = None) -> str:
    body = {"callback": callback} if query is None else {"callback": callback, "query": query}
    response = requests.post(f"{api_root}/hub", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])



def lifecycle(api_root: str) -> dict[str, Any]:
    """Create, patch (name and status), delete one customer; return it as created."""
    created = requests.post(f"{api_root}/customer", json=MINIMAL, timeout=10).json()
    url = f"{api_root}/customer/{created['id']}"
    patch = {"name": "Sun Football Club", "status": "Approved"}
    assert requests.patch(url, json=patch, headers=MERGE, timeout=10).status_code == 200
    assert requests.delete(url, timeout=10).status_code == 204
    return dict(created)


def test_the_four_events_arrive_in_order_and_valid(live_server: str,
                                                   listener: EventListener) -> None:
    subscribe(live_server, listener.url)
    created = lifecycle(live_server)
    got = listener.wait_count(4, timeout=10)
    assert [g.event_type for g in got] == [
        "CustomerCreateEvent", "CustomerAttributeValueChangeEvent",
        "CustomerStateChangeEvent", "CustomerDeleteEvent"]
    assert [g.path for g in got] == [
        "/listener/customerCreateEvent", "/listener/customerAttributeValueChangeEvent",
        "/listener/customerStateChangeEvent", "/listener/customerDeleteEvent"]
    for item in got:
        assert list(schemas.validator(item.event_type or "").iter_errors(item.body)) == []
        assert item.body["event"]["customer"]["id"] == created["id"]
        assert item.body["event"]["customer"]["href"] == created["href"]
    assert got[0].body["event"]["customer"] == created
    assert got[1].body["fieldPath"] == "name,status"
    assert got[2].body["event"]["customer"]["status"] == "Approved"
    # The delete event carries the customer as it was: patched, not as created.
    assert got[3].body["event"]["customer"]["name"] == "Sun Football Club"
    assert len({g.body["eventId"] for g in got}) == 4


def test_a_request_that_changes_nothing_sends_nothing(live_server: str,
                                                      listener: EventListener) -> None:
    subscribe(live_server, listener.url)
    created = requests.post(f"{live_server}/customer", json=MINIMAL, timeout=10).json()
    url = f"{live_server}/customer/{created['id']}"
    same = requests.patch(url, json={"name": MINIMAL["name"]}, headers=MERGE, timeout=10)
    assert same.status_code == 200
    assert requests.patch(url, json={"id": created["id"]}, headers=MERGE,
                          timeout=10).status_code == 200
    assert requests.delete(url, timeout=10).status_code == 204
    # Events are sent in order, so the delete event right after the create one
    # proves the two patches sent nothing.
    got = listener.wait_count(2, timeout=10)
    assert [g.event_type for g in got] == ["CustomerCreateEvent", "CustomerDeleteEvent"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("eventType=CustomerDeleteEvent", ["CustomerDeleteEvent"]),
        ("eventType=CustomerCreateEvent,CustomerDeleteEvent",
         ["CustomerCreateEvent", "CustomerDeleteEvent"]),
        ("event.customer.status=Approved",
         ["CustomerAttributeValueChangeEvent", "CustomerStateChangeEvent",
          "CustomerDeleteEvent"]),
        ("", ["CustomerCreateEvent", "CustomerAttributeValueChangeEvent",
              "CustomerStateChangeEvent", "CustomerDeleteEvent"]),
    ],
    ids=["delete-only", "create-or-delete", "approved", "everything"],
)
def test_the_query_narrows_what_a_subscription_receives(
        live_server: str, listener: EventListener, query: str, expected: list[str]) -> None:
    with EventListener() as everything:
        subscribe(live_server, listener.url, query)
        subscribe(live_server, everything.url)
        lifecycle(live_server)
        # The unfiltered subscription's last event is sent after the filtered one's events
        # were queued; wait for both.
        assert len(everything.wait_count(4, timeout=10)) == 4
        got = listener.wait_count(len(expected), timeout=10)
    assert [g.event_type for g in got] == expected


def test_delivery_is_retried_after_failures(live_server: str) -> None:
    answers = iter([500, 502])

    def fail_twice(item: Received) -> int:
        return next(answers, 201)

    with EventListener(responder=fail_twice) as flaky:
        sub = subscribe(live_server, flaky.url, "eventType=CustomerCreateEvent")
        requests.post(f"{live_server}/customer", json=MINIMAL, timeout=10)
        got = flaky.wait_count(3, timeout=10)
    assert [g.body["eventId"] for g in got] == [got[0].body["eventId"]] * 3
    url = f"{admin(live_server)}/deliveries?subscriptionId={sub}"
    assert wait_until(lambda: len(requests.get(url, timeout=10).json()) == 3)
    attempts = requests.get(url, timeout=10).json()
    assert [(a["attempt"], a["outcome"], a["status"]) for a in attempts] == [
        (1, "retrying", 500), (2, "retrying", 502), (3, "delivered", 201)]
    failed = requests.get(f"{admin(live_server)}/deliveries?outcome=retrying", timeout=10)
    assert failed.headers["X-Total-Count"] == "2"
    assert requests.delete(f"{admin(live_server)}/deliveries", timeout=10).status_code == 204
    assert requests.get(url, timeout=10).json() == []


def test_a_listener_that_never_answers_does_not_slow_the_api(live_server: str) -> None:
    entered, release = threading.Event(), threading.Event()

    def hang(item: Received) -> int:
        entered.set()
        release.wait(30)
        return 201

    try:
        with EventListener(responder=hang) as stuck:
            subscribe(live_server, stuck.url)
            first = requests.post(f"{live_server}/customer", json=MINIMAL, timeout=10)
            assert first.status_code == 201
            assert entered.wait(10)
            # The delivery is now blocked in the listener: the API answers regardless.
            url = f"{live_server}/customer/{first.json()['id']}"
            patched = requests.patch(url, json={"status": "Approved"}, headers=MERGE,
                                     timeout=10)
            assert patched.status_code == 200
            second = requests.post(f"{live_server}/customer", json=MINIMAL, timeout=10)
            assert second.status_code == 201
            # ...while the first attempt has not even ended yet.
            assert not release.is_set()
            assert requests.get(f"{admin(live_server)}/deliveries", timeout=10).json() == []
            release.set()
            got = stuck.wait_count(4, timeout=10)
    finally:
        release.set()
    assert [g.event_type for g in got] == [
        "CustomerCreateEvent", "CustomerAttributeValueChangeEvent",
        "CustomerStateChangeEvent", "CustomerCreateEvent"]


def test_unregistering_stops_the_events(live_server: str, listener: EventListener) -> None:
    sub = subscribe(live_server, listener.url)
    requests.post(f"{live_server}/customer", json=MINIMAL, timeout=10)
    assert len(listener.wait_count(1, timeout=10)) == 1
    assert requests.delete(f"{live_server}/hub/{sub}", timeout=10).status_code == 204
    with EventListener() as witness:
        subscribe(live_server, witness.url)
        requests.post(f"{live_server}/customer", json=MINIMAL, timeout=10)
        # Once a still-registered listener got the second event, the removed one
        # would have had it too: it was queued at the same moment.
        assert len(witness.wait_count(1, timeout=10)) == 1
    assert len(listener.snapshot()) == 1


def test_exact_callback_mode(db_path: Path) -> None:
    from sandbox import create_app

    app = create_app({"db_path": str(db_path), "callback_mode": "exact"})
    try:
        with waitress_server(app) as root, EventListener() as hooks:
            subscribe(root, hooks.url + "hooks/tmf629")
            requests.post(f"{root}/customer", json=MINIMAL, timeout=10)
            (got,) = hooks.wait_count(1, timeout=10)
        assert got.path == "/hooks/tmf629"
        assert got.event_type == "CustomerCreateEvent"
    finally:
        app.extensions["sandbox.events"].close(timeout=1)
        app.extensions["sandbox.db"].close()


def test_concurrent_changes_are_sent_in_the_order_they_were_stored(
        live_server: str, listener: EventListener) -> None:
    subscribe(live_server, listener.url, "eventType=CustomerAttributeValueChangeEvent")
    created = requests.post(f"{live_server}/customer", json=MINIMAL, timeout=10).json()
    url = f"{live_server}/customer/{created['id']}"

    def rename(worker: int) -> None:
        with requests.Session() as http:
            for n in range(10):
                http.patch(url, json={"name": f"Club {worker}-{n}"}, headers=MERGE, timeout=10)

    threads = [threading.Thread(target=rename, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    got = listener.wait_count(40, timeout=10)
    names = [g.body["event"]["customer"]["name"] for g in got]
    assert len(names) == 40
    # The last event sent is the state that was stored last.
    assert names[-1] == requests.get(url, timeout=10).json()["name"]
    # Each worker's own renames arrive in the order that worker made them.
    for worker in range(4):
        own = [n for n in names if n.startswith(f"Club {worker}-")]
        assert own == [f"Club {worker}-{n}" for n in range(10)]


@contextlib.contextmanager
def all_slots_taken() -> Iterator[None]:
    """Every regex evaluation slot held, as by a flood of regex list requests."""
    from sandbox.domain import patterns

    release = threading.Event()
    taken = threading.Barrier(patterns.limits().slots + 1)

    def hold() -> None:
        with patterns.slot(wait=1):
            taken.wait()
            release.wait(10)

    holders = [threading.Thread(target=hold) for _ in range(patterns.limits().slots)]
    for holder in holders:
        holder.start()
    taken.wait()
    try:
        yield
    finally:
        release.set()
        for holder in holders:
            holder.join()


def test_regex_queries_wait_for_a_slot_rather_than_lose_events(
        live_server: str, listener: EventListener) -> None:
    subscribe(live_server, listener.url, "event.customer.name.regex=^Moon")
    with all_slots_taken():
        busy = requests.get(f"{live_server}/customer?name.regex=x", timeout=10)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert busy.json()["reason"] == "Busy"
        created = requests.post(f"{live_server}/customer", json=MINIMAL, timeout=10).json()
        assert listener.snapshot() == []  # routing waits for a slot
    (got,) = listener.wait_count(1, timeout=10)
    assert got.body["event"]["customer"]["id"] == created["id"]


def test_a_subscription_hears_only_of_changes_stored_after_it(
        live_server: str, listener: EventListener) -> None:
    with EventListener() as late:
        subscribe(live_server, listener.url, "event.customer.name.regex=^Moon")
        with all_slots_taken():  # the first create's routing waits for a slot...
            first = requests.post(f"{live_server}/customer", json=MINIMAL, timeout=10).json()
            subscribe(live_server, late.url)  # ...while a new subscription registers
        second = requests.post(f"{live_server}/customer", json=MINIMAL, timeout=10).json()
        assert [g.body["event"]["customer"]["id"] for g in listener.wait_count(2, timeout=10)
                ] == [first["id"], second["id"]]
        (got,) = late.wait_count(1, timeout=10)
    assert got.body["event"]["customer"]["id"] == second["id"]
