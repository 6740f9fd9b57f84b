"""The issue's "done when": a webhook registered with the running sandbox process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

import schemas
from ctk_runner.embedded import SandboxProcess
from ctk_runner.notifications.listener import EventListener
from sandbox import cli
from tests.conftest import MINIMAL, wait_until

MERGE = {"Content-Type": "application/merge-patch+json"}
ORDER = ["CustomerCreateEvent", "CustomerAttributeValueChangeEvent",
         "CustomerStateChangeEvent", "CustomerDeleteEvent"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(extra_args=["--no-seed", "--delivery-backoff", "0.05"]) as process:
        yield process



def lifecycle(root: str) -> str:
    created = requests.post(f"{root}customer", json=MINIMAL, timeout=10).json()
    url = f"{root}customer/{created['id']}"
    assert requests.patch(url, json={"status": "Approved"}, headers=MERGE,
                          timeout=10).status_code == 200
    assert requests.delete(url, timeout=10).status_code == 204
    return str(created["id"])


def test_a_webhook_receives_the_four_events_in_order(sandbox: SandboxProcess) -> None:
    with EventListener() as webhook:
        hub = requests.post(f"{sandbox.url}hub", json={"callback": webhook.url}, timeout=10)
        assert hub.status_code == 201
        ident = lifecycle(sandbox.url)
        got = webhook.wait_count(4, timeout=10)
        assert requests.delete(hub.headers["Location"], timeout=10).status_code == 204
    assert [g.event_type for g in got] == ORDER
    for item in got:
        assert list(schemas.validator(item.event_type or "").iter_errors(item.body)) == []
        assert item.body["event"]["customer"]["id"] == ident
    # The operator sees each attempt in the log, and in the admin listing.
    assert wait_until(lambda: sum("delivered" in line for line in sandbox.output) >= 4)
    line = next(line for line in sandbox.output if "CustomerDeleteEvent" in line)
    assert "attempt 1/5" in line and "listener/customerDeleteEvent" in line
    admin = sandbox.url.split("/tmf-api/")[0] + "/admin/deliveries?outcome=delivered"
    assert len(requests.get(admin, timeout=10).json()) >= 4


def test_the_sandbox_as_the_listener_of_its_own_hub(sandbox: SandboxProcess) -> None:
    """A partner's hub pointed at the sandbox: here the sandbox's own hub, for real."""
    admin = sandbox.url.split("/tmf-api/")[0] + "/admin/received-events"
    requests.delete(admin, timeout=10)
    hub = requests.post(f"{sandbox.url}hub", json={"callback": sandbox.url.rstrip("/")},
                        timeout=10)
    try:
        lifecycle(sandbox.url)
        assert wait_until(lambda: len(requests.get(admin, timeout=10).json()) == 4)
    finally:
        requests.delete(hub.headers["Location"], timeout=10)
    records = requests.get(admin, timeout=10).json()
    assert [r["eventType"] for r in records] == ORDER
    assert all(r["accepted"] and r["notes"] == [] for r in records)


def test_a_sandbox_on_all_interfaces_refuses_loopback_callbacks() -> None:
    with SandboxProcess(extra_args=["--no-seed", "--host", "0.0.0.0"]) as public:
        root = public.url.replace("0.0.0.0", "127.0.0.1")
        refused = requests.post(f"{root}hub", json={"callback": "http://127.0.0.1:9/"},
                                timeout=10)
        assert refused.status_code == 400
        assert "a loopback address" in refused.json()["message"]
        # The banner is read by a thread of its own: wait for it rather than race it.
        assert wait_until(lambda: any("Callbacks may target: global" in line
                                      for line in public.output))


def test_allowed_networks_come_from_the_command_line() -> None:
    with SandboxProcess(extra_args=["--no-seed", "--allow-callback-network", "10.0.0.0/8",
                                    "--callback-mode", "exact"]) as narrow:
        refused = requests.post(f"{narrow.url}hub", json={"callback": "http://127.0.0.1:9/"},
                                timeout=10)
        accepted = requests.post(f"{narrow.url}hub", json={"callback": "http://10.9.8.7/"},
                                 timeout=10)
    assert refused.status_code == 400 and "10.0.0.0/8" in refused.json()["message"]
    assert accepted.status_code == 201


@pytest.mark.parametrize(
    "args",
    [["--allow-callback-network", "intranet"], ["--callback-mode", "sideways"],
     ["--delivery-attempts", "0"], ["--slow-delivery-workers", "0"]],
)
def test_bad_notification_options_are_usage_errors(args: list[str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(args)
    assert stopped.value.code == 2
    assert "usage:" in capsys.readouterr().err
