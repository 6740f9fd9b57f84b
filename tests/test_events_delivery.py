"""Delivery: the schedule as tables, the dispatcher against real listeners on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ctk_runner.notifications.listener import EventListener, Received
from sandbox.events.delivery import DeliverySettings, backoff_delays, judge, target_url
from sandbox.events.dispatch import Dispatcher
from sandbox.events.safety import policy_for
from tests.conftest import wait_until

ANY_TARGET = policy_for("127.0.0.1", None)



def event(n: int, event_type: str = "CustomerCreateEvent") -> dict[str, Any]:
    return {"eventId": f"e{n}", "eventType": event_type, "event": {"customer": {"id": "1"}}}


@pytest.fixture
def make_dispatcher() -> Iterator[Callable[..., Dispatcher]]:
    made: list[Dispatcher] = []

    def make(attempts: int = 4, backoff: float = 0.01, timeout: tuple[float, float] = (2, 5),
             mode: str = "listener", policy: Any = ANY_TARGET) -> Dispatcher:
        dispatcher = Dispatcher.standalone(DeliverySettings(attempts, backoff, timeout, mode),
                                           policy)
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.close(timeout=1)


@pytest.mark.parametrize(
    ("base", "attempts", "delays"),
    [
        (1.0, 5, [1.0, 2.0, 4.0, 8.0]),
        (0.5, 3, [0.5, 1.0]),
        (1.0, 1, []),
        (100.0, 4, [100.0, 200.0, 300.0]),  # capped at 300 s
        (0.0, 3, [0.0, 0.0]),
    ],
)
def test_backoff_schedule(base: float, attempts: int, delays: list[float]) -> None:
    assert backoff_delays(base, attempts) == delays


@pytest.mark.parametrize(
    ("callback", "mode", "url"),
    [
        ("http://h:8/", "listener", "http://h:8/listener/customerCreateEvent"),
        ("http://h:8", "listener", "http://h:8/listener/customerCreateEvent"),
        ("https://h/hooks/", "listener", "https://h/hooks/listener/customerCreateEvent"),
        ("https://h/hooks?token=x", "listener",
         "https://h/hooks/listener/customerCreateEvent?token=x"),
        ("https://h/hooks?token=x", "exact", "https://h/hooks?token=x"),
    ],
)
def test_target_url(callback: str, mode: str, url: str) -> None:
    assert target_url(callback, "CustomerCreateEvent", mode) == url


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(None, "retry"), (200, "delivered"), (201, "delivered"), (204, "delivered"),
     (301, "rejected"), (302, "rejected"), (400, "rejected"), (404, "rejected"),
     (408, "retry"), (429, "retry"), (500, "retry"), (503, "retry")],
)
def test_judge(status: int | None, verdict: str) -> None:
    assert judge(status) == verdict


def test_fails_twice_then_succeeds(make_dispatcher: Callable[..., Dispatcher]) -> None:
    answers = iter([500, 503])

    def respond(item: Received) -> int:
        return next(answers, 201)

    dispatcher = make_dispatcher()
    with EventListener(responder=respond) as listener:
        dispatcher.enqueue("sub-1", listener.url, event(1))
        assert wait_until(lambda: len(dispatcher.journal.all()) == 3)
        posted = listener.snapshot()
    assert [p.body["eventId"] for p in posted] == ["e1", "e1", "e1"]
    assert {p.path for p in posted} == {"/listener/customerCreateEvent"}
    journal = dispatcher.journal.all()
    assert [(j["attempt"], j["outcome"], j["status"]) for j in journal] == [
        (1, "retrying", 500), (2, "retrying", 503), (3, "delivered", 201)]
    assert journal[0]["nextAttemptInSeconds"] == 0.01
    assert journal[0]["subscriptionId"] == "sub-1" and journal[0]["eventId"] == "e1"


def test_order_is_kept_while_retrying(make_dispatcher: Callable[..., Dispatcher]) -> None:
    seen: set[str] = set()

    def first_attempt_fails(item: Received) -> int:
        ident = item.body["eventId"]
        if ident in seen:
            return 201
        seen.add(ident)
        return 500

    dispatcher = make_dispatcher()
    with EventListener(responder=first_attempt_fails) as listener:
        for n in range(1, 5):
            dispatcher.enqueue("sub-1", listener.url, event(n))
        posted = listener.wait_count(8, timeout=10)
    assert [p.body["eventId"] for p in posted] == ["e1", "e1", "e2", "e2", "e3", "e3",
                                                   "e4", "e4"]


def test_gives_up_after_the_last_attempt_and_goes_on(
        make_dispatcher: Callable[..., Dispatcher]) -> None:
    def respond(item: Received) -> int:
        return 503 if item.body["eventId"] == "e1" else 201

    dispatcher = make_dispatcher(attempts=3)
    with EventListener(responder=respond) as listener:
        dispatcher.enqueue("s", listener.url, event(1))
        dispatcher.enqueue("s", listener.url, event(2))
        posted = listener.wait_count(4, timeout=10)
        assert wait_until(lambda: len(dispatcher.journal.all()) == 4)
    assert [p.body["eventId"] for p in posted] == ["e1", "e1", "e1", "e2"]
    outcomes = [(j["eventId"], j["outcome"]) for j in dispatcher.journal.all()]
    assert outcomes == [("e1", "retrying"), ("e1", "retrying"), ("e1", "failed"),
                        ("e2", "delivered")]


@pytest.mark.parametrize("status", [302, 400, 410])
def test_redirects_and_client_errors_are_not_retried(
        make_dispatcher: Callable[..., Dispatcher], status: int) -> None:
    dispatcher = make_dispatcher()
    with EventListener(responder=lambda item: status) as listener:
        dispatcher.enqueue("s", listener.url, event(1))
        dispatcher.enqueue("s", listener.url, event(2))
        assert wait_until(lambda: len(dispatcher.journal.all()) == 2)
        posted = listener.snapshot()
    assert [p.body["eventId"] for p in posted] == ["e1", "e2"]
    assert [j["outcome"] for j in dispatcher.journal.all()] == ["rejected", "rejected"]


def test_connection_refused_is_retried_then_failed(
        make_dispatcher: Callable[..., Dispatcher]) -> None:
    with EventListener() as gone:
        url = gone.url  # a port nothing listens on once the listener has stopped
    dispatcher = make_dispatcher(attempts=2)
    dispatcher.enqueue("s", url, event(1))
    assert wait_until(lambda: len(dispatcher.journal.all()) == 2)
    journal = dispatcher.journal.all()
    assert [j["outcome"] for j in journal] == ["retrying", "failed"]
    assert journal[0]["status"] is None and journal[0]["error"]


def test_a_listener_that_never_answers_times_out(
        make_dispatcher: Callable[..., Dispatcher]) -> None:
    release = threading.Event()

    def hang(item: Received) -> int:
        release.wait(30)
        return 201

    dispatcher = make_dispatcher(attempts=1, timeout=(2, 0.2))
    try:
        with EventListener(responder=hang) as listener:
            dispatcher.enqueue("s", listener.url, event(1))
            assert wait_until(lambda: len(dispatcher.journal.all()) == 1)
            release.set()
    finally:
        release.set()
    (entry,) = dispatcher.journal.all()
    assert entry["outcome"] == "failed" and entry["error"] == "timed out"


def test_disallowed_target_is_refused_at_delivery(
        make_dispatcher: Callable[..., Dispatcher]) -> None:
    # DNS may change between registration and delivery: the check is made again.
    dispatcher = make_dispatcher(policy=policy_for("0.0.0.0", None))
    with EventListener() as listener:
        dispatcher.enqueue("s", listener.url, event(1))
        assert wait_until(lambda: len(dispatcher.journal.all()) == 1)
        assert listener.snapshot() == []
    (entry,) = dispatcher.journal.all()
    assert entry["outcome"] == "refused" and "a loopback address" in entry["error"]


def test_exact_mode_posts_to_the_callback_itself(
        make_dispatcher: Callable[..., Dispatcher]) -> None:
    dispatcher = make_dispatcher(mode="exact")
    with EventListener() as listener:
        dispatcher.enqueue("s", listener.url + "hooks?x=1", event(1, "CustomerDeleteEvent"))
        (posted,) = listener.wait_count(1, timeout=10)
    assert posted.path == "/hooks?x=1"
    assert posted.headers["Content-Type"].startswith("application/json")


def test_cancel_drops_what_is_queued(make_dispatcher: Callable[..., Dispatcher]) -> None:
    entered, release = threading.Event(), threading.Event()

    def block_first(item: Received) -> int:
        if item.body["eventId"] == "e1":
            entered.set()
            release.wait(30)
        return 201

    dispatcher = make_dispatcher()
    try:
        with EventListener(responder=block_first) as listener:
            for n in (1, 2, 3):
                dispatcher.enqueue("s", listener.url, event(n))
            assert entered.wait(10)
            dispatcher.cancel("s")
            release.set()
            assert wait_until(lambda: len(dispatcher.journal.all()) == 1)
            assert wait_until(lambda: dispatcher.pending() == 0)
            dispatcher.enqueue("other", listener.url, event(9))  # a later one still goes
            posted = listener.wait_count(2, timeout=10)
    finally:
        release.set()
    assert [p.body["eventId"] for p in posted] == ["e1", "e9"]


def test_closed_dispatcher_sends_nothing(make_dispatcher: Callable[..., Dispatcher]) -> None:
    dispatcher = make_dispatcher()
    dispatcher.close()
    with EventListener() as listener:
        dispatcher.enqueue("s", listener.url, event(1))
        assert dispatcher.pending() == 0
        assert listener.snapshot() == []


def test_a_full_queue_drops_new_events_and_says_so(
        make_dispatcher: Callable[..., Dispatcher], monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.events import delivery

    monkeypatch.setattr(delivery, "MAX_QUEUED", 2)
    entered, release = threading.Event(), threading.Event()

    def hang(item: Received) -> int:
        entered.set()
        release.wait(30)
        return 201

    dispatcher = make_dispatcher()
    try:
        with EventListener(responder=hang) as listener:
            dispatcher.enqueue("s", listener.url, event(1))
            assert entered.wait(10)  # e1 is in flight, still at the head of the queue
            for n in (2, 3):
                dispatcher.enqueue("s", listener.url, event(n))
            dropped = [j for j in dispatcher.journal.all() if j["outcome"] == "dropped"]
            assert [j["eventId"] for j in dropped] == ["e3"]
            release.set()
            posted = listener.wait_count(2, timeout=10)
    finally:
        release.set()
    assert [p.body["eventId"] for p in posted] == ["e1", "e2"]


def test_many_subscriptions_share_a_bounded_pool_and_keep_their_order() -> None:
    dispatcher = Dispatcher.standalone(
        DeliverySettings(1, 0.01, (2.0, 5.0), "exact", workers=3), ANY_TARGET)
    seen_threads: list[int] = []
    try:
        with EventListener() as listener:
            for n in range(5):
                for sub in range(40):
                    dispatcher.enqueue(f"s{sub}", f"{listener.url}s{sub}", event(n))
                    seen_threads.append(dispatcher.threads())
            posted = listener.wait_count(200, timeout=30)
    finally:
        dispatcher.close(timeout=1)
    assert max(seen_threads) <= 3
    by_subscription: dict[str, list[str]] = {}
    for item in posted:
        by_subscription.setdefault(item.path, []).append(item.body["eventId"])
    assert len(by_subscription) == 40
    assert all(ids == ["e0", "e1", "e2", "e3", "e4"] for ids in by_subscription.values())
