"""Regression diffs: what changed between a previous run's report.json and this one.

Both sides are read from ``report.json`` (the Newman-shaped file every run
writes), so any two runs can be compared, also old ones. A request is keyed
by folder, method and name (``N1 POST /customer``, a second one with the
same name gets ``#2``); an assertion by its request and its name. Names that
hold per-run values (a created customer's ``id`` and ``href``, the run id, the
target root) are normalised first, or every run would "change" them.

The diff lists assertions newly failing, newly passing, added and removed;
per request, status codes and response shapes (top-level keys and JSON types)
that changed, and p50 latencies that moved beyond the tolerance. With
``--fail-on new`` only :meth:`Diff.new_failures` decide the exit code.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctk_runner.deployment import Tolerance

#: A placeholder per normalised value: ``{{created-1.id}}``, ``{{run-id}}``, ``{{Customer}}``.
_REQUEST_ERROR = "Request error"


@dataclass
class RequestView:
    """One request of a report, reduced to what the diff compares."""

    key: str
    status: int | None = None
    shape: frozenset[str] = frozenset()
    latencies: list[float] = field(default_factory=list)
    #: assertion name -> (failed?, first message)
    assertions: dict[str, tuple[bool, str]] = field(default_factory=dict)

    @property
    def p50(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None


def read_report(path: Path) -> dict[str, Any]:
    """A report.json; ``ValueError`` with one sentence when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"the baseline {path} cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ValueError(f"the baseline {path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("run"), dict) or not isinstance(
            data["run"].get("executions"), list):
        raise ValueError(f"the baseline {path} is not a ctk-runner or Newman report.json")
    return data


def shape_of(body: Any) -> frozenset[str]:
    """Top-level ``key:type`` pairs of a JSON body (of the items, for an array)."""
    try:
        value = json.loads(body) if isinstance(body, str) and body.strip() else None
    except ValueError:
        return frozenset({"<not JSON>"})
    if isinstance(value, list):
        return frozenset({"<array>"} | {f"[].{k}:{_type(v)}" for item in value
                                         if isinstance(item, dict) for k, v in item.items()})
    if isinstance(value, dict):
        return frozenset(f"{k}:{_type(v)}" for k, v in value.items())
    return frozenset({f"<{_type(value)}>"})


def _type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean",
            type(None): "null"}.get(type(value), "number")


def _volatile(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(value, placeholder) pairs to normalise in names, longest value first."""
    run = report["run"]
    pairs: list[tuple[str, str]] = []
    created = 0
    for execution in run["executions"]:
        response = execution.get("response") or {}
        if execution.get("request", {}).get("method") != "POST" or not str(
                response.get("code", "")).startswith("2"):
            continue
        try:
            body = json.loads(response.get("body") or "null")
        except ValueError:
            continue
        if isinstance(body, dict):
            created += 1
            for attribute in ("id", "href"):
                if isinstance(body.get(attribute), str | int) and str(body[attribute]):
                    pairs.append((str(body[attribute]), f"{{{{created-{created}.{attribute}}}}}"))
    run_id = (run.get("deployment") or {}).get("runId")
    if run_id:
        pairs.append((str(run_id), "{{run-id}}"))
    for variable in (report.get("environment") or {}).get("values", []):
        if variable.get("key") == "Customer" and variable.get("value"):
            pairs.append((str(variable["value"]), "{{Customer}}"))
    return sorted(pairs, key=lambda p: len(p[0]), reverse=True)


def views(report: Mapping[str, Any]) -> dict[str, RequestView]:
    """The report's requests by key, in order."""
    volatile = _volatile(report)

    def normalise(text: str) -> str:
        for value, placeholder in volatile:
            text = text.replace(value, placeholder)
        return text

    result: dict[str, RequestView] = {}
    seen: dict[str, int] = {}
    for execution in report["run"]["executions"]:
        item = execution.get("item") or {}
        base = (f"{item.get('folder', '')} {execution.get('request', {}).get('method', '')} "
                f"{item.get('name', '')}").strip()
        seen[base] = seen.get(base, 0) + 1
        key = base if seen[base] == 1 else f"{base} #{seen[base]}"
        response = execution.get("response")
        view = RequestView(key)
        if response is not None:
            view.status = response.get("code")
            view.shape = shape_of(response.get("body"))
            if isinstance(response.get("responseTime"), int | float):
                view.latencies.append(float(response["responseTime"]))
        else:
            error = (execution.get("requestError") or {}).get("message", "no response")
            view.assertions[_REQUEST_ERROR] = (True, str(error))
        for entry in execution.get("assertions", []):
            name = normalise(str(entry.get("assertion", "")))
            failed = bool(entry.get("error"))
            message = str((entry.get("error") or {}).get("message", "")) if failed else ""
            before = view.assertions.get(name)
            if before is None or (failed and not before[0]):
                view.assertions[name] = (failed, message)
        result[key] = view
    return result


@dataclass
class Diff:
    """What changed from the baseline to the current run."""

    baseline: str
    tolerance: str
    newly_failing: list[dict[str, str]] = field(default_factory=list)
    newly_passing: list[dict[str, str]] = field(default_factory=list)
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    status_changes: list[dict[str, Any]] = field(default_factory=list)
    shape_changes: list[dict[str, Any]] = field(default_factory=list)
    latency_changes: list[dict[str, Any]] = field(default_factory=list)

    def new_failures(self) -> list[dict[str, Any]]:
        """What ``--fail-on new`` fails on: newly failing, and added assertions that fail."""
        return [*self.newly_failing, *(a for a in self.added if a["failed"])]

    def as_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline, "latencyTolerance": self.tolerance,
            "summary": {"newlyFailing": len(self.newly_failing),
                        "newlyPassing": len(self.newly_passing), "added": len(self.added),
                        "removed": len(self.removed), "statusChanges": len(self.status_changes),
                        "shapeChanges": len(self.shape_changes),
                        "latencyChanges": len(self.latency_changes)},
            "newlyFailing": self.newly_failing, "newlyPassing": self.newly_passing,
            "added": self.added, "removed": self.removed, "statusChanges": self.status_changes,
            "shapeChanges": self.shape_changes, "latencyChanges": self.latency_changes,
        }


def compare(baseline: Mapping[str, Any], current: Mapping[str, Any], tolerance: Tolerance,
            baseline_name: str = "baseline") -> Diff:
    before, after = views(baseline), views(current)
    diff = Diff(baseline_name, str(tolerance))
    for key in [*after, *(k for k in before if k not in after)]:
        old, new = before.get(key), after.get(key)
        old_assertions = old.assertions if old else {}
        new_assertions = new.assertions if new else {}
        for name, (failed, message) in new_assertions.items():
            entry = {"request": key, "assertion": name}
            if name not in old_assertions:
                diff.added.append({**entry, "failed": failed, "message": message})
            elif failed and not old_assertions[name][0]:
                diff.newly_failing.append({**entry, "message": message})
            elif not failed and old_assertions[name][0]:
                diff.newly_passing.append(entry)
        for name, (failed, _) in old_assertions.items():
            if name not in new_assertions:
                diff.removed.append({"request": key, "assertion": name, "failed": failed})
        if old is None or new is None:
            continue
        if old.status != new.status:
            diff.status_changes.append({"request": key, "before": old.status,
                                        "after": new.status})
        if old.shape != new.shape and old.status is not None and new.status is not None:
            diff.shape_changes.append({"request": key, "added": sorted(new.shape - old.shape),
                                       "removed": sorted(old.shape - new.shape)})
        if old.p50 is not None and new.p50 is not None and tolerance.exceeded(old.p50, new.p50):
            diff.latency_changes.append({
                "request": key, "beforeMs": old.p50, "afterMs": new.p50,
                "changeMs": new.p50 - old.p50,
                "changePercent": round((new.p50 - old.p50) / old.p50 * 100, 1)
                if old.p50 else None})
    return diff


def console_lines(diff: Diff) -> list[str]:
    """The console summary of a diff."""
    lines = [f"Compared with {diff.baseline}: {len(diff.newly_failing)} newly failing, "
             f"{len(diff.newly_passing)} newly passing, {len(diff.added)} added, "
             f"{len(diff.removed)} removed; {len(diff.status_changes)} status, "
             f"{len(diff.shape_changes)} shape and {len(diff.latency_changes)} latency changes "
             f"(tolerance {diff.tolerance})"]
    for entry in diff.newly_failing:
        reason = f" ({entry['message']})" if entry["message"] else ""
        lines.append(f"  NEW FAIL  {entry['request']}: {entry['assertion']}{reason}")
    for entry in diff.newly_passing:
        lines.append(f"  NEW PASS  {entry['request']}: {entry['assertion']}")
    for entry in diff.added:
        lines.append(f"  ADDED     {entry['request']}: {entry['assertion']}"
                     f"{' (failed)' if entry['failed'] else ''}")
    for entry in diff.removed:
        lines.append(f"  REMOVED   {entry['request']}: {entry['assertion']}")
    for entry in diff.status_changes:
        lines.append(f"  STATUS    {entry['request']}: {entry['before']} -> {entry['after']}")
    for entry in diff.shape_changes:
        changes = [*("+" + s for s in entry["added"]), *("-" + s for s in entry["removed"])]
        lines.append(f"  SHAPE     {entry['request']}: {', '.join(changes[:6])}"
                     f"{' ...' if len(changes) > 6 else ''}")
    for entry in diff.latency_changes:
        lines.append(f"  LATENCY   {entry['request']}: p50 {entry['beforeMs']:.0f}ms -> "
                     f"{entry['afterMs']:.0f}ms ({entry['changeMs']:+.0f}ms)")
    return lines
