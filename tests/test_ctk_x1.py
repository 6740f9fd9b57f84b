"""The X1 folder (strict profile): every check fails against a target that lacks its
behaviour, passes against a conformant one and the sandbox, and the reports list
X1 after the kit's folders while the ``ctk`` profile never runs it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ctk_runner import cli
from ctk_runner.client import Reply
from ctk_runner.config import build_settings
from ctk_runner.kit.builds import load
from ctk_runner.model import Execution
from ctk_runner.report import write_reports
from ctk_runner.runner import CtkSession
from ctk_runner.strict import x1_checks
from ctk_runner.strict.checks import TMF_ERROR
from ctk_runner.strict.x1 import SCENARIOS as X1_SCENARIOS
from ctk_runner.strict.x1 import X1Folder

try:
    import ctk_faults
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests import ctk_faults  # type: ignore[no-redef]

Faults = ctk_faults.Faults
SORT, OPERATOR = x1_checks.SORT_ORDER, x1_checks.OPERATOR_FILTER
MERGE, JSON = "application/merge-patch+json", "application/json"


def run_x1(target: Any, **options: Any) -> tuple[list[Execution], Any]:
    """Serve ``target`` and run only the X1 folder against it (``options``: settings)."""
    with ctk_faults.serve(target) as url:
        session = CtkSession(build_settings(target_url=url, profile="strict", report_dir=None,
                                            **options))
        try:
            return X1Folder(session).run(), target
        finally:
            session.close()


def failed(executions: list[Execution]) -> dict[str, list[str]]:
    """Every finding: a failed rule, or a failed rule of severity warning."""
    found: dict[str, list[str]] = {}
    for execution in executions:
        for group in execution.groups("strict"):
            if group.failed or group.warnings:
                found.setdefault(group.name, []).extend(group.messages)
    return found


# (the check that must fail, a stand-in without the behaviour it checks)
FAULTS = [
    ("Status code is 201", Faults(create_status=200)),
    (x1_checks.PARTIAL_PAGE, Faults(partial_status=200)),
    (x1_checks.COMPLETE_PAGE, Faults(complete_status=206)),
    (x1_checks.WITHIN_LIMIT, Faults(ignore_limit=True)),
    (x1_checks.LIST_ANSWERED, Faults(partial_status=500)),
    (x1_checks.COUNT_HEADERS, Faults(count_headers="never")),
    (x1_checks.RESULT_COUNT, Faults(count_headers="result-is-total")),
    (x1_checks.LINK_HEADER, Faults(link="none")),
    (x1_checks.FILTERED_TOTAL, Faults(totals_ignore_filters=True)),
    (x1_checks.LINK_KEEPS_QUERY, Faults(link="no-query")),
    (x1_checks.ZERO_COUNTS, Faults(count_headers="unless-zero")),
    (x1_checks.OPERATOR_FILTER, Faults(operators=False)),
    (x1_checks.SORT_ORDER, Faults(sort=False)),
    (x1_checks.FIELDS_NONE, Faults(fields_none=False)),
    (x1_checks.MERGE_PATCH_APPLIED, Faults(patch_types=(JSON,))),
    (x1_checks.JSON_PATCH_APPLIED, Faults(patch_types=(MERGE, JSON))),
    (x1_checks.MERGE_PATCH_STORED, Faults(patch_stores=False)),
    (x1_checks.JSON_PATCH_STORED, Faults(patch_stores=False)),
    (x1_checks.UNSUPPORTED_MEDIA_TYPE, Faults(unsupported_patch_status=200)),
    (x1_checks.INVALID_PAYLOAD, Faults(invalid_payload="html-500")),
    (TMF_ERROR, Faults(invalid_payload="html-500")),
    (x1_checks.DELETED, Faults(delete_status=500)),
    (x1_checks.GONE_AFTER_DELETE, Faults(delete_removes=False)),
]


@pytest.mark.parametrize(("check", "faults"), FAULTS, ids=[f"{c}" for c, _ in FAULTS])
def test_each_x1_check_fails_without_its_behaviour(check: str, faults: Any) -> None:
    executions, _ = run_x1(ctk_faults.StandIn(faults))
    problems = failed(executions)
    assert check in problems, f"{check!r} did not fail; failures: {sorted(problems)}"
    # The message says what the target did, not just that something is wrong.
    assert all(problems[check]), problems[check]


def test_every_x1_check_has_a_fault() -> None:
    names = {v for k, v in vars(x1_checks).items() if k.isupper() and isinstance(v, str)}
    assert names <= {check for check, _ in FAULTS}


def test_a_conformant_stand_in_passes_and_is_left_as_found() -> None:
    stand_in = ctk_faults.StandIn()
    before = set(stand_in.customers)
    executions, _ = run_x1(stand_in)
    assert failed(executions) == {}
    assert [e.scenario for e in executions] == list(X1_SCENARIOS)
    assert set(stand_in.customers) == before


def test_the_sandbox_passes_and_is_left_as_found(tmp_path: Path) -> None:
    from sandbox import create_app

    app = create_app({"db_path": str(tmp_path / "db.json")})
    before = {doc["id"] for doc in app.extensions["sandbox.db"].table("customer").all()}
    executions, _ = run_x1(app)
    assert failed(executions) == {}
    after = {doc["id"] for doc in app.extensions["sandbox.db"].table("customer").all()}
    assert after == before
    app.extensions["sandbox.db"].close()


def test_a_target_that_stops_answering_is_reported_not_crashed_on() -> None:
    url = f"http://127.0.0.1:{ctk_faults.free_port()}/tmf-api/customerManagement/v4/"
    session = CtkSession(build_settings(target_url=url, profile="strict", report_dir=None))
    executions = X1Folder(session).run()
    session.close()
    assert len(executions) == len(X1_SCENARIOS)
    sent = [e for e in executions if e.skipped is None]
    # Only the requests that need nothing went out; the rest wait for a customer id.
    assert [e.scenario.number for e in sent] == [16, 17, 18, 21, 29]
    assert all(e.error and "connection refused" in e.error for e in sent)
    assert all("not sent: it needs" in (e.skipped or "") for e in executions if e not in sent)
    assert "customer A (request 16), and POST customer gave no response" in (
        executions[24 - 16].skipped or "")
    assert all("{{" not in e.url and "%7B" not in e.url for e in sent)


# -- the reports: X1 after E1; the ctk profile never runs it ------------------------------


@pytest.fixture(scope="module")
def strict_reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The kit then X1 against a conformant stand-in, recorded and reported."""
    directory = tmp_path_factory.mktemp("x1-report")
    with ctk_faults.serve(ctk_faults.StandIn()) as url:
        session = CtkSession(build_settings(target_url=url, profile="strict",
                                            report_dir=directory))
        for scenario in load("certified").scenarios:
            session.execute(scenario)
        X1Folder(session).run()
        session.run.finish()
        session.close()
    write_reports(session.run, directory)
    yield directory


def test_json_report_lists_x1_after_the_kit(strict_reports: Path) -> None:
    run = json.loads((strict_reports / "report.json").read_text(encoding="utf-8"))
    folders = [e["item"]["folder"] for e in run["run"]["executions"]]
    assert folders == ["N1"] * 5 + ["N2"] * 9 + ["E1"] + ["X1"] * len(X1_SCENARIOS)
    assert [f["name"] for f in run["collection"]["item"]] == ["N1", "N2", "E1", "X1"]
    assert run["run"]["failures"] == []
    kinds = {a["kind"] for e in run["run"]["executions"][15:] for a in e["assertions"]}
    assert kinds == {"strict"}


def test_html_report_has_an_x1_section_after_e1(strict_reports: Path) -> None:
    html = (strict_reports / "report.html").read_text(encoding="utf-8")
    assert html.index("<h3>E1</h3>") < html.index("<h3>X1</h3>")
    assert x1_checks.SORT_ORDER in html and 'id="request-31"' in html


def test_junit_report_has_x1_suites_after_e1(strict_reports: Path) -> None:
    suites = ET.parse(strict_reports / "junit.xml").getroot().findall("testsuite")
    names = [s.get("name") or "" for s in suites]
    assert len(names) == 15 + len(X1_SCENARIOS)
    assert names[14].startswith("15 E1") and names[15].startswith("16 X1")
    assert int(ET.parse(strict_reports / "junit.xml").getroot().get("failures") or 0) == 0


def test_ctk_profile_runs_only_the_kit(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    with ctk_faults.serve(ctk_faults.StandIn()) as url:
        code = cli.main(["--target-url", url, "--report-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    run = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["run"]
    assert run["stats"]["requests"]["total"] == 15
    assert "X1" not in out


# -- the checks on their own ---------------------------------------------------------------


def reply(status: int, headers: dict[str, str] | None = None) -> Reply:
    return Reply("GET", "http://h/customer", {}, None, status=status, reason="",
                 headers=headers or {})


@pytest.mark.parametrize(
    ("check", "ok"),
    [
        (x1_checks.link_header(reply(206, {"Link": '<http://h?offset=0>; rel="first", '
                                                   '<http://h?offset=1>; rel="next", '
                                                   '<http://h?offset=9>; rel="last"'}), True),
         True),
        (x1_checks.link_header(reply(206, {"Link": '<http://h?offset=1>; rel="next"'}), True),
         False),
        (x1_checks.count_headers(reply(200, {"X-Total-Count": "3", "X-Result-Count": "3"})),
         True),
        (x1_checks.count_headers(reply(200, {"X-Total-Count": "three"})), False),
        (x1_checks.zero_counts(reply(200, {"X-Total-Count": "0", "X-Result-Count": "0"}), []),
         True),
        (x1_checks.zero_counts(reply(200, {"X-Total-Count": "0"}), []), False),
        (x1_checks.in_order(SORT, reply(200), [{"id": "b"}, {"id": "s"}, {"id": "a"}],
                            ["b", "a"], "q"), True),
        (x1_checks.in_order(SORT, reply(200), [{"id": "a"}, {"id": "b"}], ["b", "a"], "q"),
         False),
        (x1_checks.fields_none(reply(200), {"id": "1", "href": "h", "@type": "C"}), True),
        (x1_checks.fields_none(reply(200), {"id": "1", "name": "n"}), False),
        (x1_checks.selects_exactly(OPERATOR, reply(200), [{"id": "2"}], ["2"], "q"), True),
        (x1_checks.selects_exactly(OPERATOR, reply(200), [{"id": "1"}, {"id": "2"}], ["2"], "q"),
         False),
    ],
)
def test_checks_judge_what_they_are_given(check: Any, ok: bool) -> None:
    assert check.passed is ok and check.kind == "strict"
    assert bool(check.message) is not ok
