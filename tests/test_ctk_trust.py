"""Issue 18, a verdict you can trust on any server: each deliverable against stand-ins.

Paging judged on the real numbers (an empty store, a store smaller than a page,
a large one); prerequisites (a step whose customer was never created is skipped
with the reason in every report, and nothing goes out with an unresolved
variable); no vacuous pass; hrefs outside the target (not followed, or
followed bare); every strict finding names its rule's source; ``--rules``;
the pre-flight only warns. The kit's agreement with Newman on the byte-order-mark
and ``fields``-404 servers is in test_ctk_newman.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ctk_runner.client import KIT_HEADERS, Reply, same_origin
from ctk_runner.config import build_settings
from ctk_runner.model import RULE_SOURCES
from ctk_runner.strict import checks, rules
from ctk_runner.strict import x1_checks as x1
from ctk_runner.strict.x1 import STEPS

try:
    import ctk_faults
    import ctk_kit_standins as standins
    import test_ctk_x1 as x1_folder
    from ctk_outcome import Outcome, run_harness
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests import ctk_faults  # type: ignore[no-redef]
    from tests import ctk_kit_standins as standins  # type: ignore[no-redef]
    from tests import test_ctk_x1 as x1_folder  # type: ignore[no-redef]
    from tests.ctk_outcome import Outcome, run_harness  # type: ignore[no-redef]

Faults = ctk_faults.Faults
#: The harness page of the documentation site lists every strict rule.
HARNESS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "harness" / "index.md"


def reply(status: int | None, headers: dict[str, str] | None = None) -> Reply:
    return Reply("GET", "http://h/customer", {}, None, status=status, reason="",
                 headers=headers or {})


# -- paging: 206 only for a partial page, per the real total ------------------------------


@pytest.mark.parametrize(
    ("total", "returned", "offset", "known", "partial"),
    [
        (0, 0, 0, 0, False),     # an empty store
        (1, 1, 0, 1, False),     # limit=1 covers a one-customer collection
        (2, 2, 0, 2, False),     # a page larger than the collection
        (2, 1, 0, 2, True),
        (502, 1, 0, 2, True),    # a large store
        (1, 1, 0, 2, True),      # a total lower than what the run created is no excuse
        (None, 1, 0, 2, True),   # no total, but the run knows of two
        (None, 1, 0, 1, None),   # no total, and nothing tells: no verdict
        (None, 0, 0, 0, None),
        (5, 2, 3, 0, True),      # a page after the first is a part
    ],
)
def test_page_is_partial(total: int | None, returned: int, offset: int, known: int,
                         partial: bool | None) -> None:
    assert x1.page_is_partial(total, returned, offset, known) is partial


@pytest.mark.parametrize(
    ("status", "total", "partial", "name", "outcome", "message"),
    [
        (206, "2", True, x1.PARTIAL_PAGE, "passed", ""),
        (200, "502", True, x1.PARTIAL_PAGE, "failed", "answered 200 with 1 of 502 customers"),
        (200, "1", False, x1.COMPLETE_PAGE, "passed", ""),
        (206, "1", False, x1.COMPLETE_PAGE, "failed", "its 1 customers are all 1 that match"),
        (200, None, None, x1.PARTIAL_PAGE, "skipped", "cannot be told"),
    ],
)
def test_page_status_names_the_real_counts(status: int, total: str | None,
                                           partial: bool | None, name: str, outcome: str,
                                           message: str) -> None:
    headers = {"X-Total-Count": total} if total is not None else {}
    found = x1.page_status(reply(status, headers), [{"id": "a"}], partial, "GET customer?limit=1")
    assert found.name == name and found.outcome("strict") == outcome
    assert message in found.message


# -- no vacuous pass: an absent subject is skipped (or failed), never passed --------------


@pytest.mark.parametrize(
    ("assertion", "outcome"),
    [
        (x1.in_order(x1.SORT_ORDER, reply(200), [], [], "sort"), "skipped"),
        (x1.in_order(x1.SORT_ORDER, reply(200), [], ["b", "a"], "sort"), "failed"),
        (x1.in_order(x1.SORT_ORDER, reply(404), [], ["b", "a"], "sort"), "failed"),
        (x1.selects_exactly(x1.OPERATOR_FILTER, reply(200), [], [], "gte"), "skipped"),
        (x1.filtered_total(reply(200, {"X-Total-Count": "0"}), 0, "name=x"), "skipped"),
        (x1.result_count(reply(200), []), "skipped"),
        (x1.link_header(reply(200), False), "skipped"),
        (x1.link_keeps_query(reply(200), {"name": "x"}, None), "skipped"),
        (checks.filtered_only_matching([], "id", "1"), "skipped"),
        (checks.only_requested_fields([], "id"), "skipped"),
        (checks.valid_customer([]), "skipped"),
        (checks.tmf_error(reply(None)), "skipped"),
        (checks.same_customer(None, {}), "failed"),
    ],
)
def test_an_absent_subject_never_passes(assertion: Any, outcome: str) -> None:
    assert assertion.outcome("strict") == outcome and assertion.message


def test_filtered_total_counts_what_the_run_created() -> None:
    found = x1.filtered_total(reply(200, {"X-Total-Count": "27"}), 1, "name=tag")
    assert not found.passed and "matches the 1 customer this run created" in found.message


# -- every strict rule has a source; the harness page lists them all -----------------------------


def _rule_names(module: Any) -> set[str]:
    return {v for k, v in vars(module).items() if k.isupper() and isinstance(v, str)}


def test_every_strict_check_has_a_rule_with_a_source() -> None:
    from ctk_runner.notifications import checks as nt1

    names = _rule_names(x1) | _rule_names(checks)
    names |= {v for k, v in vars(nt1).items() if k in (
        "HUB_ANSWERS_201", "VALID_SUBSCRIPTION", "IN_ORDER", "UNREGISTERED", "NOTHING_AFTER",
        "EVENT_CARRIES_MEMBERS")}
    assert names <= set(rules.RULES), names - set(rules.RULES)
    assert {r.source for r in rules.RULES.values()} == set(RULE_SOURCES)
    with pytest.raises(KeyError):
        rules.judge("A rule nobody wrote down", False, "")


def test_the_docs_list_every_strict_rule_with_its_source() -> None:
    assert rules.markdown_table() in HARNESS_PAGE.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "sources"),
    [("swagger", ("swagger",)), ("rfc, swagger", ("swagger", "rfc")),
     ("swagger,tmf630,rfc,harness", RULE_SOURCES)],
)
def test_rules_option_selects_sources(text: str, sources: tuple[str, ...]) -> None:
    assert rules.parse_sources(text) == sources


@pytest.mark.parametrize("text", ["", "spec", "swagger,opinion"])
def test_unknown_rule_sources_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="swagger, tmf630, rfc, harness"):
        rules.parse_sources(text)


@pytest.mark.parametrize(
    ("url", "target", "same"),
    [
        ("http://h:80/api/customer/1", "http://h/api/", True),
        ("HTTP://H/api/customer/1", "http://h/api/", True),
        ("https://h/api/customer/1", "http://h/api/", False),
        ("http://h:8080/api/customer/1", "http://h/api/", False),
        ("http://prod.example.com/api/customer/1", "http://h/api/", False),
        ("http://h.evil/api", "http://h/api/", False),
        ("http://h:notaport/x", "http://h/api/", False),
    ],
)
def test_same_origin(url: str, target: str, same: bool) -> None:
    assert same_origin(url, target) is same


def test_the_bare_client_carries_no_credential(tmp_path: Path) -> None:
    settings = build_settings(target_url="http://127.0.0.1:9/", headers=["X-Api-Key: k"],
                              report_dir=None, deployment={"auth": "bearer:t0ken"})
    bare = settings.bare_client()
    try:
        assert dict(bare.session.headers) == KIT_HEADERS
        assert bare.session.auth is None and bare.session.cert is None
    finally:
        bare.close()


# -- X1 on stores of every size, against the stand-in ---------------------------------------


def run_x1(faults: Faults, **options: Any) -> tuple[list[Any], ctk_faults.StandIn]:
    return x1_folder.run_x1(ctk_faults.StandIn(faults), **options)


def skipped(executions: Iterable[Any]) -> dict[int, str]:
    return {e.scenario.number: e.skipped for e in executions if e.skipped}


def no_unresolved_variable(stand_in: ctk_faults.StandIn) -> None:
    for _, path, _ in stand_in.requests:
        assert "{{" not in path and "%7B" not in path.upper() and not path.endswith("/null")


def test_an_empty_store_whose_creates_fail() -> None:
    executions, stand_in = run_x1(Faults(seed=0, accept_creates=0))
    # The only true findings: the creates failed. No 206, no Link is demanded of an empty list.
    assert set(x1_folder.failed(executions)) == {"Status code is 201"}
    page = next(e for e in executions if e.scenario.number == 18)
    assert {a.name: a.outcome("strict") for a in page.assertions}[x1.COMPLETE_PAGE] == "passed"
    assert all(a.name != x1.PARTIAL_PAGE for a in page.assertions)
    reasons = skipped(executions)
    assert set(reasons) == {19, 20, 22, 23, 24, 25, 26, 27, 28, 30, 31, 32}
    assert "POST customer answered 500" in reasons[24]
    no_unresolved_variable(stand_in)


def test_a_one_customer_store_smaller_than_a_page() -> None:
    executions, stand_in = run_x1(Faults(seed=0, accept_creates=1))
    assert set(x1_folder.failed(executions)) == {"Status code is 201"}
    page = next(e for e in executions if e.scenario.number == 18)
    # limit=1 covers the whole one-customer collection: 200, no Link required.
    outcomes = {a.name: a.outcome("strict") for a in page.assertions}
    assert outcomes[x1.COMPLETE_PAGE] == "passed" and outcomes[x1.LINK_HEADER] == "skipped"
    reasons = skipped(executions)
    assert set(reasons) == {22, 23, 32}
    assert "both customers of this folder" in reasons[23] and "only 1 of the two" in reasons[23]
    assert stand_in.customers == {}  # what it created, it deleted
    no_unresolved_variable(stand_in)


def test_a_large_store() -> None:
    executions, _ = run_x1(Faults(seed=500))
    assert x1_folder.failed(executions) == {}
    executions, _ = run_x1(Faults(seed=500, partial_status=200, link="none"))
    found = x1_folder.failed(executions)
    assert set(found) == {x1.PARTIAL_PAGE, x1.LINK_HEADER, x1.LINK_KEEPS_QUERY}
    assert "answered 200 OK with 1 of 502 customers" in found[x1.PARTIAL_PAGE][0]


def test_a_total_that_ignores_the_filter_is_told_with_the_real_count() -> None:
    executions, _ = run_x1(Faults(totals_ignore_filters=True))
    found = x1_folder.failed(executions)
    # The empty result's total is the whole collection too: a second true finding.
    assert set(found) == {x1.FILTERED_TOTAL, x1.ZERO_COUNTS}
    assert all("matches the 2 customers this run created" in m for m in found[x1.FILTERED_TOTAL])


def test_a_validating_proxy_that_turns_206_into_500() -> None:
    # Prism in front of a server that pages with 206: the list fails on its status (a true
    # finding about the pair), and no body of that 500 is judged as a list.
    executions, _ = run_x1(Faults(partial_status=500))
    page = next(e for e in executions if e.scenario.number == 18)
    outcomes = {a.name: a.outcome("strict") for a in page.assertions}
    assert outcomes.pop(x1.LIST_ANSWERED) == "failed"
    assert set(outcomes.values()) == {"skipped"}


def test_rules_swagger_runs_only_the_swagger_rules() -> None:
    executions, _ = run_x1(Faults(partial_status=200, sort=False, operators=False),
                           rules="swagger")
    sent = {e.scenario.number for e in executions}
    # Operators, sort, fields=none, the PATCH media types and 415 are not the swagger's.
    assert not sent & {22, 23, 24, 25, 26, 27, 28}
    assert {a.source for e in executions for a in e.assertions} == {"swagger"}
    assert x1_folder.failed(executions) == {}
    assert all(STEPS[n].selected(("swagger",)) for n in sent)


# -- whole runs: reports, hrefs, prerequisites, pre-flight ------------------------------------


@dataclass
class Recorder:
    """WSGI middleware that keeps every request's headers (another host, or a proxy)."""

    app: ctk_faults.WSGIApp
    seen: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, environ: ctk_faults.Environ,
                 start_response: ctk_faults.StartResponse) -> Iterable[bytes]:
        self.seen.append({"path": environ.get("PATH_INFO", ""), **{
            k: v for k, v in environ.items() if k.startswith("HTTP_")}})
        return self.app(environ, start_response)


@pytest.fixture
def foreign() -> Iterator[tuple[str, Recorder]]:
    """A second server, the "production host" the target's hrefs name."""
    recorder = Recorder(ctk_faults.StandIn())
    with ctk_faults.serve(recorder) as url:
        yield url, recorder


SECRET = "Bearer s3cr3t-for-the-target-only"


@pytest.mark.parametrize("follow", [False, True], ids=["default", "follow-foreign-hrefs"])
def test_hrefs_outside_the_target_never_get_the_credentials(
    foreign: tuple[str, Recorder], follow: bool, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other_root, other = foreign
    target = ctk_faults.StandIn(Faults(href_root=other_root))
    with ctk_faults.serve(target) as url:
        outcome = run_harness(url, tmp_path, capsys, "--profile", "strict", "--header",
                              f"Authorization: {SECRET}", "--header", "X-Api-Key: k3y",
                              *(["--follow-foreign-hrefs"] if follow else []))
    assert {auth for _, _, auth in target.requests} == {SECRET}
    warned = [w for w in outcome.warnings() if w[1] == "href points at the target"]
    assert len(warned) == 2 and all("href points outside the target" in w[2] for w in warned)
    if not follow:
        assert other.seen == []
        reasons = [s for s in outcome.json["run"]["skipped"]
                   if s["error"]["test"] == "GET on href returns the same customer"]
        assert len(reasons) == 2 and "--follow-foreign-hrefs" in reasons[0]["error"]["message"]
        return
    # Followed once per create of the kit (two), bare; X1 and NT1 never follow hrefs.
    assert len(other.seen) == 2
    for seen in other.seen:
        assert "HTTP_AUTHORIZATION" not in seen and "HTTP_X_API_KEY" not in seen
        assert "s3cr3t" not in repr(seen)


def test_a_failed_create_skips_what_needs_it_in_every_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = ctk_faults.StandIn(Faults(accept_creates=0))
    with ctk_faults.serve(target) as url:
        outcome = run_harness(url, tmp_path, capsys, "--profile", "strict", "--kit",
                              "published")
    assert outcome.code == 1
    executions = outcome.json["run"]["executions"]
    reasons = [e["skipped"]["reason"] for e in executions if "skipped" in e]
    # The kit's retrieve and PATCH of CU01, most of X1, and NT1 (no /hub) after its first step.
    assert any("IDCU01 holds no value" in r for r in reasons)
    assert any("it needs customer A (request 16)" in r for r in reasons)
    assert all("response" not in e for e in executions if "skipped" in e)
    html = outcome.html
    assert "skipped: not sent: IDCU01 holds no value" in html
    skipped_cases = [case for case in outcome.junit.iter("testcase")
                     if case.find("skipped") is not None]
    assert len(skipped_cases) >= len(reasons)
    assert "Skipped:" in outcome.output
    no_unresolved_variable(target)


def test_every_strict_finding_names_its_source_in_every_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = ctk_faults.StandIn(Faults(location=False, operators=False, partial_status=200))
    with ctk_faults.serve(target) as url:
        outcome = run_harness(url, tmp_path, capsys, "--profile", "strict")
    run = outcome.json["run"]
    strict = [a for e in run["executions"] for a in e["assertions"] if a["kind"] == "strict"]
    assert strict and all(a["source"] in RULE_SOURCES for a in strict)
    assert all(a["severity"] in ("error", "warning") for a in strict)
    by_name = {f["error"]["test"]: f for f in run["failures"] + run["warnings"]}
    assert by_name[x1.PARTIAL_PAGE]["rule"] == {"source": "tmf630", "severity": "error"}
    assert by_name["Location header equals href"]["rule"]["severity"] == "warning"
    assert by_name["Hub registration answers 201"]["rule"]["source"] == "swagger"
    assert "strict rule, source: tmf630" in outcome.html
    assert "strict rule, source: swagger" in outcome.html
    cases = {case.get("name"): case for case in outcome.junit.iter("testcase")}
    properties = {p.get("name"): p.get("value")
                  for p in cases[x1.OPERATOR_FILTER].iter("property")}
    assert properties == {"source": "tmf630", "severity": "error"}
    failure = cases[x1.OPERATOR_FILTER].find("failure")
    assert failure is not None and "rule source: tmf630" in (failure.get("message") or "")
    assert re.search(r"FAIL Operator filter \.gte compares numbers \[tmf630\]", outcome.output)


@pytest.mark.parametrize(("name", "warning"), [
    ("json-bom", "starts with a byte order mark"),
    ("fields-404", "may have no customer collection"),
])
def test_the_preflight_warns_and_the_kit_runs(name: str, warning: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with ctk_faults.serve(standins.STANDINS[name][1]()) as url:
        outcome: Outcome = run_harness(url, tmp_path, capsys, "--kit", "published")
    run = outcome.json["run"]
    assert outcome.code in (0, 1) and run["stats"]["requests"]["total"] == 10
    assert warning in run["preflight"][0] and "Pre-flight warning: " in outcome.output
    assert warning in outcome.html


def test_a_byte_order_mark_is_an_rfc_finding_in_the_strict_profile(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ctk_faults.serve(standins.STANDINS["json-bom"][1]()) as url:
        outcome = run_harness(url, tmp_path, capsys, "--kit", "published", "--profile",
                              "strict")
    boms = [f for f in outcome.json["run"]["failures"]
            if f["error"]["test"] == checks.NO_BOM]
    assert boms and {f["rule"]["source"] for f in boms} == {"rfc"}
