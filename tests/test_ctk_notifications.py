"""The notifications folder NT1: it passes the sandbox and names each events fault.

Runs go through ``cli.main`` in process with ``--notifications`` (NT1 alone)
and a short quiet period, over real HTTP: to the sandbox app behind waitress
and to :class:`EventfulStandIn`, an independent target whose hub can be made
to get events wrong.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ctk_runner import cli
from ctk_runner.notifications.folder import SCENARIOS, default_listen
from ctk_runner.notifications.listener import EventListener, parse_address

try:
    import ctk_faults
    from ctk_events_standin import EventFaults, EventfulStandIn
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests import ctk_faults  # type: ignore[no-redef]
    from tests.ctk_events_standin import EventFaults, EventfulStandIn  # type: ignore[no-redef]
from tests.conftest import waitress_server

NT1_ONLY = ("--notifications", "--quiet-period", "0.5", "--event-timeout", "5")


def run(url: str, report_dir: Path, capsys: pytest.CaptureFixture[str],
        *args: str) -> tuple[int, dict[str, Any], str]:
    code = cli.main(["--target-url", url, "--report-dir", str(report_dir), *args])
    captured = capsys.readouterr()
    report_file = report_dir / "report.json"
    report = json.loads(report_file.read_text(encoding="utf-8")) if report_file.exists() else {}
    return code, report, captured.out + captured.err


def failures(report: dict[str, Any], kind: str = "failures") -> list[tuple[str, str, str]]:
    return [(f["source"]["name"], f["error"]["test"], f["error"]["message"])
            for f in report["run"][kind]]


def findings(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Failures and failed rules of severity warning (the event order is one)."""
    return failures(report) + failures(report, "warnings")


@pytest.fixture
def sandbox_url(tmp_path: Path) -> Iterator[str]:
    from sandbox import create_app

    app = create_app({"db_path": str(tmp_path / "db.json"), "delivery_backoff": 0.05})
    try:
        with waitress_server(app) as root:
            yield root + "/"
    finally:
        app.extensions["sandbox.events"].close(timeout=1)
        app.extensions["sandbox.db"].close()


def test_nt1_passes_against_the_sandbox(sandbox_url: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, report, output = run(sandbox_url, tmp_path, capsys, *NT1_ONLY)
    assert code == 0, output
    executions = report["run"]["executions"]
    assert [(e["item"]["folder"], e["request"]["method"], e["item"]["name"])
            for e in executions] == [("NT1", s.method, s.name) for s in SCENARIOS]
    names = {a["assertion"] for e in executions for a in e["assertions"]}
    assert {"Hub registration answers 201", "Subscription is a valid EventSubscription",
            "CustomerCreateEvent received", "Event is a valid CustomerCreateEvent",
            "CustomerAttributeValueChangeEvent received", "CustomerStateChangeEvent received",
            "Event is a valid CustomerStateChangeEvent", "CustomerDeleteEvent received",
            "Event carries the deleted customer", "Events arrived in order",
            "Unregistration answers 204", "No event after unregistering"} <= names
    assert report["run"]["failures"] == []
    assert "[101] NT1 /hub" in output
    assert "Verdict (certified build, ctk profile): PASSED - 7 requests" in output
    # The PATCH is a JSON merge patch, as TMF630 requires servers to accept.
    patch = executions[2]["request"]
    assert {"key": "Content-Type", "value": "application/merge-patch+json"} in patch["header"]
    folders = [f["name"] for f in report["collection"]["item"]]
    assert folders[-1] == "NT1"


def test_the_ctk_profile_leaves_nt1_out(sandbox_url: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, report, output = run(sandbox_url, tmp_path, capsys)
    assert code == 0, output
    assert {e["item"]["folder"] for e in report["run"]["executions"]} == {"N1", "N2", "E1"}
    assert report["run"]["stats"]["assertions"]["total"] == 458


@pytest.mark.parametrize(
    ("events", "failed"),
    [
        (EventFaults(delete_event=False), {
            ("/customer/{{IDNT01}}", "CustomerDeleteEvent received"):
                "no CustomerDeleteEvent for customer",
            ("/customer/{{IDNT01}}", "Events arrived in order"):
                "CustomerDeleteEvent never arrived"}),
        (EventFaults(bad_event_time=True), {
            ("/customer", "Event is a valid CustomerCreateEvent"):
                "/eventTime: 'yesterday' is not a 'date-time'",
            ("/customer/{{IDNT01}}", "Event is a valid CustomerAttributeValueChangeEvent"):
                "/eventTime:",
            ("/customer/{{IDNT01}}", "Event is a valid CustomerStateChangeEvent"): "/eventTime:",
            ("/customer/{{IDNT01}}", "Event is a valid CustomerDeleteEvent"): "/eventTime:"}),
        # The create event is held back until the status change has been sent.
        (EventFaults(state_first=True), {
            ("/customer", "CustomerCreateEvent received"): "no CustomerCreateEvent",
            ("/customer/{{IDNT01}}", "Events arrived in order"):
                "they arrived as CustomerAttributeValueChangeEvent, CustomerStateChangeEvent, "
                "CustomerCreateEvent, CustomerDeleteEvent"}),
        (EventFaults(ignore_unregister=True), {
            ("/customer/{{IDNT02}}", "No event after unregistering"):
                "CustomerCreateEvent arrived at /listener/customerCreateEvent"}),
    ],
    ids=["no-delete-event", "bad-event-time", "out-of-order", "unregister-ignored"],
)
def test_nt1_names_the_fault(events: EventFaults, failed: dict[tuple[str, str], str],
                             tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ctk_faults.serve(EventfulStandIn(events=events)) as url:
        # A short wait: these events are missing for good, or held back on purpose.
        code, report, output = run(url, tmp_path, capsys, *NT1_ONLY, "--event-timeout", "2")
    assert code == 1, output
    found = {(name, test): message for name, test, message in findings(report)}
    assert set(found) == set(failed), found
    for key, fragment in failed.items():
        assert fragment in found[key], found[key]
        assert f"FAIL {key[1]} [" in output or f"WARN {key[1]} [harness]" in output


def test_nt1_passes_against_a_conformant_stand_in(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with ctk_faults.serve(EventfulStandIn()) as url:
        code, report, output = run(url, tmp_path, capsys, *NT1_ONLY)
    assert code == 0, output
    assert len(report["run"]["executions"]) == len(SCENARIOS)


def test_a_target_without_a_hub_fails_with_a_clear_message(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stand_in = ctk_faults.StandIn()
    with ctk_faults.serve(stand_in) as url:
        code, report, output = run(url, tmp_path, capsys, *NT1_ONLY)
    assert code == 1, output
    ((request_name, assertion, message),) = failures(report)
    assert (request_name, assertion) == ("/hub", "Hub registration answers 201")
    assert "the target has no notification hub" in message and "404" in message
    # Nothing else is attempted: no customer is created for a folder that cannot pass;
    # every other step is reported as skipped, with why.
    executions = report["run"]["executions"]
    assert len(executions) == len(SCENARIOS) and "response" in executions[0]
    assert all("the folder stopped" in e["skipped"]["reason"] for e in executions[1:])
    skipped = [case for case in ET.fromstring((tmp_path / "junit.xml").read_text())
               .iter("testcase") if case.find("skipped") is not None]
    assert len(skipped) == len(SCENARIOS) - 1
    assert not [r for r in stand_in.requests if r[0] == "POST" and r[1].endswith("/customer")]


def test_callback_url_and_listen_address(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The target is given the public URL; the listener binds where --listen says."""
    with EventListener() as probe:
        port = probe.port  # a free port, released when the probe stops
    stand_in = EventfulStandIn()
    with ctk_faults.serve(stand_in) as url:
        code, _, output = run(url, tmp_path, capsys, *NT1_ONLY, "--listen",
                              f"127.0.0.1:{port}", "--callback-url",
                              f"http://localhost:{port}/")
    assert code == 0, output
    hub_posts = [r for r in stand_in.requests if r[:2] == ("POST", ctk_faults.ROOT_PATH + "hub")]
    assert len(hub_posts) == 1
    assert stand_in.subscriptions == {}  # unregistered at the end


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--callback-url", "ftp://runner/"], "is not an http:// or https:// URL"),
        (["--listen", "8080"], "is not of the form HOST:PORT"),
        (["--event-timeout", "0"], "must be a positive number"),
        (["--quiet-period", "-1"], "must be a positive number"),
    ],
)
def test_bad_notification_options_exit_2(args: list[str], fragment: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{ctk_faults.free_port()}/"
    code = cli.main(["--target-url", url, "--report-dir", str(tmp_path), *args])
    assert code == 2
    assert fragment in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1:0", ("127.0.0.1", 0)), ("0.0.0.0:8080", ("0.0.0.0", 8080)),
     ("[::1]:9000", ("::1", 9000)), (":7000", ("0.0.0.0", 7000))],
)
def test_parse_listen_address(text: str, address: tuple[str, int]) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize(
    ("callback_url", "listen"),
    [(None, "127.0.0.1:0"), ("https://abc.tunnel.example/", "127.0.0.1:0"),
     ("http://runner.example:8088/hooks", "0.0.0.0:8088")],
)
def test_default_listen_address(callback_url: str | None, listen: str) -> None:
    assert default_listen(callback_url) == listen
