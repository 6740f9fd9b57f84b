"""The rules as tables, the queue in memory, and the two lanes against held real HTTP."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.events.delivery import (
    CONNECT_TIMEOUT,
    SLOW_AFTER,
    DeliveryLog,
    DeliverySettings,
    decide,
)
from sandbox.events.dispatch import Dispatcher
from sandbox.events.queue import MemoryQueue
from sandbox.events.safety import policy_for
from sandbox.events.sink import excess
from tests.delivery_support import Subscribers, subscribers

ANY_TARGET = policy_for("127.0.0.1", None)
SETTINGS = DeliverySettings(attempts=3, backoff=0.5, timeout=(2.0, 60.0), mode="listener")


@pytest.mark.parametrize(
    ("outcome", "attempt", "final", "wait"),
    [
        ("delivered", 1, "delivered", None),
        ("rejected", 1, "rejected", None),
        ("refused", 2, "refused", None),
        ("retry", 1, "retry", 0.5),
        ("retry", 2, "retry", 1.0),
        ("retry", 3, "failed", None),  # the last of three attempts
    ],
)
def test_the_retry_decision(outcome: str, attempt: int, final: str,
                            wait: float | None) -> None:
    assert decide(outcome, attempt, SETTINGS) == (final, wait)


@pytest.mark.parametrize(
    ("sizes", "max_bytes", "max_records", "dropped"),
    [
        ([], 100, 10, 0),
        ([10, 10, 10], 100, 10, 0),
        ([10, 10, 10], 25, 10, 1),  # the oldest goes: 10 + 10 fit, a third does not
        ([10, 10, 10], 20, 10, 1),
        ([10, 10, 10], 19, 10, 2),
        ([500, 10, 10], 100, 10, 2),  # the newest stays whatever its size
        ([10] * 12, 1000, 10, 2),  # at most max_records
        ([10, 95, 1], 100, 10, 2),  # the cut falls where the running total first exceeds
    ],
)
def test_what_the_sink_drops(sizes: list[int], max_bytes: int, max_records: int,
                             dropped: int) -> None:
    assert excess(sizes, max_bytes, max_records) == dropped


def event(n: int, customer: str = "") -> dict[str, Any]:
    return {"eventId": f"e{n}", "eventType": "CustomerCreateEvent",
            "event": {"customer": {"name": customer or f"Fair {n}"}}}


def test_a_memory_queue_hands_out_one_head_per_subscription_in_turn() -> None:
    queue = MemoryQueue(DeliveryLog())
    for n in range(2):
        for subscription in ("a", "b"):
            assert queue.push([(subscription, "http://h/", event(n))], 5) == [
                "ready" if n == 0 else "queued"]
    first = queue.claim(set(), False)
    second = queue.claim(set(), False)
    assert first and second and queue.claim(set(), False) is None  # both heads out
    assert (first.key[1], first.delivery.event["eventId"]) == ("a", "e0")
    assert (second.key[1], second.delivery.event["eventId"]) == ("b", "e0")
    first.delivery.attempt = 1
    queue.settle(first, 30.0)  # a's head waits for its retry: b goes on alone
    second.delivery.attempt = 1
    queue.settle(second, None)
    third = queue.claim(set(), False)
    assert third and (third.key[1], third.delivery.event["eventId"]) == ("b", "e1")
    assert queue.claim(set(), False) is None
    assert queue.pending() == 3 and queue.due_in(set(), False) == pytest.approx(30, abs=5)


def test_a_memory_queue_serves_a_slow_subscription_only_in_the_slow_lane() -> None:
    queue = MemoryQueue(DeliveryLog())
    for subscription in ("slow", "fast"):
        queue.push([(subscription, "http://h/", event(0))], 5)
    slow = {queue.key("slow")}
    regular = queue.claim(slow, False)
    assert regular and regular.key == queue.key("fast")
    assert queue.claim(slow, False) is None and queue.due_in(slow, False) is None
    assert queue.due_in(slow, True) == 0.0
    lane = queue.claim(slow, True)
    assert lane and lane.key == queue.key("slow")


def test_a_full_queue_and_a_cancelled_one() -> None:
    queue = MemoryQueue(DeliveryLog())
    assert queue.push([("s", "http://h/", event(n)) for n in range(3)], 2) == [
        "ready", "queued", "full"]
    claim = queue.claim(set(), False)
    assert claim is not None
    queue.cancel("s")
    assert queue.push([("s", "http://h/", event(9))], 2) == ["queued"]  # behind the one out
    queue.settle(claim, None)  # the cancelled head's outcome changes nothing...
    after = queue.claim(set(), False)
    assert after and after.delivery.event["eventId"] == "e9"  # ...and the new event goes


@pytest.fixture
def hooks() -> Iterator[Subscribers]:
    with subscribers() as running:
        yield running


def test_an_attempt_that_finds_the_slow_lane_full_is_cut_and_sent_again(
        hooks: Subscribers) -> None:
    """One regular deliverer, a slow lane of one: the first slow attempt moves to the slow
    lane, the second is cut a second in (and retried from the slow lane later), and the
    fast subscriber is served all along with never more than two deliverers."""
    settings = DeliverySettings(3, 0.1, (2.0, 60.0), "listener", workers=1, slow_workers=1)
    dispatcher = Dispatcher.standalone(settings, ANY_TARGET)
    most = [0]
    stop = threading.Event()

    def count() -> None:
        while not stop.wait(0.01):
            most[0] = max(most[0], dispatcher.threads())

    counter = threading.Thread(target=count)
    counter.start()
    try:
        for name in ("slow0", "slow1", "fast"):
            dispatcher.enqueue(name, hooks.url(name), event(0))
        for n in range(1, 5):
            dispatcher.enqueue("fast", hooks.url("fast"), event(n))
        assert hooks.wait(lambda: len(hooks.got("fast")) == 5), hooks.arrived
        assert hooks.held == 1
        cut = [e for e in dispatcher.journal.all() if e["subscriptionId"] == "slow1"]
        assert [(e["outcome"], e["attempt"]) for e in cut] == [("retrying", 1)]
        assert "slow lane was full" in cut[0]["error"]
        hooks.release()
        assert hooks.wait(lambda: all(hooks.got(n) == ["Fair 0"] for n in ("slow0", "slow1")))
        assert hooks.wait(lambda: dispatcher.pending() == 0)
        # Nothing left to do, nothing scheduled: no deliverer stays.
        assert hooks.wait(lambda: dispatcher.threads() == 0)
    finally:
        stop.set()
        counter.join()
        dispatcher.close(timeout=1)
    assert most[0] <= 2
    assert hooks.attempts("slow1") == ["e0", "e0"]  # the same eventId again


def test_a_slow_subscriber_that_answers_fast_again_leaves_the_slow_lane(
        hooks: Subscribers) -> None:
    dispatcher = Dispatcher.standalone(SETTINGS, ANY_TARGET)
    try:
        dispatcher.enqueue("slow", hooks.url("slow"), event(0))
        assert hooks.wait(lambda: hooks.held == 1)
        key = dispatcher.queue.key("slow")
        assert hooks.wait(lambda: dispatcher.deliverers.is_slow(key), timeout=SLOW_AFTER * 30)
        hooks.release()
        dispatcher.enqueue("slow", hooks.url("slow"), event(1))  # answered at once now
        assert hooks.wait(lambda: len(hooks.got("slow")) == 2)
        assert hooks.wait(lambda: not dispatcher.deliverers.is_slow(key))
    finally:
        dispatcher.close(timeout=1)


def test_an_unreachable_subscriber_goes_to_the_slow_lane_without_losing_an_attempt(
        hooks: Subscribers) -> None:
    """A listener whose connections never complete (its backlog is full): the regular lane
    gives up connecting after a second, sends nothing, records nothing, and hands it to the
    slow lane, which tries for the full connect timeout (5 s); meanwhile the one regular
    deliverer serves the fast subscriber. Its one attempt is the slow lane's."""
    with socket.socket() as blackhole, socket.socket() as filler:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(0)  # never accepted: one connection fills the backlog
        filler.connect(blackhole.getsockname())
        settings = DeliverySettings(1, 0.1, (5.0, 5.0), "exact", workers=1, slow_workers=1)
        dispatcher = Dispatcher.standalone(settings, ANY_TARGET)

        def tried() -> list[tuple[int, str, str]]:
            return [(e["attempt"], e["outcome"], e["error"]) for e in dispatcher.journal.all()
                    if e["subscriptionId"] == "gone"]

        try:
            dispatcher.enqueue("gone", f"http://127.0.0.1:{blackhole.getsockname()[1]}/",
                               event(0))
            for n in range(5):
                dispatcher.enqueue("fast", hooks.url("fast"), event(n))
            assert hooks.wait(lambda: len(hooks.got("fast")) == 5)
            assert tried() == []  # still connecting, from the slow lane
            assert hooks.wait(lambda: dispatcher.pending() == 0, timeout=60)
        finally:
            dispatcher.close(timeout=1)
    assert tried() == [(1, "failed", CONNECT_TIMEOUT)]
