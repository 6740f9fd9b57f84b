"""Proof by difference: Newman with TM Forum's published kit and ``ctk-runner --kit published``.

Both tools run against the sandbox and against stand-ins that each break one
thing (:mod:`ctk_kit_standins`), each tool against its own fresh server. For
every target they must report the same verdict, the same counts (requests,
assertions, failed assertions, failed test scripts) and, request by request,
the same assertion names with the same outcomes. Newman is the pinned version
from the npm registry (:mod:`newman_kit`); without node/npm these tests skip,
unless ``TMF629_REQUIRE_NEWMAN=1`` (CI) makes them fail.

The certified build has no published collection: on the same stand-ins its
counts are checked against the counting rules of SCENARIOS.md, recomputed
here from the responses ctk-runner recorded.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ctk_runner import cli
from ctk_runner.embedded import SandboxProcess

try:
    import ctk_faults
    import ctk_kit_standins as standins
    import newman_kit
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests import (
        ctk_faults,  # type: ignore[no-redef]
        newman_kit,  # type: ignore[no-redef]
    )
    from tests import ctk_kit_standins as standins  # type: ignore[no-redef]

TARGETS = ["sandbox", *standins.STANDINS]


@pytest.fixture(scope="module")
def newman() -> Path:
    executable = newman_kit.newman_executable()
    if executable is None:
        reason = (f"Newman {newman_kit.NEWMAN_VERSION} needs node and npm (and the npm "
                  "registry, once: about 66 MB into ~/.cache/tmf629-sandbox/newman)")
        if os.environ.get("TMF629_NO_NEWMAN") == "1":
            reason = "TMF629_NO_NEWMAN=1: Newman not downloaded, the comparison is skipped"
        if os.environ.get("TMF629_REQUIRE_NEWMAN") == "1":
            pytest.fail(f"TMF629_REQUIRE_NEWMAN=1 but {reason}")
        pytest.skip(reason)
    return executable


@contextlib.contextmanager
def target(name: str) -> Iterator[str]:
    """A fresh server for one tool's run; yields its API root."""
    if name == "sandbox":
        with SandboxProcess() as sandbox:
            yield sandbox.url
    else:
        with ctk_faults.serve(standins.STANDINS[name][1]()) as url:
            yield url


def run_ctk_runner(root: str, report_dir: Path, kit: str) -> newman_kit.Result:
    timeout = str(standins.TIMEOUT_SECONDS)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["--target-url", root, "--kit", kit, "--profile", "ctk",
                         "--timeout", timeout, "--report-dir", str(report_dir)])
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    return newman_kit.Result(code, report)


@pytest.fixture(scope="module")
def newman_runs(newman: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> dict[str, newman_kit.Result]:
    """Newman against every target, once per test session (shared by xdist workers)."""
    shared = tmp_path_factory.getbasetemp().parent / "newman-runs"
    shared.mkdir(exist_ok=True)
    done = shared / "codes.json"
    with newman_kit.locked(shared / "lock"):
        if not done.exists():
            with contextlib.ExitStack() as stack:
                roots = [stack.enter_context(target(name)) for name in TARGETS]
                results = newman_kit.run_newman(
                    newman, [(root, shared / f"{name}.json")
                             for name, root in zip(TARGETS, roots, strict=True)],
                    int(standins.TIMEOUT_SECONDS * 1000))
            done.write_text(json.dumps([r.code for r in results]), encoding="utf-8")
    codes = json.loads(done.read_text(encoding="utf-8"))
    return {name: newman_kit.Result(code, json.loads(
                (shared / f"{name}.json").read_text(encoding="utf-8")))
            for name, code in zip(TARGETS, codes, strict=True)}


@pytest.mark.parametrize("name", TARGETS)
def test_ctk_runner_agrees_with_newman(name: str, newman_runs: dict[str, newman_kit.Result],
                                       tmp_path: Path) -> None:
    expected = newman_runs[name]
    with target(name) as root:
        actual = run_ctk_runner(root, tmp_path, "published")
    assert newman_kit.verdict(actual) == newman_kit.verdict(expected)
    assert newman_kit.outcomes(actual) == newman_kit.outcomes(expected)


def test_the_stand_ins_cover_what_the_issue_lists(newman_runs: dict[str, newman_kit.Result]
                                                  ) -> None:
    # Each stand-in must make the kit see its fault, or it proves nothing.
    verdicts = {name: newman_kit.verdict(result) for name, result in newman_runs.items()}
    assert not verdicts["sandbox"].failed and not verdicts["conformant"].failed
    assert len(standins.STANDINS) - 1 >= 15
    seen = {name for name, v in verdicts.items() if v.failed}
    # Faults the published kit cannot see: they pass in Newman as in ctk-runner.
    assert set(verdicts) - seen == {"sandbox", "conformant", "filters-ignored",
                                    "fields-ignored", "patch-ignored", "retrieve-array",
                                    "json-bom"}
    # Where the harness's pre-flight once stopped with exit 2, the kit runs: 2 failures.
    assert verdicts["fields-404"].failed_assertions == 2
    assert verdicts["slow-retrieve"].failed_requests == 2
    assert verdicts["retrieve-not-json"].failed_test_scripts == 1


# -- the certified build: SCENARIOS.md's counting rules on the same stand-ins ------------

MANDATORY_BLOCK = 8
VALUE_CHECKS = 15


def expected_count(execution: dict[str, Any], created: dict[str, str]) -> int | None:
    """Assertions SCENARIOS.md predicts for one request; None: the script stopped."""
    name = execution["item"]["name"]
    if name.startswith("/customer?fields="):
        return 0
    if name == "/customer/404ID" or "response" not in execution:
        return 1
    try:
        body = json.loads(execution["response"]["body"])
    except ValueError:
        return None
    ids = [i.get("id") if isinstance(i, dict) else None
           for i in (body if isinstance(body, list) else [body])]

    def count(wanted: str | None) -> int:
        # The kit's `instance.id == IDCUnn`: a missing id equals a missing id.
        return sum(1 for i in ids if i == wanted or (i is None and wanted is None))

    if name == "/customer":  # a create (object) or the list (array)
        if execution["request"]["method"] == "POST":
            return 1 + MANDATORY_BLOCK
        if not isinstance(body, list):
            return None
        return 1 + MANDATORY_BLOCK * len(ids) + VALUE_CHECKS * (
            count(created.get("CU01")) + count(created.get("CU02")))
    subject = "CU01" if name.endswith("CU01}}") else "CU02"
    other = "CU02" if subject == "CU01" else "CU01"
    if name.startswith("/customer/"):  # a retrieve: the body is one instance, whatever it is
        ids = [body.get("id") if isinstance(body, dict) else None]
        return 1 + MANDATORY_BLOCK + VALUE_CHECKS * count(created.get(subject))
    if not isinstance(body, list):
        return None
    return (1 + MANDATORY_BLOCK * len(ids) + VALUE_CHECKS * count(created.get(subject))
            + (count(created.get(other)) > 0))


@pytest.mark.parametrize("name", [n for n in standins.STANDINS if n != "slow-retrieve"])
def test_certified_build_counts_follow_scenarios_md(name: str, tmp_path: Path) -> None:
    with target(name) as root:
        result = run_ctk_runner(root, tmp_path, "certified")
    run = result.report["run"]
    created: dict[str, str] = {}
    for subject, execution in zip(("CU01", "CU02"), run["executions"][:2], strict=True):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            created[subject] = json.loads(execution["response"]["body"])["id"]
    stopped = 0
    for execution in run["executions"]:
        expected = expected_count(execution, created)
        if expected is None:
            stopped += 1
            continue
        assert len(execution["assertions"]) == expected, execution["item"]["name"]
    assert run["stats"]["testScripts"]["failed"] == stopped
    assert run["stats"]["requests"]["total"] == 15
    assert run["stats"]["assertions"]["total"] == sum(
        len(e["assertions"]) for e in run["executions"])


# -- every strict finding on every target is true -----------------------------------------

HUB = "Hub registration answers 201"


def strict_findings(root: str, report_dir: Path) -> dict[str, str]:
    """``ctk-runner --kit published --profile strict``: its findings beyond the kit's tests."""
    timeout = str(standins.TIMEOUT_SECONDS)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cli.main(["--target-url", root, "--kit", "published", "--profile", "strict",
                  "--timeout", timeout, "--report-dir", str(report_dir)])
    run = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))["run"]
    return {f["error"]["test"]: f["rule"]["source"] for f in run["failures"] + run["warnings"]
            if f.get("rule", {}).get("source", "kit") != "kit"}


@pytest.mark.parametrize("name", TARGETS)
def test_every_strict_finding_is_true(name: str, tmp_path: Path) -> None:
    with target(name) as root:
        found = strict_findings(root, tmp_path)
    # The stand-ins have no /hub (a true finding: the swagger has one); the sandbox has.
    expected = standins.TRUE_FINDINGS[name] | ({HUB} if name != "sandbox" else set())
    assert set(found) == expected


# -- what the published kit cannot see, the strict profile names ---------------------------


@pytest.mark.parametrize(("name", "check"), [
    ("filters-ignored", "Filtered list holds only matching customers"),
    ("fields-ignored", "Response has only the requested fields"),
    ("patch-ignored", "PATCH response holds the change"),
    ("retrieve-array", "Response body is a JSON object"),
])
def test_strict_profile_fails_what_the_kit_passes(name: str, check: str, tmp_path: Path) -> None:
    with target(name) as root, contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["--target-url", root, "--kit", "published", "--profile", "strict",
                         "--report-dir", str(tmp_path)])
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    failed = {f["error"]["test"] for f in report["run"]["failures"]}
    assert code == 1 and check in failed
