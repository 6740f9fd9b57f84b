"""Fair delivery, on every backend: slow subscribers never hold up anyone else's events.

Real sandbox processes deliver to one real HTTP server whose slow paths hold
their answers until the test releases them (``tests/delivery_support``). The
assertions are outcomes: the fast subscriber got every event *while* the slow
ones were still held, how many requests were ever held at once, and each
subscriber's order; never a duration.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from ctk_runner.embedded import SandboxProcess
from tests.conftest import MINIMAL
from tests.delivery_support import Subscribers, create, subscribe, subscribers
from tests.hosting_support import ACME_KEY, GLOBEX_KEY, hosted_sandbox

SLOW = [f"slow{n}" for n in range(4)]
NAMES = [f"Fair {n}" for n in range(20)]
#: Held answers must not run into the read timeout while the test looks.
PATIENT = ["--no-seed", "--delivery-timeout", "120"]


@pytest.fixture
def hooks() -> Iterator[Subscribers]:
    with subscribers() as running:
        yield running


def subscribe_and_create(hooks: Subscribers, sandbox: SandboxProcess, slow: list[str]) -> None:
    """The slow subscribers, then the fast one, then a customer for each of NAMES."""
    http, api = requests.Session(), sandbox.url.rstrip("/")
    for name in [*slow, "fast"]:
        subscribe(http, api, hooks.url(name))
    create(http, api, NAMES, MINIMAL)


def fast_got_everything_while_slow_ones_wait(hooks: Subscribers, slow: list[str],
                                             held: int) -> None:
    assert hooks.wait(lambda: len(hooks.got("fast")) == len(NAMES)), hooks.got("fast")
    assert hooks.held == held, (hooks.held, hooks.arrived)
    assert all(hooks.got(name) == NAMES[:1] for name in slow), hooks.arrived


def everyone_gets_everything_in_order(hooks: Subscribers, names: list[str]) -> None:
    hooks.release()
    assert hooks.wait(lambda: all(len(hooks.got(n)) == len(NAMES) for n in names)), [
        (n, hooks.got(n)) for n in names]
    assert all(hooks.got(name) == NAMES for name in names)


def test_four_slow_subscribers_never_hold_up_a_fast_one(store_url: str,
                                                        hooks: Subscribers) -> None:
    with SandboxProcess(db=store_url, extra_args=PATIENT) as sandbox:
        subscribe_and_create(hooks, sandbox, SLOW)
        # Four slow attempts outlast the four regular deliverers' second: they move to the
        # slow lane, and the regular lane carries on with the fast subscriber.
        fast_got_everything_while_slow_ones_wait(hooks, SLOW, held=4)
        everyone_gets_everything_in_order(hooks, [*SLOW, "fast"])


def test_no_number_of_slow_subscribers_holds_every_deliverer(store_url: str,
                                                             hooks: Subscribers) -> None:
    """Eight slow subscribers, two regular deliverers, a slow lane of two: the attempts
    that find the slow lane full are cut after a second (and sent again later), so the
    fast subscriber is served, and never more than 2 + 2 requests are out at once."""
    slow = [f"slow{n}" for n in range(8)]
    args = [*PATIENT, "--delivery-workers", "2", "--slow-delivery-workers", "2",
            "--delivery-backoff", "0.2"]
    with SandboxProcess(db=store_url, extra_args=args) as sandbox:
        subscribe_and_create(hooks, sandbox, slow)
        fast_got_everything_while_slow_ones_wait(hooks, slow, held=2)
        assert hooks.most_held <= 4
        everyone_gets_everything_in_order(hooks, [*slow, "fast"])
        cut = [name for name in slow if len(hooks.attempts(name)) > len(NAMES)]
        assert cut  # the first event of those, sent again with the same eventId


def test_one_tenants_slow_subscribers_never_hold_up_another_tenant(
        store_url: str, hooks: Subscribers, tmp_path: Path) -> None:
    running = hosted_sandbox(tmp_path, *PATIENT, db=store_url)
    hosted = next(running)
    try:
        acme, globex = hosted.as_tenant(ACME_KEY), hosted.as_tenant(GLOBEX_KEY)
        for name in SLOW:
            subscribe(acme, hosted.api, hooks.url(name))
        subscribe(globex, hosted.api, hooks.url("fast"))
        create(acme, hosted.api, ["Acme 0"], MINIMAL)  # acme's slow ones are busy first
        assert hooks.wait(lambda: hooks.held == len(SLOW))
        create(globex, hosted.api, NAMES, MINIMAL)
        assert hooks.wait(lambda: len(hooks.got("fast")) == len(NAMES)), hooks.got("fast")
        assert hooks.held == len(SLOW) and all(hooks.got(n) == ["Acme 0"] for n in SLOW)
        hooks.release()
        assert hooks.got("fast") == NAMES
    finally:
        running.close()


def test_processes_on_one_database_share_the_work_and_keep_each_order(
        hooks: Subscribers) -> None:
    """Two processes, subscriptions registered through one, customers created through
    both in turn: every subscriber gets every event once in the order of the changes,
    the fast one while the slow ones are held, whichever process delivers."""
    from tests.pg_support import scratch_database

    with scratch_database() as url:
        processes = [SandboxProcess(db=url, extra_args=[*PATIENT, "--quiet"]) for _ in range(2)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(SandboxProcess.start, processes))
        try:
            http = requests.Session()
            apis = [process.url.rstrip("/") for process in processes]
            for name in SLOW[:2]:
                subscribe(http, apis[0], hooks.url(name))
            subscribe(http, apis[0], hooks.url("fast"))
            for n, name in enumerate(NAMES):
                create(http, apis[n % 2], [name], MINIMAL)
            fast_got_everything_while_slow_ones_wait(hooks, SLOW[:2], held=2)
            everyone_gets_everything_in_order(hooks, [*SLOW[:2], "fast"])
            assert all(len(hooks.attempts(name)) == len(NAMES) for name in [*SLOW[:2], "fast"])
        finally:
            for process in processes:
                process.stop()
