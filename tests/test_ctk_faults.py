"""The harness against deliberately broken targets, and its counting.

Each fault of :mod:`ctk_faults` is one way a TMF629 server gets the CTK wrong;
the harness must fail (exit 1) on the assertion that names it, and say why in
every report, or, for what the Postman kit cannot see, pass in the ``ctk``
profile and fail only in ``strict``. The runs go through ``cli.main`` in
process (fast), over real HTTP to a stand-in served on a free port.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ctk_runner import cli

try:
    import ctk_faults
    from ctk_outcome import Outcome, run_harness
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests import ctk_faults  # type: ignore[no-redef]
    from tests.ctk_outcome import Outcome, run_harness  # type: ignore[no-redef]

Faults = ctk_faults.Faults

try:
    from ctk_events_standin import EventfulStandIn
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests.ctk_events_standin import EventfulStandIn  # type: ignore[no-redef]


@pytest.fixture
def stand_in(request: pytest.FixtureRequest) -> Iterator[tuple[str, ctk_faults.StandIn]]:
    faults = getattr(request, "param", Faults())
    app = ctk_faults.StandIn(faults)
    with ctk_faults.serve(app) as url:
        yield url, app


# -- conformant stand-in: both profiles pass ----------------------------------------


@pytest.mark.parametrize("profile", ["ctk", "strict"])
def test_conformant_stand_in_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    profile: str) -> None:
    # The strict profile ends with the notifications folder NT1: this stand-in has a hub.
    with ctk_faults.serve(EventfulStandIn()) as url:
        outcome = run_harness(url, tmp_path, capsys, "--profile", profile,
                              "--quiet-period", "0.5")
    assert outcome.code == 0, outcome.output
    stats = outcome.json["run"]["stats"]
    executions = outcome.json["run"]["executions"]
    folders = [e["item"]["folder"] for e in executions]
    assert folders[:15] == ["N1"] * 5 + ["N2"] * 9 + ["E1"]
    assert stats["requests"]["failed"] == 0
    assert stats["assertions"]["failed"] == 0
    assert outcome.json["run"]["warnings"] == []
    # 25 seed + 2 created, one instance per filter: 1 + 8*27 + 30 for the list.
    counts = [len(e["assertions"]) for e in executions]
    if profile == "ctk":
        assert stats["requests"] == {"total": 15, "pending": 0, "failed": 0}
        assert counts == [9, 9, 247, 24, 24, 0, 24, 24, 0, 24, 24, 0, 24, 24, 1]
    else:
        assert folders[-7:] == ["NT1"] * 7


# -- the fault table ------------------------------------------------------------------

# (id, faults, profile, exit code, request number, assertion that must fail or warn)
FAULTS = [
    ("create-200", Faults(create_status=200), "ctk", 1, 1, "Status code is 201"),
    ("type-missing", Faults(drop_type=True), "ctk", 1, 1, "Response has @type attribute"),
    ("href-number", Faults(href="number"), "ctk", 1, 1, "Response has href attribute"),
    ("id-filter-ignored", Faults(ignore_id_filter=True), "ctk", 0, 10,
     "IDCU02 not expected on this test"),
    ("id-filter-ignored", Faults(ignore_id_filter=True), "strict", 1, 10,
     "Filtered list holds only matching customers"),
    ("fields-ignored", Faults(ignore_fields=True), "ctk", 0, None, None),
    ("fields-ignored", Faults(ignore_fields=True), "strict", 1, 6,
     "Response has only the requested fields"),
    ("unknown-id-200-empty", Faults(unknown_id="empty-200"), "ctk", 1, 15, "Status code is 404"),
    ("unknown-id-404-no-body", Faults(unknown_id="empty-404"), "ctk", 0, None, None),
    ("unknown-id-404-no-body", Faults(unknown_id="empty-404"), "strict", 1, 15,
     "Error body is a TMF Error"),
    ("renamed-on-read", Faults(rename_on_read=True), "ctk", 0, 4, "name is Moon Football Club"),
    ("renamed-on-read", Faults(rename_on_read=True), "strict", 1, 4,
     "name is Moon Football Club"),
    # A TMF630 rule of severity warning: reported, not failed (NT1 fails: no /hub).
    ("no-location", Faults(location=False), "strict", 1, 1, "Location header equals href"),
    ("href-is-collection", Faults(href="collection"), "strict", 1, 1,
     "GET on href returns the same customer"),
]


@pytest.mark.parametrize(
    ("stand_in", "profile", "code", "number", "assertion"),
    [pytest.param(f, p, c, n, a, id=f"{i}-{p}") for i, f, p, c, n, a in FAULTS],
    indirect=["stand_in"],
)
def test_fault_is_named(stand_in: tuple[str, Any], tmp_path: Path,
                        capsys: pytest.CaptureFixture[str], profile: str, code: int,
                        number: int | None, assertion: str | None) -> None:
    url, _ = stand_in
    outcome = run_harness(url, tmp_path, capsys, "--profile", profile)
    assert outcome.code == code, outcome.output
    report = outcome.json
    if assertion is None:  # invisible to this profile: no failure, no warning
        assert report["run"]["failures"] == [] and report["run"]["warnings"] == []
        return
    assert number is not None
    execution = report["run"]["executions"][number - 1]
    entries = [a for a in execution["assertions"] if a["assertion"] == assertion]
    assert entries, f"{assertion!r} not recorded on request {number}"
    warned = assertion == "Location header equals href" or code == 0
    problems = outcome.warnings() if warned else outcome.failures()
    named = [p for p in problems if p[1] == assertion]
    assert named and all(p[2] for p in named), problems
    if warned and profile == "strict":
        assert {(a["source"], a["severity"]) for a in entries} == {("tmf630", "warning")}
    if not warned:
        assert any(a.get("error") for a in entries)
        assert report["run"]["stats"]["assertions"]["failed"] >= 1
        assert f"FAIL {assertion}" in outcome.output
        failing_cases = [
            case.get("name") for case in outcome.junit.iter("testcase")
            if case.find("failure") is not None
        ]
        assert assertion in failing_cases
    else:
        # A ctk-profile value check, or a rule of severity warning: visible, never a failure.
        assert all("error" not in a and a["outcome"] == "warning" for a in entries
                   if a["outcome"] != "passed")
        if code == 0:
            assert report["run"]["stats"]["assertions"]["failed"] == 0
        assert f"WARN {assertion}" in outcome.output


def test_fault_on_the_real_sandbox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same detection through the sandbox's own code, with one answer rewritten."""
    sandbox = pytest.importorskip("sandbox")
    app = sandbox.create_app({"db_path": str(tmp_path / "db.json")})
    faulty = ctk_faults.SandboxFault(app, create_status=200)
    with ctk_faults.serve(faulty) as url:
        outcome = run_harness(url, tmp_path / "report", capsys)
    assert outcome.code == 1, outcome.output
    failed = {(request, name) for request, name, _ in outcome.failures()}
    assert failed == {("/customer", "Status code is 201")}


# -- counting: the certification report's situation -----------------------------------


@pytest.mark.parametrize(
    "stand_in", [Faults(seed=27, ignore_filters=True, href="collection")], indirect=True
)
def test_counts_match_the_certification_report(
    stand_in: tuple[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """27 stored + 2 created, filters ignored, href = collection URL: 15 requests, 1824."""
    url, _ = stand_in
    outcome = run_harness(url, tmp_path, capsys)
    assert outcome.code == 0, outcome.output
    run = outcome.json["run"]
    assert run["stats"]["iterations"]["total"] == 1
    assert run["stats"]["requests"] == {"total": 15, "pending": 0, "failed": 0}
    assert run["stats"]["prerequestScripts"]["total"] == 0
    assert run["stats"]["testScripts"] == {"total": 15, "pending": 0, "failed": 0}
    assert run["stats"]["assertions"] == {"total": 1824, "pending": 0, "failed": 0}
    counts = [len(e["assertions"]) for e in run["executions"]]
    assert counts == [9, 9, 263, 24, 24, 0, 249, 249, 0, 249, 249, 0, 249, 249, 1]
    assert run["failures"] == []

    # Newman's grouping: the shared href makes one "href is ..." row counting 2.
    request3 = count_by_name(run["executions"][2]["assertions"])
    assert request3[f"href is {url}customer"] == 2
    assert request3["Instance has all mandatory attributes"] == 29
    assert request3["Status code is 200"] == 1
    request7 = count_by_name(run["executions"][6]["assertions"])
    assert request7["IDCU02 not expected on this test"] == 1
    assert request7["name is Moon Football Club"] == 1
    # Same href for everybody: CU02 does match ?href=HREFCU01, which is no warning.
    assert not [w for w in outcome.warnings() if "href" in w[0]]

    html = outcome.html
    for text in ("Iterations", "Requests", "Prerequest Scripts", "Test Scripts", "Assertions",
                 "1824", "Total run duration", "Total data received", "Average response time",
                 "This operation search for the other one of the created customer"):
        assert text in html


def count_by_name(assertions: list[dict[str, Any]]) -> dict[str, int]:
    """Count assertions by name, like a row of the Newman report's Tests table."""
    counts: dict[str, int] = {}
    for entry in assertions:
        counts[entry["assertion"]] = counts.get(entry["assertion"], 0) + 1
    return counts


# -- the three reports of a failing run --------------------------------------------------


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    report_dir = tmp_path_factory.mktemp("failing-report")
    app = ctk_faults.StandIn(Faults(drop_type=True))
    with ctk_faults.serve(app) as url:
        code = cli.main(["--target-url", url, "--report-dir", str(report_dir)])
    yield Outcome(code, report_dir, "")


def test_report_json_is_newman_shaped(failing_run: Outcome) -> None:
    run = failing_run.json["run"]
    assert failing_run.code == 1
    for key in ("iterations", "requests", "testScripts", "prerequestScripts", "assertions"):
        assert set(run["stats"][key]) >= {"total", "failed"}
    assert {"responseAverage", "started", "completed"} <= set(run["timings"])
    first = run["executions"][0]
    assert first["item"]["name"] == "/customer"
    assert first["request"]["method"] == "POST"
    assert first["response"]["code"] == 201
    assert isinstance(first["response"]["responseTime"], int)
    assert first["response"]["responseSize"] > 0
    # Every instance lacks @type: 27 in the list, one per created/read customer...
    failing = [f for f in run["failures"] if f["error"]["test"] == "Response has @type attribute"]
    assert len(failing) == run["stats"]["assertions"]["failed"] // 2
    assert failing[0]["source"]["name"] == "/customer"
    assert "has no @type" in failing[0]["error"]["message"]


def test_junit_has_one_case_per_assertion_group(failing_run: Outcome) -> None:
    root = failing_run.junit
    suites = root.findall("testsuite")
    assert len(suites) == 15
    create = suites[0]
    names = [case.get("name") for case in create.findall("testcase")]
    assert names[0] == "Status code is 201" and len(names) == 9
    failed = {case.get("name"): case.find("failure") for case in create.findall("testcase")
              if case.find("failure") is not None}
    assert set(failed) == {"Instance has all mandatory attributes",
                           "Response has @type attribute"}
    mandatory = failed["Instance has all mandatory attributes"]
    assert mandatory is not None and "lacks @type" in (mandatory.get("message") or "")
    assert int(root.get("failures") or 0) == sum(int(s.get("failures") or 0) for s in suites)


def test_html_names_the_failure_and_its_reason(failing_run: Outcome) -> None:
    html = failing_run.html
    assert "<h2>Summary</h2>" in html and "Total Failures" in html
    assert "<h2>Failures (" in html
    assert "Response has @type attribute" in html
    assert "has no @type" in html
    assert "FAILED" in html
    assert "<script" not in html  # self-contained and static


def test_target_text_is_escaped_in_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    payload = tmp_path / "cu.json"
    payload.write_text(json.dumps({"name": "<script>alert(1)</script>",
                                   "engagedParty": {"id": "1", "@referredType": "Organization"}}),
                       encoding="utf-8")
    with ctk_faults.serve(ctk_faults.StandIn()) as url:
        outcome = run_harness(url, tmp_path / "r", capsys, "--payload", str(payload))
    assert outcome.code == 0, outcome.output
    assert "<script>alert(1)</script>" not in outcome.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in outcome.html


# -- clean-up ----------------------------------------------------------------------------


def test_cleanup_deletes_what_the_run_created(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    app = ctk_faults.StandIn()
    with ctk_faults.serve(app) as url:
        outcome = run_harness(url, tmp_path, capsys, "--cleanup")
    assert outcome.code == 0, outcome.output
    assert len(app.customers) == 25
    cleanup = outcome.json["run"]["cleanup"]
    assert [c["customer"] for c in cleanup] == ["CU01", "CU02"]
    assert all(c["ok"] and c["code"] == 204 for c in cleanup)


def test_cleanup_reports_a_failed_delete(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    app = ctk_faults.StandIn(Faults(delete_status=500))
    with ctk_faults.serve(app) as url:
        outcome = run_harness(url, tmp_path, capsys, "--cleanup")
    # The verdict is about the kit's requests; the failed delete is reported beside it.
    assert outcome.code == 0
    cleanup = outcome.json["run"]["cleanup"]
    assert [c["ok"] for c in cleanup] == [False, False]
    assert "NOT deleted" in outcome.output and "500" in outcome.output
    assert "Clean-up" in outcome.html


# -- headers and TLS -----------------------------------------------------------------------


def test_headers_reach_every_request_and_are_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = ctk_faults.StandIn()
    with ctk_faults.serve(app) as url:
        outcome = run_harness(url, tmp_path, capsys, "--header", "Authorization: Bearer s3cr3t")
    assert outcome.code == 0, outcome.output
    assert {auth for _, _, auth in app.requests} == {"Bearer s3cr3t"}
    text = (tmp_path / "report.json").read_text(encoding="utf-8")
    assert "s3cr3t" not in text


def test_tls_needs_insecure_for_a_self_signed_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("cryptography")
    with ctk_faults.serve(ctk_faults.StandIn(), tls=True) as url:
        refused = run_harness(url, tmp_path / "a", capsys)
        accepted = run_harness(url, tmp_path / "b", capsys, "--insecure")
    assert refused.code == 2
    assert "TLS" in refused.output and "--insecure" in refused.output
    assert "Traceback" not in refused.output
    assert accepted.code == 0, accepted.output
