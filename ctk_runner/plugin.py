"""The pytest plugin: options, the shared ``ctk`` fixture, reports at session end.

Loaded through the ``pytest11`` entry point into *every* pytest run of an
environment where the harness is installed, so it stays inert unless asked:
without ``--target-url``, ``--ctk-sandbox`` or ``--ctk-config`` it only
declares its options and a ``ctk`` fixture that skips. Activated, it resolves
the settings (the same code the CLI uses), runs the preflight (its findings
are the report's warnings), and registers
a :class:`CtkPlugin` that owns the run: the scenario tests in
:mod:`ctk_runner.suite` share its state through the ``ctk`` fixture, and it
writes the reports when the session ends.

Options other than ``--target-url`` carry a ``ctk-`` prefix: plain
``--timeout`` or ``--profile`` would collide with pytest-timeout or
pytest-profiling and break every pytest run of the environment.

The CLI builds its own :class:`CtkPlugin` and hands it to ``pytest.main``;
this module then sees it in the config stash and does nothing more.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ctk_runner.cleanup import delete_created
from ctk_runner.config import (
    DEFAULT_REPORT_DIR,
    ConfigError,
    Settings,
    build_settings,
    preflight,
    prepare_report_dir,
)
from ctk_runner.kit.builds import BUILDS, DEFAULT_BUILD
from ctk_runner.model import PROFILES
from ctk_runner.report import write_reports
from ctk_runner.report.console import ConsoleReporter, summary
from ctk_runner.report.deployment import finish_reports
from ctk_runner.runner import CtkSession
from ctk_runner.v5 import APIS, api_root

PLUGIN_KEY = pytest.StashKey["CtkPlugin"]()

#: Attribute a suite test outside the kit carries: its request number (X1: 16 on).
REQUEST_ATTRIBUTE = "ctk_request"

#: The parameter of the kit's test: the build's request (its number orders the run).
REQUEST_PARAMETER = "kit_request"

#: Attribute of a suite test outside the kit: its folder code (e.g. ``NT1``).
FOLDER_ATTRIBUTE = "ctk_folder"

#: Folders that run after all others; ``--notifications`` runs only this one.
NOTIFICATIONS_FOLDER = "NT1"

#: Attribute of a suite test that runs in one profile only (X1: ``"strict"``); in any
#: other profile, or without a target, it is deselected, neither run nor counted.
PROFILE_ATTRIBUTE = "ctk_profile"

#: Attribute of a suite test of one TMF629 version (``"v5"``); without it, ``"v4"``.
#: A test of another version than ``--api`` is deselected, neither run nor counted.
API_ATTRIBUTE = "ctk_api"


class CtkPlugin:
    """The state and hooks of one active CTK run inside a pytest session."""

    def __init__(
        self,
        settings: Settings,
        *,
        sandbox: Any = None,
        quiet: bool = False,
        print_summary: bool = True,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.session = CtkSession(settings)
        self.sandbox = sandbox
        #: CLI mode: pytest's own per-test letters are replaced by our progress.
        self.quiet = quiet
        self.print_summary = print_summary
        self.reports: dict[str, Path] = {}
        self.config: pytest.Config | None = None
        # Progress lines are produced as the run emits events (inside a test,
        # where output is captured) and printed once the test has reported.
        # With ``echo`` (the CLI, which runs pytest without capture) they go out at once.
        self._pending: list[str] = []
        self.session.run.listeners.append(ConsoleReporter(echo or self._pending.append))

    @property
    def run(self) -> Any:
        return self.session.run

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        # tryfirst: the module-level pytest_configure must find us in the stash.
        config.stash[PLUGIN_KEY] = self
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        # The kit's requests share held values, so they must run in kit order even
        # when a plugin such as pytest-randomly shuffled the collection.
        slots = [i for i, item in enumerate(items) if _request_number(item) is not None]
        ordered = sorted((items[i] for i in slots), key=lambda it: _request_number(it) or 0)
        for slot, item in zip(slots, ordered, strict=True):
            items[slot] = item
        # NT1 runs last; with --notifications the suite's other folders do not run.
        notifications = [it for it in items if _folder(it) == NOTIFICATIONS_FOLDER]
        dropped = [it for it in items if _in_suite(it) and _folder(it) != NOTIFICATIONS_FOLDER
                   ] if self.settings.notifications else []
        if notifications or dropped:
            kept = [it for it in items if it not in notifications and it not in dropped]
            items[:] = kept + notifications
            if dropped:
                config.hook.pytest_deselected(items=dropped)

    def pytest_report_teststatus(self, report: pytest.TestReport) -> Any:
        if self.quiet and _is_ctk_nodeid(report.nodeid):
            return report.outcome, "", report.outcome.upper()
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        reporter = self._terminal()
        if reporter is not None and (self.quiet or reporter.verbosity > 0):
            for line in self._pending:
                reporter.write_line(line)
        self._pending.clear()

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Also after a failure or Ctrl-C: pytest calls this hook in its ``finally``.
        if self.settings.cleanup:
            self.run.cleanup = self._delete_created()
        if not self.run.executions:
            return  # nothing ran (deselected, or collection failed): no report to write
        self.run.finish()
        if self.settings.report_dir is not None:
            self.reports = write_reports(self.run, self.settings.report_dir)
            finish_reports(self.reports, self.run, self.settings.deployment)

    def _delete_created(self) -> Any:
        deployment = self.settings.deployment
        labels = {str(values.get("id")): subject for subject, values in self.session.held.items()}
        return delete_created(self.session.client,
                              deployment.runtime.tracker(self.settings.target_url), labels,
                              deployment.run_id if deployment.tag else None)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.print_summary and self.run.executions:
            terminalreporter.write_sep("-", self.run.collection)
            for line in summary(self.run, self.reports):
                terminalreporter.write_line(line)

    def _terminal(self) -> Any:
        if self.config is None:
            return None
        return self.config.pluginmanager.get_plugin("terminalreporter")

    def pytest_unconfigure(self) -> None:
        self.session.close()
        if self.sandbox is not None:
            self.sandbox.stop()


def _request_number(item: pytest.Item) -> int | None:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and REQUEST_PARAMETER in callspec.params:
        return int(callspec.params[REQUEST_PARAMETER].number)
    function = getattr(item, "function", None)
    return getattr(function, REQUEST_ATTRIBUTE, None)


def _folder(item: pytest.Item) -> str | None:
    return getattr(getattr(item, "function", None), FOLDER_ATTRIBUTE, None)


def _in_suite(item: pytest.Item) -> bool:
    from ctk_runner import suite

    return Path(str(item.path)).parent == Path(suite.__file__).parent


def _is_ctk_nodeid(nodeid: str) -> bool:
    return any(f"{module}.py::" in nodeid
               for module in ("test_ctk_customer", "test_notifications", "test_x1_tmf630",
                              "test_v5"))


# -- module-level hooks: always loaded, inert unless activated ----------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ctk-runner", "TMF629 conformance harness (CTK-Customer-4.0.0)")
    group.addoption("--target-url", metavar="URL", default=None,
                    help="run the CTK scenarios against this TMF629 API root")
    group.addoption("--ctk-sandbox", action="store_true", default=False,
                    help="start the bundled sandbox on a free port and run against it")
    group.addoption("--ctk-header", action="append", default=[], metavar="'NAME: VALUE'",
                    help="extra request header, repeatable (e.g. an Authorization token)")
    group.addoption("--ctk-timeout", type=float, default=None, metavar="SECONDS",
                    help="per-request timeout (default 30)")
    group.addoption("--ctk-insecure", action="store_true", default=False,
                    help="skip TLS certificate verification")
    group.addoption("--ctk-payload", action="append", default=[], metavar="FILE",
                    help="Customer_Create body for CU01 then CU02 (one file: used for both)")
    group.addoption("--ctk-config", metavar="FILE", default=None,
                    help="the TM Forum kit's config.json (url, headers, payloads)")
    group.addoption("--ctk-profile", choices=PROFILES, default="ctk",
                    help="ctk: the kit's verdict; strict: value checks fail, extra checks")
    group.addoption("--ctk-kit", choices=BUILDS, default=DEFAULT_BUILD,
                    help="the build of the kit: certified (the report's 15 requests) or "
                    "published (TM Forum's collection: 10 requests with a PATCH)")
    group.addoption("--ctk-report-dir", metavar="DIR", default=DEFAULT_REPORT_DIR,
                    help="where report.html, report.json and junit.xml go")
    group.addoption("--ctk-cleanup", action="store_true", default=False,
                    help="delete the customers the run created")
    group.addoption("--ctk-notifications", action="store_true", default=False,
                    help="run only the notifications folder NT1 (hub and events)")
    group.addoption("--ctk-callback-url", metavar="URL", default=None,
                    help="NT1: the URL the target must call to reach the runner's listener")
    group.addoption("--ctk-listen", metavar="HOST:PORT", default=None,
                    help="NT1: where the runner's listener binds (default 127.0.0.1, free port)")
    group.addoption("--ctk-event-timeout", type=float, default=None, metavar="SECONDS",
                    help="NT1: how long to wait for each event (default 10)")
    group.addoption("--ctk-quiet-period", type=float, default=None, metavar="SECONDS",
                    help="NT1: how long no event may arrive after unregistering (default 2)")
    group.addoption("--ctk-rules", metavar="SOURCES", default=None,
                    help="strict: only the rules of these sources (swagger,tmf630,rfc,harness)")
    group.addoption("--ctk-follow-foreign-hrefs", action="store_true", default=False,
                    help="strict: follow an href outside the target, without any credential")
    group.addoption("--ctk-api", choices=APIS, default="v4",
                    help="v4: the CTK-Customer-4.0.0 kit; v5: the TMF629 v5.0.1 suite derived "
                    "from the OAS")


def _active(config: pytest.Config) -> bool:
    option = config.option
    return bool(getattr(option, "target_url", None) or getattr(option, "ctk_sandbox", False)
                or getattr(option, "ctk_config", None))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not _active(config) or PLUGIN_KEY in config.stash:
        return  # inert (the CLI passes no target option: it brings its own CtkPlugin)
    # The requests share state in order: pytest-xdist must not spread them over
    # workers. Its DSession is created in its own (later) pytest_configure.
    if hasattr(config.option, "numprocesses"):
        config.option.numprocesses = 0
        config.option.dist = "no"
        config.option.tx = []
    option = config.option
    sandbox = None
    try:
        if option.ctk_sandbox and option.target_url:
            raise ConfigError("give either --target-url or --ctk-sandbox, not both")
        settings = build_settings(
            target_url=option.target_url or ("http://127.0.0.1/" if option.ctk_sandbox else None),
            headers=option.ctk_header,
            timeout=option.ctk_timeout,
            insecure=option.ctk_insecure,
            payload_files=option.ctk_payload,
            config_file=option.ctk_config,
            profile=option.ctk_profile,
            kit=option.ctk_kit,
            report_dir=option.ctk_report_dir,
            cleanup=option.ctk_cleanup,
            notifications=option.ctk_notifications,
            callback_url=option.ctk_callback_url,
            listen=option.ctk_listen,
            event_timeout=option.ctk_event_timeout,
            quiet_period=option.ctk_quiet_period,
            rules=option.ctk_rules,
            follow_foreign_hrefs=option.ctk_follow_foreign_hrefs,
            api=option.ctk_api,
        )
        if option.ctk_sandbox:
            from ctk_runner.embedded import SandboxProcess, SandboxStartError

            try:
                sandbox = SandboxProcess().start()
            except SandboxStartError as exc:
                raise ConfigError(f"the sandbox did not start: {exc}") from None
            settings = dataclasses.replace(settings, target_url=api_root(sandbox.url,
                                                                         settings.api))
        warnings = preflight(settings)
        prepare_report_dir(settings)
    except ConfigError as exc:
        if sandbox is not None:
            sandbox.stop()
        raise pytest.UsageError(str(exc)) from None
    plugin = CtkPlugin(settings, sandbox=sandbox)
    plugin.run.preflight = warnings
    config.pluginmanager.register(plugin, "ctk-runner-session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    plugin = config.stash.get(PLUGIN_KEY, None)
    profile = plugin.settings.profile if plugin is not None else None
    api = plugin.settings.api if plugin is not None else "v4"
    # Module-level, so an inert run deselects too: the kit's skip count stays 15.
    # NT1 is strict-only too, unless --notifications asks for it alone.
    alone = plugin is not None and plugin.settings.notifications
    other = [item for item in items
             if (getattr(getattr(item, "function", None), PROFILE_ATTRIBUTE, profile) != profile
                 and not (alone and _folder(item) == NOTIFICATIONS_FOLDER))
             or getattr(getattr(item, "function", None), API_ATTRIBUTE, "v4") != api]
    if other:
        config.hook.pytest_deselected(items=other)
        items[:] = [item for item in items if item not in other]


@pytest.fixture(scope="session")
def ctk(pytestconfig: pytest.Config) -> Iterator[CtkSession]:
    """The running CTK session: settings, held values, the run being recorded."""
    plugin = pytestconfig.stash.get(PLUGIN_KEY, None)
    if plugin is None:
        pytest.skip("the CTK scenarios need a target: pass --target-url URL or --ctk-sandbox")
    yield plugin.session
