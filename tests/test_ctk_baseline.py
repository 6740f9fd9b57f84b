"""Regression diffs between two runs against stand-ins that differ in one assertion and
one latency, the ``--fail-on new`` gate, and the diff's reading rules from tables."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ctk_runner import cli
from ctk_runner.baseline import compare, shape_of, views
from ctk_runner.deployment import Tolerance, parse_tolerance

try:
    import ctk_faults
    import ctk_gateways
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests import ctk_faults, ctk_gateways  # type: ignore[no-redef]

READ_CU02 = "N1 GET /customer/{{IDCU02}}"
UNKNOWN = "E1 GET /customer/404ID"


def _run(app: Any, report_dir: Path, capsys: pytest.CaptureFixture[str],
         *args: str) -> tuple[int, str]:
    with ctk_faults.serve(app) as url:
        code = cli.main(["--target-url", url, "--report-dir", str(report_dir), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A passing run against the conformant stand-in."""
    directory = tmp_path_factory.mktemp("baseline")
    with ctk_faults.serve(ctk_faults.StandIn()) as url:
        code = cli.main(["--target-url", url, "--report-dir", str(directory), "--quiet"])
    assert code == 0
    yield directory / "report.json"


def _changed_stand_in() -> Any:
    """Unknown ids answered 200 with an empty body (one assertion), CU02's read slow."""
    faulty = ctk_faults.StandIn(ctk_faults.Faults(unknown_id="empty-200"))
    return ctk_gateways.Slow(faulty, ctk_gateways.nth_read(2), delay=1.2)


def test_diff_shows_exactly_the_new_failure_and_the_latency_change(
    baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Generous: a busy machine must not make another request look slower.
    code, output = _run(_changed_stand_in(), tmp_path, capsys, "--baseline", str(baseline),
                        "--latency-tolerance", "800ms")
    assert code == 1, output
    diff = json.loads((tmp_path / "diff.json").read_text(encoding="utf-8"))
    assert [(e["request"], e["assertion"]) for e in diff["newlyFailing"]] == [
        (UNKNOWN, "Status code is 404")]
    assert "got 200" in diff["newlyFailing"][0]["message"]
    # Ids, hrefs and ports differ between the runs; normalised, nothing else changed.
    assert diff["newlyPassing"] == [] and diff["added"] == [] and diff["removed"] == []
    assert diff["statusChanges"] == [{"request": UNKNOWN, "before": 404, "after": 200}]
    assert [e["request"] for e in diff["shapeChanges"]] == [UNKNOWN]
    assert [e["request"] for e in diff["latencyChanges"]] == [READ_CU02]
    assert diff["latencyChanges"][0]["afterMs"] >= 1200
    html = (tmp_path / "diff.html").read_text(encoding="utf-8")
    assert "Newly failing (1)" in html and "Latency changes beyond 800ms (1)" in html
    assert "/customer/{{IDCU02}}" in html
    assert f"NEW FAIL  {UNKNOWN}: Status code is 404" in output
    assert f"LATENCY   {READ_CU02}: p50" in output and "1 newly failing" in output


def test_fail_on_new_gates_only_on_regressions(
    baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    known = tmp_path / "known"
    first, _ = _run(_changed_stand_in(), known, capsys)
    assert first == 1
    # Against its own failing baseline the known gap is no regression: exit 0.
    again, output = _run(_changed_stand_in(), tmp_path / "again", capsys, "--baseline",
                         str(known / "report.json"), "--fail-on", "new",
                         "--latency-tolerance", "100%")
    assert again == 0, output
    assert "Verdict (certified build, ctk profile): FAILED" in output
    assert "Gate (--fail-on new): PASSED - 0 new failures" in output
    # Against the passing baseline the same failure is new: exit 1.
    gated, output = _run(_changed_stand_in(), tmp_path / "gated", capsys, "--baseline",
                         str(baseline), "--fail-on", "new", "--json-summary",
                         str(tmp_path / "summary.json"))
    assert gated == 1
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["newFailures"] == 1 and summary["diff"]["newlyFailing"] == 1
    assert summary["exitCode"] == 1 and "diff-json" in summary["reports"]


def test_a_broken_baseline_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "report.json"
    broken.write_text('{"run": {}}', encoding="utf-8")
    code, output = _run(ctk_faults.StandIn(), tmp_path / "r", capsys, "--baseline", str(broken))
    assert code == 2 and "is not a ctk-runner or Newman report.json" in output
    assert not (tmp_path / "r").exists()


# -- the reading rules, from tables --------------------------------------------------------


def _report(executions: list[dict[str, Any]], root: str = "http://h/api/") -> dict[str, Any]:
    return {"environment": {"values": [{"key": "Customer", "value": root}]},
            "run": {"executions": executions}}


def _execution(folder: str, name: str, method: str, code: int | None, body: str,
               assertions: list[tuple[str, bool]], ms: float = 10) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "item": {"folder": folder, "name": name}, "request": {"method": method},
        "assertions": [{"assertion": a, **({} if ok else {"error": {"message": "no"}})}
                       for a, ok in assertions]}
    if code is None:
        entry["requestError"] = {"message": "h did not answer within 1 s"}
    else:
        entry["response"] = {"code": code, "body": body, "responseTime": ms}
    return entry


def test_request_keys_number_repeated_names_and_normalise_created_values() -> None:
    body = json.dumps({"id": "abc-1", "href": "http://h/api/customer/abc-1"})
    report = _report([
        _execution("N1", "/customer", "POST", 201, body, [("id is abc-1", True)]),
        _execution("N1", "/customer", "POST", 201, json.dumps({"id": "abc-2"}), []),
        _execution("N1", "/customer", "GET", 200, "[]",
                   [("href is http://h/api/customer/abc-1", True)]),
        _execution("E1", "/customer/404ID", "GET", None, "", []),
    ])
    seen = views(report)
    assert list(seen) == ["N1 POST /customer", "N1 POST /customer #2", "N1 GET /customer",
                          "E1 GET /customer/404ID"]
    assert list(seen["N1 POST /customer"].assertions) == ["id is {{created-1.id}}"]
    assert list(seen["N1 GET /customer"].assertions) == ["href is {{created-1.href}}"]
    assert seen["E1 GET /customer/404ID"].assertions == {
        "Request error": (True, "h did not answer within 1 s")}


@pytest.mark.parametrize(
    ("body", "shape"),
    [
        ('{"id": "1", "n": 2, "x": null}', {"id:string", "n:number", "x:null"}),
        ('[{"id": "1"}, {"id": "2", "a": []}]', {"<array>", "[].id:string", "[].a:array"}),
        ("", {"<null>"}),
        ("<html>", {"<not JSON>"}),
        ("true", {"<boolean>"}),
    ],
)
def test_shapes(body: str, shape: set[str]) -> None:
    assert shape_of(body) == shape


@pytest.mark.parametrize(
    ("tolerance", "before", "after", "reported"),
    [
        ("50%", 100, 149, False), ("50%", 100, 151, True), ("50%", 100, 40, True),
        ("200ms", 10, 150, False), ("200ms", 10, 260, True), ("0%", 10, 10, False),
    ],
)
def test_latency_tolerance(tolerance: str, before: float, after: float, reported: bool) -> None:
    old = _report([_execution("N1", "/c", "GET", 200, "{}", [], ms=before)])
    new = _report([_execution("N1", "/c", "GET", 200, "{}", [], ms=after)])
    diff = compare(old, new, parse_tolerance(tolerance))
    assert bool(diff.latency_changes) is reported


def test_outcome_changes_and_the_gate() -> None:
    old = _report([_execution("N1", "/c", "GET", 200, "{}",
                              [("a", True), ("b", False), ("gone", True)])])
    new = _report([_execution("N1", "/c", "GET", 200, "{}",
                              [("a", False), ("b", True), ("fresh", False)])])
    diff = compare(old, new, Tolerance(50, "%"))
    assert [e["assertion"] for e in diff.newly_failing] == ["a"]
    assert [e["assertion"] for e in diff.newly_passing] == ["b"]
    assert [(e["assertion"], e["failed"]) for e in diff.added] == [("fresh", True)]
    assert [e["assertion"] for e in diff.removed] == ["gone"]
    assert [e["assertion"] for e in diff.new_failures()] == ["a", "fresh"]


def test_the_release_gate_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """OAuth2 gateway that rate-limits; a release changes one answer and one latency."""
    monkeypatch.setenv("CTK_CLIENT_SECRET", "s3cr3t-client-secret")

    def deployment(faults: ctk_faults.Faults, delay: float) -> tuple[Any, Any]:
        stand_in = ctk_faults.StandIn(faults)
        slow = ctk_gateways.Slow(stand_in, ctk_gateways.nth_read(2), delay=delay)
        limited = ctk_gateways.Throttle(slow, ctk_gateways.request_is("POST", "/customer"),
                                        retry_after="1")
        return stand_in, ctk_gateways.Gateway(limited)

    def release(app: Any, report_dir: Path, *args: str) -> tuple[int, str]:
        with ctk_faults.serve(app) as url:
            token = url.split("/tmf-api/")[0] + ctk_gateways.TOKEN_PATH
            code = cli.main(["--target-url", url, "--report-dir", str(report_dir),
                             "--auth", "oauth2-client-credentials", "--token-url", token,
                             "--client-id", "ctk-client", "--rate", "50", *args])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    before, app = deployment(ctk_faults.Faults(), 0.0)
    code, _ = release(app, tmp_path / "before")
    assert code == 0 and len(before.customers) == 25
    after, app = deployment(ctk_faults.Faults(unknown_id="empty-200"), 1.2)
    code, output = release(app, tmp_path / "after", "--baseline",
                           str(tmp_path / "before" / "report.json"), "--fail-on", "new",
                           "--latency-tolerance", "800ms")
    assert code == 1 and len(after.customers) == 25
    diff = json.loads((tmp_path / "after" / "diff.json").read_text(encoding="utf-8"))
    assert [(e["request"], e["assertion"]) for e in diff["newlyFailing"]] == [
        (UNKNOWN, "Status code is 404")]
    assert [e["request"] for e in diff["latencyChanges"]] == [READ_CU02]
    assert "Gate (--fail-on new): FAILED - 1 new failures" in output
    written = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "after").glob("*"))
    for secret in ["s3cr3t-client-secret", *app.issued]:
        assert secret not in written and secret not in output
