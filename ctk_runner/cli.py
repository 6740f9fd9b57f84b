"""``ctk-runner``: run CTK-Customer-4.0.0 against a TMF629 API and write the reports.

A thin wrapper around pytest: it validates the configuration, optionally
starts the sandbox, sends one preflight request (whose findings become
warnings in the report), then runs the scenario suite
(:mod:`ctk_runner.suite`) with a :class:`~ctk_runner.plugin.CtkPlugin` that
carries the settings, and prints the summary.

pytest runs hermetically: third-party plugin autoloading is off and
``PYTEST_ADDOPTS`` / the caller's ini files are ignored, so a project's
``-n auto`` or pytest-randomly cannot split or shuffle the ordered requests.

Exit codes: 0 every assertion passed; 1 at least one failed; 2 configuration
error, no HTTP answer from the target, interrupted, or no verdict could be
reached. With
``--fail-on new`` and a ``--baseline``, 1 means a new failure, 0 none.

The options for real deployments (auth, TLS, pacing, clean-up, baselines,
quiet and JSON output) are read by :mod:`ctk_runner.deployment`; the console
of a run is :mod:`ctk_runner.progress`, which masks every secret.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ctk_runner import __version__
from ctk_runner.config import (
    DEFAULT_REPORT_DIR,
    DEFAULT_TIMEOUT,
    ConfigError,
    Settings,
    build_settings,
    preflight,
    prepare_report_dir,
)
from ctk_runner.deployment import add_deployment_options, deployment_options
from ctk_runner.kit.builds import BUILDS, DEFAULT_BUILD
from ctk_runner.model import PROFILES
from ctk_runner.progress import deployment_lines, masked_console
from ctk_runner.scenarios import COLLECTION_NAME
from ctk_runner.v5 import APIS, api_root
from ctk_runner.v5 import BUILD as V5_BUILD
from ctk_runner.v5 import COLLECTION_NAME as V5_COLLECTION

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_ERROR = 2

_SANDBOX_PLACEHOLDER = "http://127.0.0.1/"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctk-runner",
        description=f"Run the TM Forum {COLLECTION_NAME} conformance scenarios against a "
        "TMF629 Customer Management API and write certification-style reports.",
        epilog="Exit codes: 0 all assertions passed, 1 at least one failed (with --fail-on "
        "new: at least one failure new since --baseline), 2 configuration error, no HTTP "
        "answer from the target, or run interrupted.",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--target-url", metavar="URL",
                        help="the API root, like the kit's {{Customer}}, e.g. "
                        "http://host:8080/tmf-api/customerManagement/v4/")
    target.add_argument("--sandbox", action="store_true",
                        help="start the bundled sandbox on a free port with a fresh store, "
                        "run against it, stop it")
    parser.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                        help="extra header on every request, repeatable "
                        "(e.g. 'Authorization: Bearer ...')")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help=f"per-request timeout in seconds (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--insecure", action="store_true",
                        help="do not verify TLS certificates")
    parser.add_argument("--payload", action="append", default=[], metavar="FILE",
                        help="create body for CU01, then CU02 (repeatable; a single file is "
                        "used for both, as the kit does); validated against Customer_Create")
    parser.add_argument("--config", metavar="FILE",
                        help="the TM Forum kit's config.json (url, headers, "
                        "payloads.Customer.POST.payload); command-line options win")
    parser.add_argument("--profile", choices=PROFILES, default="ctk",
                        help="ctk (default): the official kit's verdict, value mismatches are "
                        "warnings; strict: they fail, plus checks the kit lacks")
    parser.add_argument("--kit", choices=(*BUILDS, "all"), default=DEFAULT_BUILD,
                        help="the build of the kit: certified (default; the certification "
                        "report's 15 requests), published (TM Forum's published collection: "
                        "10 requests with a PATCH), all (both, one verdict and one report "
                        "directory each)")
    parser.add_argument("--api", choices=APIS, default="v4",
                        help="the TMF629 version: v4 (default; the CTK-Customer-4.0.0 kit) or "
                        "v5 (the v5.0.1 suite derived from the OAS, not TM Forum's v5 kit; "
                        "--kit does not apply)")
    parser.add_argument("--report-dir", default=DEFAULT_REPORT_DIR, metavar="DIR",
                        help="directory for report.html, report.json, junit.xml "
                        f"(default ./{DEFAULT_REPORT_DIR})")
    parser.add_argument("--cleanup", action="store_const", const=True, default=None,
                        help="delete the customers the run created: the default already; "
                        "--keep-data keeps them")
    parser.add_argument("--rules", metavar="SOURCES",
                        help="strict profile: run only the rules of these sources, "
                        "comma-separated: swagger (the v4 swagger states it), tmf630, rfc, "
                        "harness (default: all); the kit's own tests always run")
    parser.add_argument("--follow-foreign-hrefs", action="store_true",
                        help="strict profile: follow an href outside the target's origin, "
                        "without any credential (default: report it, do not follow)")
    events = parser.add_argument_group(
        "notifications (folder NT1: runs in the strict profile, or alone with --notifications)")
    events.add_argument("--notifications", action="store_true",
                        help="run only the notifications folder: register a listener with the "
                        "target's /hub and check the four Customer events")
    events.add_argument("--callback-url", metavar="URL",
                        help="the URL the target must call to reach the runner's listener, when "
                        "it cannot reach this machine's 127.0.0.1 (e.g. a tunnel's URL)")
    events.add_argument("--listen", metavar="HOST:PORT",
                        help="where the runner's listener binds (default: 127.0.0.1 on a free "
                        "port; 0.0.0.0 on the --callback-url's port when it names one)")
    events.add_argument("--event-timeout", type=float, metavar="SECONDS",
                        help="how long to wait for each expected event (default 10)")
    events.add_argument("--quiet-period", type=float, metavar="SECONDS",
                        help="how long to watch for events after unregistering (default 2)")
    add_deployment_options(parser)
    parser.add_argument("--version", action="version", version=f"ctk-runner {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else EXIT_ERROR
    if not args.target_url and not args.sandbox and not args.config:
        parser.print_usage(sys.stderr)
        _error("give --target-url URL, --sandbox, or a --config with a 'url'")
        return EXIT_ERROR
    try:
        settings = build_settings(
            target_url=_SANDBOX_PLACEHOLDER if args.sandbox else args.target_url,
            headers=args.header,
            timeout=args.timeout,
            insecure=args.insecure,
            payload_files=args.payload,
            config_file=args.config,
            profile=args.profile,
            kit=DEFAULT_BUILD if args.kit == "all" else args.kit,
            report_dir=args.report_dir,
            cleanup=args.cleanup,
            notifications=args.notifications,
            callback_url=args.callback_url,
            listen=args.listen,
            event_timeout=args.event_timeout,
            quiet_period=args.quiet_period,
            deployment=deployment_options(args),
            rules=args.rules,
            follow_foreign_hrefs=args.follow_foreign_hrefs,
            api=args.api,
        )
        if args.api == "v5" and args.kit == "all":
            raise ConfigError("--kit all runs the v4 kit's builds; --api v5 has one suite")
        baseline = _read_baseline(settings)
        build = V5_BUILD if args.api == "v5" else settings.kit
        if args.kit != "all" and baseline is not None and _build_of(baseline) != build:
            raise ConfigError(f"the baseline is a report of the {_build_of(baseline)} build; "
                              f"this run is of the {build} build")
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_ERROR
    with masked_console(settings.deployment.runtime.secrets):
        try:
            return _main(args, settings, baseline)
        except KeyboardInterrupt:
            _error("interrupted (Ctrl-C)")
            return EXIT_ERROR


def _main(args: argparse.Namespace, settings: Settings, baseline: dict[str, Any] | None) -> int:
    with contextlib.ExitStack() as stack:
        if args.sandbox:
            try:
                settings = stack.enter_context(_sandbox(settings))
            except ConfigError as exc:
                _error(str(exc))
                return EXIT_ERROR
        try:
            warnings = preflight(settings)
            prepare_report_dir(settings)
        except ConfigError as exc:
            _error(str(exc))
            if settings.deployment.json_summary:
                from ctk_runner.progress import write_json_summary

                # CI reads a verdict even when there is none to give.
                write_json_summary(settings.deployment.json_summary, {
                    "verdict": "error", "exitCode": EXIT_ERROR, "message": str(exc)})
            return EXIT_ERROR
        if args.kit != "all":
            return _run(settings, baseline, warnings)
        # A baseline is one build's report: it is compared with the run of that build only.
        compared = _build_of(baseline)
        codes = [_run(_for_build(settings, build), baseline if build == compared else None,
                      warnings)
                 for build in BUILDS]
        return max(codes)
    raise AssertionError("unreachable")  # pragma: no cover  (ExitStack swallows nothing)


def _build_of(report: dict[str, Any] | None) -> str | None:
    """The kit build a report.json was made with (reports before builds: the default)."""
    if report is None:
        return None
    run = report.get("run")
    build = run.get("build") if isinstance(run, dict) else None
    return build if isinstance(build, str) else DEFAULT_BUILD


def _for_build(settings: Settings, build: str) -> Settings:
    """One build of ``--kit all``: its own report directory under the one given."""
    report_dir = settings.report_dir / build if settings.report_dir is not None else None
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(settings, kit=build, report_dir=report_dir)


@contextlib.contextmanager
def _sandbox(settings: Settings) -> Iterator[Settings]:
    from ctk_runner.embedded import SandboxProcess, SandboxStartError

    sandbox = SandboxProcess()
    try:
        sandbox.start()
    except (SandboxStartError, OSError) as exc:
        raise ConfigError(f"the sandbox did not start ({_gist(exc)})") from None
    try:
        print(f"Started the sandbox at {sandbox.url}", flush=True)
        yield dataclasses.replace(settings, target_url=api_root(sandbox.url, settings.api))
    finally:
        sandbox.stop()


def _run(settings: Settings, baseline: dict[str, Any] | None = None,
         warnings: Sequence[str] = ()) -> int:
    import pytest

    from ctk_runner.plugin import CtkPlugin
    from ctk_runner.progress import Progress, expected_requests
    from ctk_runner.report.console import summary

    deployment = settings.deployment
    to_stdout = deployment.json_summary == "-"
    console = Progress(quiet=deployment.quiet or to_stdout, total=expected_requests(settings),
                       stream=sys.stderr if to_stdout else None)
    plugin = CtkPlugin(settings, quiet=True, print_summary=False, echo=console.line)
    plugin.run.listeners.append(console)
    plugin.run.preflight = list(warnings)
    # Shown before the wait, not after the verdict: a 503 fault costs seconds per request.
    deployment.runtime.pacing.on_note = lambda note: console.line(
        f"Retry: {note.describe()}" + ("" if note.gave_up else " (waiting)"))
    heading = (f"{V5_COLLECTION}," if settings.api == "v5"
               else f"{COLLECTION_NAME}, {settings.kit} build,")
    console.line(f"{heading} against {settings.target_url} ({settings.profile} profile)")
    suite_dir = str(resources.files("ctk_runner.suite"))
    args = [
        "-qq", "--tb=no", "-rN", "--assert=plain", "-o", "console_output_style=classic",
        "-p", "no:cacheprovider", "-p", "no:warnings",
        # No capture: request lines are printed as each request is evaluated.
        "--capture=no",
        # Block the entry-point copy of the plugin, load the module explicitly.
        "-p", "no:ctk_runner", "-p", "ctk_runner.plugin",
        "-c", os.devnull, "--rootdir", suite_dir,
        # Nobody's conftest.py: pytest would load <cwd>/test*/conftest.py, so a run
        # started inside a project (this one included) would import its test set-up.
        "--noconftest",
        "--pyargs", "ctk_runner.suite",
    ]
    if console.quiet:
        # Not even pytest's own blank line; its terminal's options go with it.
        args = ["-p", "no:terminal", "--assert=plain", *args[6:]]
    with _hermetic_environment():
        code = pytest.main(args, plugins=[plugin])
    run = plugin.run
    lines = summary(run, plugin.reports) if run.executions else []
    console.summary(lines[:-1])
    verdict = lines[-1:]
    if int(code) == int(pytest.ExitCode.INTERRUPTED):
        outcome, message = EXIT_ERROR, "interrupted (Ctrl-C): no verdict"
    elif int(code) not in (0, 1) or len(run.executions) == 0:
        outcome = EXIT_ERROR
        message = f"the scenario suite did not complete (pytest exit code {int(code)})"
    else:
        outcome, message = (EXIT_FAILED if run.failed else EXIT_PASSED), ""
    diff = None
    if baseline is not None and outcome != EXIT_ERROR and settings.report_dir is not None:
        diff, diff_lines = _compare(settings, baseline, plugin.reports)
        console.summary(diff_lines)
        if deployment.fail_on == "new":
            outcome = EXIT_FAILED if diff.new_failures() else EXIT_PASSED
            verdict.append(f"Gate (--fail-on new): {'FAILED' if outcome else 'PASSED'} - "
                           f"{len(diff.new_failures())} new failures since the baseline")
    for line in deployment_lines(settings):
        console.line(line)
    if message:
        console.close()
        _error(message)
    for line in verdict:
        console.verdict(line)
    if deployment.json_summary:
        from ctk_runner.progress import json_summary, write_json_summary

        write_json_summary(deployment.json_summary, json_summary(
            settings, run, outcome, plugin.reports, diff))
    return outcome


def _read_baseline(settings: Settings) -> dict[str, Any] | None:
    from ctk_runner.baseline import read_report

    if settings.deployment.baseline is None:
        return None
    try:
        return read_report(settings.deployment.baseline)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _compare(settings: Settings, baseline: dict[str, Any],
             reports: dict[str, Path]) -> tuple[Any, list[str]]:
    from ctk_runner.baseline import compare, console_lines, read_report
    from ctk_runner.report import diff as diff_report

    assert settings.report_dir is not None and settings.deployment.baseline is not None
    current = read_report(reports["json"])
    diff = compare(baseline, current, settings.deployment.latency_tolerance,
                   str(settings.deployment.baseline))
    written = diff_report.write(diff, settings.report_dir)
    reports.update(written)
    return diff, [*console_lines(diff), "Diff: " + ", ".join(str(p) for p in written.values())]


@contextlib.contextmanager
def _hermetic_environment() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")}
    os.environ.pop("PYTEST_ADDOPTS", None)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _gist(exc: BaseException) -> str:
    """First and last line of a multi-line error (the sandbox's own output)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return lines[0].rstrip(":") + (f": {lines[-1]}" if len(lines) > 1 else "")


def _error(message: str) -> None:
    text = message.rstrip()
    if not text.endswith("."):
        text += "."
    print(f"ctk-runner: {text[0].upper()}{text[1:]}", file=sys.stderr, flush=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
