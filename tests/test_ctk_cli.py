"""The ``ctk-runner`` command and the pytest plugin, as real processes.

These are the end-to-end paths a user takes: ``python -m ctk_runner --sandbox``
(the one-command dry run), ``--target-url`` at a running sandbox, ``pytest
--pyargs ctk_runner --target-url``, and the exit code 2 cases where the
configuration or the target is wrong. Configuration errors that need no
process of their own run through ``cli.main`` in process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ctk_runner import cli

try:
    import ctk_faults
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests import ctk_faults  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def plugin_args() -> list[str]:
    """``-p ctk_runner.plugin`` unless pytest already loads it from its entry point."""
    from importlib.metadata import entry_points

    registered = any(ep.name == "ctk_runner" for ep in entry_points(group="pytest11"))
    if registered and not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return []
    return ["-p", "ctk_runner.plugin"]


def run_process(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=_env(**env), capture_output=True, text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    pytest.importorskip("sandbox")
    from ctk_runner.embedded import SandboxProcess

    with SandboxProcess() as sandbox:
        yield sandbox.url


def _report(directory: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((directory / "report.json").read_text(encoding="utf-8"))
    return report


# -- the sandbox passes, in both profiles, through both entry points -------------------


def test_sandbox_flag_runs_a_full_dry_run_in_strict(tmp_path: Path) -> None:
    pytest.importorskip("sandbox")
    proc = run_process("-m", "ctk_runner", "--sandbox", "--profile", "strict",
                       "--report-dir", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("report.html", "report.json", "junit.xml"):
        assert (tmp_path / "out" / name).is_file()
    run = _report(tmp_path / "out")["run"]
    folders = [e["item"]["folder"] for e in run["executions"]]
    # The kit's 15 requests, then (strict) the notifications folder NT1, last.
    assert folders[:15] == ["N1"] * 5 + ["N2"] * 9 + ["E1"] and folders[-7:] == ["NT1"] * 7
    assert run["stats"]["assertions"]["failed"] == 0 and run["failures"] == []
    assert run["profile"] == "strict"
    assert "Started the sandbox at http://127.0.0.1:" in proc.stdout
    assert "| Assertions" in proc.stdout and "PASSED" in proc.stdout


def test_target_url_at_a_running_sandbox(sandbox_url: str, tmp_path: Path) -> None:
    # A project's PYTEST_ADDOPTS must not leak into the harness's own pytest run.
    proc = run_process("-m", "ctk_runner", "--target-url", sandbox_url.rstrip("/"),
                       "--cleanup", cwd=tmp_path, PYTEST_ADDOPTS="-n 2 -p no:nothing")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = _report(tmp_path / "ctk-report")
    run = report["run"]
    assert run["failures"] == [] and run["warnings"] == []
    assert [e["item"]["name"] for e in run["executions"]][:4] == [
        "/customer", "/customer", "/customer", "/customer/{{IDCU01}}"]
    assert all(c["ok"] for c in run["cleanup"])
    lines = proc.stdout.splitlines()
    assert lines[1].startswith("[ 1/15] N1 /customer - This operation creates a customer")
    assert "| Iterations" in proc.stdout
    assert lines[-1].startswith("Verdict (certified build, ctk profile): PASSED")


def test_a_project_conftest_in_the_working_directory_is_not_loaded(
    sandbox_url: str, tmp_path: Path
) -> None:
    # pytest loads <cwd>/test*/conftest.py; a run started in a project's root
    # (this repository's, say) must not import that project's test set-up.
    for folder in (tmp_path, tmp_path / "tests"):
        folder.mkdir(exist_ok=True)
        (folder / "conftest.py").write_text("raise RuntimeError('project conftest loaded')\n")
    proc = run_process("-m", "ctk_runner", "--target-url", sandbox_url.rstrip("/"),
                       "--kit", "published", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "project conftest loaded" not in proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("Verdict (published build, ctk profile): PASSED")


def test_pytest_plugin_runs_the_same_scenarios(sandbox_url: str, tmp_path: Path) -> None:
    args = ["-m", "pytest", *plugin_args(), "--pyargs", "ctk_runner",
            "--target-url", sandbox_url, "--ctk-report-dir", "plugin-report",
            "-p", "no:cacheprovider", "-p", "no:randomly"]
    if _has_xdist():
        args += ["-n", "2"]  # neutralised by the plugin: the requests share state
    proc = run_process(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "15 passed" in proc.stdout
    run = _report(tmp_path / "plugin-report")["run"]
    assert run["stats"]["requests"]["total"] == 15
    assert run["stats"]["assertions"]["failed"] == 0


def test_pytest_plugin_runs_the_published_build(sandbox_url: str, tmp_path: Path) -> None:
    proc = run_process("-m", "pytest", *plugin_args(), "--pyargs", "ctk_runner",
                       "--target-url", sandbox_url, "--ctk-kit", "published",
                       "--ctk-report-dir", "plugin-report", "-p", "no:cacheprovider",
                       "-p", "no:randomly", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "10 passed" in proc.stdout
    run = _report(tmp_path / "plugin-report")["run"]
    assert run["build"] == "published"
    assert [e["request"]["method"] for e in run["executions"]][-2:] == ["PATCH", "GET"]


def test_kit_all_gives_one_verdict_and_report_per_build(sandbox_url: str, tmp_path: Path) -> None:
    proc = run_process("-m", "ctk_runner", "--target-url", sandbox_url, "--kit", "all",
                       "--report-dir", "reports", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdicts = [line for line in proc.stdout.splitlines() if line.startswith("Verdict")]
    assert [v.split(":")[0] for v in verdicts] == [
        "Verdict (certified build, ctk profile)", "Verdict (published build, ctk profile)"]
    for build, requests in (("certified", 15), ("published", 10)):
        run = _report(tmp_path / "reports" / build)["run"]
        assert run["build"] == build and run["stats"]["requests"]["total"] == requests


def test_plugin_is_inert_without_a_target(tmp_path: Path) -> None:
    (tmp_path / "test_other.py").write_text("def test_other():\n    assert True\n")
    proc = run_process("-m", "pytest", *plugin_args(), "-p", "no:cacheprovider",
                       "test_other.py", "--pyargs", "ctk_runner", "-rs", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 15 skipped" in proc.stdout
    assert "need a target" in proc.stdout
    assert not (tmp_path / "ctk-report").exists()


def _has_xdist() -> bool:
    try:
        import xdist  # noqa: F401
    except ImportError:
        return False
    return True


# -- exit code 2: no verdict possible ------------------------------------------------------


def test_connection_refused_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{ctk_faults.free_port()}/tmf-api/customerManagement/v4/"
    proc = run_process("-m", "ctk_runner", "--target-url", url, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "connection refused" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "ctk-report").exists()


# -- a target that answers HTTP gets a verdict: the pre-flight only warns ----------------


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        (ctk_faults.Faults(html_everywhere=True), "may not be a TMF629 JSON API"),
        (ctk_faults.Faults(no_collection=True), "may have no customer collection"),
    ],
    ids=["html-page", "no-collection"],
)
def test_a_wrong_target_is_run_and_fails_with_the_preflight_warning(
    faults: ctk_faults.Faults, expected: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with ctk_faults.serve(ctk_faults.StandIn(faults)) as url:
        code = cli.main(["--target-url", url, "--report-dir", str(tmp_path)])
    out = capsys.readouterr().out
    # Newman runs the kit against such a target and fails it: so does the harness.
    assert code == 1
    assert f"Pre-flight warning: The target {url} {expected}" in out
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["run"]
    assert report["stats"]["requests"]["total"] == 15 and expected in report["preflight"][0]
    assert expected in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_collection_url_instead_of_root_gets_a_hint(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with ctk_faults.serve(ctk_faults.StandIn()) as url:
        code = cli.main(["--target-url", url + "customer", "--report-dir", str(tmp_path)])
    assert code == 1
    assert "without the final 'customer'" in capsys.readouterr().out


def _write(path: Path, data: object) -> str:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("make_args", "expected"),
    [
        (lambda d: ["--payload", _write(d / "p.json", {"engagedParty": {
            "id": "1", "@referredType": "Organization"}})],
         "is not a valid Customer_Create: 'name' is a required property"),
        (lambda d: ["--payload", _write(d / "p.json", "{not json")], "is not valid JSON"),
        (lambda d: ["--payload", _write(d / "p.json", [1])], "does not hold a JSON object"),
        (lambda d: ["--config", _write(d / "c.json", "{oops")], "is not valid JSON"),
        (lambda d: ["--config", _write(d / "c.json", {"payloads": {"Customer": {"POST": {
            "payload": {"name": 5}}}}})], "is not a valid Customer_Create"),
        (lambda d: ["--config", _write(d / "c.json", {"headers": 3})],
         "neither object nor list"),
        (lambda d: ["--header", "no colon"], "is not of the form 'Name: value'"),
        (lambda d: ["--timeout", "-1"], "must be a positive number"),
    ],
    ids=["payload-no-name", "payload-not-json", "payload-not-object", "config-not-json",
         "config-bad-payload", "config-bad-headers", "bad-header", "bad-timeout"],
)
def test_configuration_errors_exit_2(make_args: Callable[[Path], list[str]], expected: str,
                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Nothing listens at this URL: validation must refuse before sending anything.
    url = f"http://127.0.0.1:{ctk_faults.free_port()}/"
    code = cli.main(["--target-url", url, "--report-dir", str(tmp_path / "r"),
                     *make_args(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err, err
    assert "connection refused" not in err


def test_kit_config_json_is_understood(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    app = ctk_faults.StandIn()
    with ctk_faults.serve(app) as url:
        config = _write(tmp_path / "config.json", {
            "url": url,
            "headers": [{"key": "Authorization", "value": "Bearer kit"},
                        {"key": "X-Off", "value": "1", "disabled": True}],
            "payloads": {"Customer": {"POST": {"payload": {
                "name": "Kit Club", "engagedParty": {"id": "7", "@referredType": "Organization"},
            }}}},
        })
        # --keep-data: clean-up is on by default and would delete them.
        code = cli.main(["--config", config, "--report-dir", str(tmp_path / "r"),
                         "--keep-data"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert {auth for _, _, auth in app.requests} == {"Bearer kit"}
    # The kit posts its one configured payload twice.
    created = [c for c in app.customers.values() if c["name"] == "Kit Club"]
    assert len(created) == 2
