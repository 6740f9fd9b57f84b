"""``ctk-runner``: run CTK-Customer-4.0.0 against a TMF629 API and write the reports.

A thin wrapper around pytest: it validates the configuration, optionally
starts the sandbox, sends one preflight request, then runs the scenario suite
(:mod:`ctk_runner.suite`) with a :class:`~ctk_runner.plugin.CtkPlugin` that
carries the settings, and prints the summary.

pytest runs hermetically: third-party plugin autoloading is off and
``PYTEST_ADDOPTS`` / the caller's ini files are ignored, so a project's
``-n auto`` or pytest-randomly cannot split or shuffle the ordered requests.

Exit codes: 0 every assertion passed; 1 at least one failed; 2 configuration
error, target unreachable, or no verdict could be reached.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Iterator, Sequence
from importlib import resources

from ctk_runner import __version__
from ctk_runner.config import (
    DEFAULT_REPORT_DIR,
    DEFAULT_TIMEOUT,
    ConfigError,
    Settings,
    build_settings,
    normalise_root,
    preflight,
    prepare_report_dir,
)
from ctk_runner.kit.builds import BUILDS, DEFAULT_BUILD
from ctk_runner.model import PROFILES
from ctk_runner.scenarios import COLLECTION_NAME

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_ERROR = 2

_SANDBOX_PLACEHOLDER = "http://127.0.0.1/"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctk-runner",
        description=f"Run the TM Forum {COLLECTION_NAME} conformance scenarios against a "
        "TMF629 Customer Management API and write certification-style reports.",
        epilog="Exit codes: 0 all assertions passed, 1 at least one failed, "
        "2 configuration error or target unreachable.",
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
    parser.add_argument("--report-dir", default=DEFAULT_REPORT_DIR, metavar="DIR",
                        help="directory for report.html, report.json, junit.xml "
                        f"(default ./{DEFAULT_REPORT_DIR})")
    parser.add_argument("--cleanup", action="store_true",
                        help="delete the customers the run created")
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
        )
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_ERROR

    with contextlib.ExitStack() as stack:
        if args.sandbox:
            try:
                settings = stack.enter_context(_sandbox(settings))
            except ConfigError as exc:
                _error(str(exc))
                return EXIT_ERROR
        try:
            preflight(settings)
            prepare_report_dir(settings)
        except ConfigError as exc:
            _error(str(exc))
            return EXIT_ERROR
        if args.kit != "all":
            return _run(settings)
        codes = [_run(_for_build(settings, build)) for build in BUILDS]
        return max(codes)
    raise AssertionError("unreachable")  # pragma: no cover  (ExitStack swallows nothing)


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
        yield dataclasses.replace(settings, target_url=normalise_root(sandbox.url))
    finally:
        sandbox.stop()


def _run(settings: Settings) -> int:
    import pytest

    from ctk_runner.plugin import CtkPlugin
    from ctk_runner.report.console import summary

    plugin = CtkPlugin(settings, quiet=True, print_summary=False)
    print(f"{COLLECTION_NAME}, {settings.kit} build, against {settings.target_url} "
          f"({settings.profile} profile)", flush=True)
    suite_dir = str(resources.files("ctk_runner.suite"))
    args = [
        "-qq", "--tb=no", "-rN", "--assert=plain", "-o", "console_output_style=classic",
        "-p", "no:cacheprovider", "-p", "no:warnings",
        # Block the entry-point copy of the plugin, load the module explicitly.
        "-p", "no:ctk_runner", "-p", "ctk_runner.plugin",
        "-c", os.devnull, "--rootdir", suite_dir,
        "--pyargs", "ctk_runner.suite",
    ]
    with _hermetic_environment():
        code = pytest.main(args, plugins=[plugin])
    run = plugin.run
    if run.executions:
        for line in summary(run, plugin.reports):
            print(line)
    if int(code) not in (0, 1) or len(run.executions) == 0:
        _error(f"the scenario suite did not complete (pytest exit code {int(code)})")
        return EXIT_ERROR
    return EXIT_FAILED if run.failed else EXIT_PASSED


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
