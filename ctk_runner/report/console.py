"""Console output: one progress block per request, then the summary table.

The summary table has Newman's rows (iterations, requests, prerequest scripts,
test scripts, assertions) so a CI log reads like the certification report's
first page. Only failures, warnings and skips are printed per request (a list
of 29 customers yields 263 assertions; printing each would bury the one that
failed); a strict one names its rule's source (``[tmf630]``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ctk_runner.kit.builds import of_run
from ctk_runner.model import AssertionGroup, Event, Execution, ExecutionFinished, Run
from ctk_runner.report.formatting import display_url, format_duration, format_size

_ROWS = (
    ("Iterations", "iterations"),
    ("Requests", "requests"),
    ("Prerequest Scripts", "prerequestScripts"),
    ("Test Scripts", "testScripts"),
    ("Assertions", "assertions"),
)


def _position(run: Run, execution: Execution) -> str:
    # Folders beyond the kit (X1, NT1 ...) number their requests from 16 and 101.
    scenario, build = execution.scenario, of_run(run.build)
    if scenario.folder in build.folders:
        return f"[{scenario.number:2d}/{len(build.scenarios)}]"
    return f"[{scenario.number}]"


def _tag(group: AssertionGroup) -> str:
    return f" [{group.source}]" if group.kind == "strict" else ""


def progress(run: Run, execution: Execution) -> list[str]:
    """The lines printed when one request has been evaluated (or skipped)."""
    scenario = execution.scenario
    if execution.skipped is not None:
        return [f"{_position(run, execution)} {scenario.folder} {scenario.name}"
                f" - {scenario.description}",
                f"        SKIPPED {execution.skipped}"]
    groups = execution.groups(run.profile)
    passed = sum(g.passed for g in groups)
    failed = sum(g.failed for g in groups)
    lines_extra = ([f"        FAIL Test script error: {execution.script_error}"]
                   if execution.script_error else [])
    if execution.error:
        answer = f"no response: {execution.error}"
    else:
        answer = (f"{execution.status} {execution.reason}".rstrip()
                  + f"  {format_duration(execution.elapsed_ms)}  {format_size(execution.size)}")
    lines = [
        f"{_position(run, execution)} {scenario.folder} {scenario.name}"
        f" - {scenario.description}",
        f"        {execution.method} {display_url(execution.url)}",
        f"        {answer}  |  {passed} passed, {failed} failed",
    ]
    for group in groups:
        if group.failed or group.warnings or group.skipped:
            tag = "FAIL" if group.failed else "WARN" if group.warnings else "SKIP"
            times = group.failed or group.warnings or group.skipped
            reason = group.messages[0] if group.messages else ""
            lines.append(f"        {tag} {group.name}{_tag(group)} ({times}x): {reason}")
    return lines + lines_extra


def summary_table(run: Run) -> list[str]:
    stats = run.stats()
    width = max(len(label) for label, _ in _ROWS)
    rule = f"+-{'-' * width}-+----------+----------+"
    lines = [rule, f"| {'':<{width}} | {'executed':>8} | {'failed':>8} |", rule]
    for label, key in _ROWS:
        lines.append(f"| {label:<{width}} | {stats[key].total:>8} | {stats[key].failed:>8} |")
    lines.append(rule)
    return lines


def summary(run: Run, reports: dict[str, Path] | None = None) -> list[str]:
    """The closing block: table, timings, failures, warnings, verdict, report paths."""
    failures = run.problems("failed")
    warnings = run.problems("warning")
    skipped = run.problems("skipped")
    lines = summary_table(run)
    lines += [
        f"Total run duration: {format_duration(run.duration_ms)}",
        f"Total data received: {format_size(run.data_received)} (approx)",
        f"Average response time: {format_duration(run.timing()['responseAverage'])}",
        f"Total failures: {len(failures)}    Total warnings: {len(warnings)}"
        + (f"    Skipped: {len(skipped)}" if skipped else ""),
    ]
    lines += [f"Pre-flight warning: {warning}" for warning in run.preflight]
    for cleanup in run.cleanup:
        state = "deleted" if cleanup.ok else f"NOT deleted: {cleanup.message}"
        lines.append(f"Clean-up {cleanup.subject}: DELETE {cleanup.url} {state}")
    if reports:
        lines.append("Reports: " + ", ".join(str(p) for p in reports.values()))
    verdict = "FAILED" if run.failed else "PASSED"
    stats = run.stats()
    lines.append(f"Verdict ({run.build} build, {run.profile} profile): {verdict} - "
                 f"{stats['requests'].total} requests, {stats['assertions'].total} assertions, "
                 f"{stats['assertions'].failed} failed, "
                 f"{stats['testScripts'].failed} failed test scripts")
    return lines


class ConsoleReporter:
    """A run listener: turns each finished execution into progress lines."""

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self.write = write or _stdout_line

    def __call__(self, event: Event) -> None:
        if isinstance(event, ExecutionFinished):
            for line in progress(event.run, event.execution):
                self.write(line)


def _stdout_line(line: str, stream: TextIO | None = None) -> None:
    target = stream or sys.stdout
    try:
        target.write(line + "\n")
    except UnicodeEncodeError:
        # A target's text may not fit a legacy console encoding; never crash on it.
        encoding = getattr(target, "encoding", None) or "ascii"
        target.write(line.encode(encoding, "replace").decode(encoding) + "\n")
    target.flush()
