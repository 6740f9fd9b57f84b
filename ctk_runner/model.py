"""What a run produces: assertions, executions, the run itself, and its events.

Checks return :class:`Assertion` records (failures are data, not exceptions);
the runner groups them into one :class:`Execution` per request and appends it
to the :class:`Run`. Reporters only ever read these objects, so the console,
HTML, Newman JSON and JUnit outputs always agree on every number.

An assertion's *outcome* depends on the verdict profile: in the ``ctk``
profile a failed value check (a check the Postman kit can never fail) is a
warning, in the ``strict`` profile it is a failure. A strict assertion names
where its rule comes from (``source``) and how much it weighs (``severity``:
a failed ``warning`` rule is reported, never fails the verdict); one whose
subject is absent is ``skipped``, never passed. A request whose prerequisite
is missing is not sent: its :class:`Execution` is ``skipped`` with the reason.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from ctk_runner.scenarios import COLLECTION_NAME, Scenario

Profile = Literal["ctk", "strict"]
PROFILES: tuple[Profile, ...] = ("ctk", "strict")

#: ``kit``: a test the Postman kit runs and can fail; ``value``: a kit test that
#: can never fail in Postman (value checks, "not expected"); ``strict``: a check
#: the kit lacks, evaluated only in the strict profile.
AssertionKind = Literal["kit", "value", "strict"]
Outcome = Literal["passed", "failed", "warning", "skipped"]

#: Where a rule comes from: ``kit`` (the official kit's own tests), ``swagger`` (the
#: TMF629 v4.0.0 swagger), ``tmf630`` (the REST design guidelines), ``rfc`` (an IETF
#: RFC) or ``harness`` (the harness's own judgement).
Source = Literal["kit", "swagger", "tmf630", "rfc", "harness"]
#: The sources a user can select with ``--rules`` (the kit's tests always run).
RULE_SOURCES: tuple[Source, ...] = ("swagger", "tmf630", "rfc", "harness")
#: ``error``: a failure fails the verdict; ``warning``: a failure is only reported.
Severity = Literal["error", "warning"]

#: The name a test script that stopped is listed under among the failures.
SCRIPT_ERROR = "Test script error"


@dataclass(frozen=True)
class Assertion:
    """One evaluated test, named as the kit names it."""

    name: str
    passed: bool
    message: str = ""
    kind: AssertionKind = "kit"
    source: Source = "kit"
    severity: Severity = "error"
    #: The subject of the check was absent: neither passed nor failed (``message`` says why).
    skipped: bool = False

    def outcome(self, profile: Profile) -> Outcome:
        if self.skipped:
            return "skipped"
        if self.passed:
            return "passed"
        if self.kind == "value" and profile == "ctk":
            return "warning"
        if self.severity == "warning":
            return "warning"
        return "failed"


@dataclass
class AssertionGroup:
    """The assertions of one request that share a name (one report row)."""

    name: str
    passed: int = 0
    failed: int = 0
    warnings: int = 0
    skipped: int = 0
    messages: list[str] = field(default_factory=list)
    kind: AssertionKind = "kit"
    source: Source = "kit"
    severity: Severity = "error"


@dataclass
class Execution:
    """One request sent to the target, its response and its assertions."""

    scenario: Scenario
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str | None
    status: int | None = None
    reason: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    elapsed_ms: float = 0.0
    size: int = 0
    #: Set when no response arrived (connection refused, timeout, TLS ...).
    error: str | None = None
    #: Why the kit's test script stopped (Newman counts a failed test script).
    script_error: str | None = None
    #: Why the request was not sent (a prerequisite is missing); nothing else is set.
    skipped: str | None = None
    assertions: list[Assertion] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def outcomes(self, profile: Profile) -> Iterator[tuple[Assertion, Outcome]]:
        for assertion in self.assertions:
            yield assertion, assertion.outcome(profile)

    def count(self, profile: Profile, outcome: Outcome) -> int:
        return sum(1 for _, o in self.outcomes(profile) if o == outcome)

    def groups(self, profile: Profile) -> list[AssertionGroup]:
        """Group assertions by name in order of first appearance, like Newman."""
        groups: dict[str, AssertionGroup] = {}
        for assertion, outcome in self.outcomes(profile):
            group = groups.setdefault(assertion.name, AssertionGroup(
                assertion.name, kind=assertion.kind, source=assertion.source,
                severity=assertion.severity))
            if outcome == "skipped":
                group.skipped += 1
            elif outcome == "failed":
                group.failed += 1
            else:
                # A warning still counts as passed, as in the kit's own tally.
                group.passed += 1
                if outcome == "warning":
                    group.warnings += 1
            if outcome != "passed" and assertion.message:
                group.messages.append(assertion.message)
        return list(groups.values())

    @property
    def error_response(self) -> bool:
        """Whether the response is an HTTP error, so its checks ran on an error body."""
        return self.status is not None and self.status >= 400

    def failed(self, profile: Profile) -> bool:
        return (self.error is not None or self.script_error is not None
                or self.count(profile, "failed") > 0)


@dataclass
class CleanupResult:
    """The outcome of deleting one customer the run created (``--cleanup``)."""

    subject: str
    url: str
    status: int | None
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class Problem:
    """A failure or a warning, as listed at the end of the reports."""

    execution: Execution
    name: str
    message: str
    kind: AssertionKind | None = None
    source: Source | None = None
    severity: Severity | None = None


@dataclass(frozen=True)
class Stat:
    total: int
    failed: int


@dataclass
class Run:
    """A whole run against one target."""

    target: str
    profile: Profile
    collection: str = COLLECTION_NAME
    #: The build of the kit that ran (``certified`` or ``published``).
    build: str = "certified"
    started: float = field(default_factory=time.time)
    finished: float | None = None
    executions: list[Execution] = field(default_factory=list)
    cleanup: list[CleanupResult] = field(default_factory=list)
    #: What the pre-flight request found (warnings: the run went on regardless).
    preflight: list[str] = field(default_factory=list)
    #: The rule sources the strict checks were limited to (``--rules``).
    rules: tuple[Source, ...] = RULE_SOURCES
    listeners: list[Callable[[Event], None]] = field(default_factory=list, repr=False)

    def emit(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)

    def add(self, execution: Execution) -> None:
        self.executions.append(execution)
        self.emit(ExecutionFinished(self, execution))

    def finish(self) -> None:
        if self.finished is None:
            self.finished = time.time()
            self.emit(RunFinished(self))

    # -- statistics, shared by every reporter -------------------------------

    @property
    def sent(self) -> list[Execution]:
        """The executions whose request went out (skipped ones did not)."""
        return [e for e in self.executions if e.skipped is None]

    def stats(self) -> dict[str, Stat]:
        count = len(self.sent)
        return {
            # Newman counts an iteration as failed only when it could not run.
            "iterations": Stat(1, 0),
            "requests": Stat(count, sum(1 for e in self.sent if e.error)),
            "prerequestScripts": Stat(0, 0),
            # Every request counts as one test script in the kit's report, even
            # the fields= requests whose script is empty.
            "testScripts": Stat(count, sum(1 for e in self.sent
                                           if e.script_error is not None)),
            "assertions": Stat(
                sum(len(e.assertions) for e in self.executions),
                sum(e.count(self.profile, "failed") for e in self.executions),
            ),
        }

    @property
    def failed(self) -> bool:
        return any(e.failed(self.profile) for e in self.executions)

    @property
    def duration_ms(self) -> float:
        end = self.finished if self.finished is not None else time.time()
        return (end - self.started) * 1000.0

    @property
    def data_received(self) -> int:
        return sum(e.size for e in self.sent)

    def response_times(self) -> list[float]:
        return [e.elapsed_ms for e in self.sent if e.error is None]

    def timing(self) -> dict[str, float]:
        times = self.response_times() or [0.0]
        return {
            "responseAverage": statistics.fmean(times),
            "responseMin": min(times),
            "responseMax": max(times),
            "responseSd": statistics.pstdev(times),
        }

    def problems(self, outcome: Outcome) -> list[Problem]:
        """Every failed (or warned) assertion, request error and script error."""
        found: list[Problem] = []
        for execution in self.executions:
            if outcome == "skipped" and execution.skipped:
                found.append(Problem(execution, "Request not sent", execution.skipped))
            if outcome == "failed" and execution.error:
                found.append(Problem(execution, "Request error", execution.error))
            if outcome == "failed" and execution.script_error:
                found.append(Problem(execution, SCRIPT_ERROR, execution.script_error))
            for assertion, actual in execution.outcomes(self.profile):
                if actual == outcome:
                    found.append(Problem(execution, assertion.name, assertion.message,
                                         assertion.kind, assertion.source, assertion.severity))
        return found

    def by_folder(self) -> dict[str, list[Execution]]:
        folders: dict[str, list[Execution]] = {}
        for execution in self.executions:
            folders.setdefault(execution.scenario.folder, []).append(execution)
        return folders


@dataclass(frozen=True)
class ExecutionFinished:
    run: Run
    execution: Execution


@dataclass(frozen=True)
class RunFinished:
    run: Run


Event = ExecutionFinished | RunFinished


def summarize(value: Any, limit: int = 160) -> str:
    """A short printable form of a JSON value for assertion messages."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failure_lines(executions: Iterable[Execution], profile: Profile) -> list[str]:
    """One line per request error or failed assertion group, for a pytest failure."""
    lines = []
    for execution in executions:
        where = f"{execution.method} {execution.url}"
        if execution.error:
            lines.append(f"{where}: {execution.error}")
        if execution.script_error:
            lines.append(f"{where}: {SCRIPT_ERROR}: {execution.script_error}")
        for group in execution.groups(profile):
            if group.failed:
                reason = f" ({group.messages[0]})" if group.messages else ""
                lines.append(f"{where}: {group.name}{reason}")
    return lines
