"""``report.json``: the run in the shape of Newman's JSON reporter.

Tools that read Newman's JSON look at ``run.stats.<kind>.{total,failed}``,
``run.timings``, ``run.executions[]`` (``item.name``, ``request``,
``response.code/responseTime/responseSize``, ``assertions[].assertion`` and
``.error``) and ``run.failures[]``; those keys have Newman's names and
meanings. What Newman has no place for sits beside them: each assertion's
``kind`` and ``outcome``, and its rule's ``source`` (``kit``, ``swagger``,
``tmf630``, ``rfc``, ``harness``) and ``severity`` (``error``, ``warning``);
``skipped: true`` with ``skip.reason`` for a check whose subject was absent;
an execution's ``skipped.reason`` for a request not sent (its prerequisite is
missing; it has no ``response``), ``run.warnings[]`` (value checks that did
not hold in the ``ctk`` profile, failed ``warning`` rules; they carry no
``error`` key, so Newman readers count them as passed, as the kit would),
``run.skipped[]`` (each entry of ``run.failures[]``, ``run.warnings[]`` and
``run.skipped[]`` from an assertion has ``rule.source`` and ``rule.severity``;
``source`` there is Newman's, the request), ``run.preflight[]`` (what the pre-flight request found),
``run.rules`` (the sources ``--rules`` selected), ``run.profile`` and
``run.cleanup[]``.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ctk_runner.kit.builds import of_run
from ctk_runner.model import Execution, Run
from ctk_runner.report.formatting import GENERATOR, mask_headers

_BODY_LIMIT = 65536
_NAMESPACE = uuid.UUID("3f0c8f0e-9a55-4c36-9d1e-6290b3e1c629")


def _item_id(number: int) -> str:
    # Stable ids, so two reports of the same kit can be diffed.
    return str(uuid.uuid5(_NAMESPACE, f"item-{number}"))


def _url(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {
        "raw": url,
        "protocol": parts.scheme,
        "host": (parts.hostname or "").split("."),
        "port": str(parts.port) if parts.port else "",
        "path": [p for p in parts.path.split("/") if p],
        "query": [{"key": k, "value": v} for k, v in parse_qsl(parts.query, True)],
        "variable": [],
    }


def _headers(headers: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in headers.items()]


def _cursor(position: int, length: int, item: str) -> dict[str, Any]:
    return {"position": position, "iteration": 0, "length": length, "cycles": 1,
            "empty": False, "eof": False, "bof": position == 0, "cr": False, "ref": item}


def _error(name: str, message: str, index: int, test: str) -> dict[str, Any]:
    return {"name": name, "index": index, "test": test, "message": message,
            "stack": f"{name}: {message}"}


def _execution(run: Run, position: int, execution: Execution) -> dict[str, Any]:
    scenario = execution.scenario
    item_id = _item_id(scenario.number)
    assertions: list[dict[str, Any]] = []
    for index, (assertion, outcome) in enumerate(execution.outcomes(run.profile)):
        entry: dict[str, Any] = {"assertion": assertion.name, "skipped": outcome == "skipped",
                                 "kind": assertion.kind, "outcome": outcome,
                                 "source": assertion.source, "severity": assertion.severity}
        if outcome == "skipped":
            entry["skip"] = {"reason": assertion.message}
        elif outcome == "failed":
            entry["error"] = _error("AssertionError", assertion.message or "failed",
                                    index, assertion.name)
        elif outcome == "warning":
            entry["warning"] = {"message": assertion.message}
        assertions.append(entry)
    request: dict[str, Any] = {
        "url": _url(execution.url),
        "method": execution.method,
        "header": _headers(mask_headers(execution.request_headers)),
    }
    if execution.request_body is not None:
        request["body"] = {"mode": "raw", "raw": execution.request_body}
    result: dict[str, Any] = {
        "id": item_id,
        "cursor": _cursor(position, len(run.executions), item_id),
        "item": {"id": item_id, "name": scenario.name, "folder": scenario.folder,
                 "description": scenario.description},
        "request": request,
        "assertions": assertions,
    }
    if execution.script_error is not None:
        result["testScript"] = [{"error": {"name": "ScriptError",
                                           "message": execution.script_error}}]
    if execution.skipped is not None:
        result["skipped"] = {"reason": execution.skipped}
    elif execution.error is not None:
        result["requestError"] = {"name": "RequestError", "message": execution.error}
    else:
        result["response"] = {
            "id": str(uuid.uuid5(_NAMESPACE, f"response-{scenario.number}-{run.started}")),
            "status": execution.reason,
            "code": execution.status,
            "header": _headers(execution.response_headers),
            "responseTime": round(execution.elapsed_ms),
            "responseSize": execution.size,
            "body": execution.body[:_BODY_LIMIT],
        }
    return result


def _problems(run: Run, outcome: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for position, execution in enumerate(run.executions):
        scenario = execution.scenario
        item_id = _item_id(scenario.number)
        common = {
            "source": {"id": item_id, "name": scenario.name},
            "parent": {"id": scenario.folder, "name": scenario.folder},
            "cursor": _cursor(position, len(run.executions), item_id),
        }
        if outcome == "failed" and execution.error is not None:
            entries.append({"error": _error("RequestError", execution.error, 0, "request"),
                            "at": "request", **common})
        if outcome == "failed" and execution.script_error is not None:
            entries.append({"error": _error("ScriptError", execution.script_error, 0,
                                            "test-script"), "at": "test-script", **common})
        if outcome == "skipped" and execution.skipped is not None:
            entries.append({"error": _error("Skipped", execution.skipped, 0, "request"),
                            "at": "request", **common})
        for index, (assertion, actual) in enumerate(execution.outcomes(run.profile)):
            if actual == outcome:
                name = {"failed": "AssertionError", "warning": "Warning"}.get(outcome, "Skipped")
                error = _error(name, assertion.message or outcome, index, assertion.name)
                entries.append({"error": error, "at": f"assertion:{index} in test-script",
                                "rule": {"source": assertion.source,
                                         "severity": assertion.severity}, **common})
    return entries


def build(run: Run) -> dict[str, Any]:
    """The whole report as a JSON-ready dict."""
    stats = run.stats()
    count = stats["requests"].total
    timing = run.timing()
    # Folders beyond the kit's (NT1 ...) are listed when the run executed them.
    build = of_run(run.build)
    extra = {e.scenario.number: e.scenario for e in run.executions
             if e.scenario.folder not in build.folders}
    scenarios = [*build.scenarios, *extra.values()]
    folders = list(dict.fromkeys([*build.folders, *(s.folder for s in extra.values())]))
    return {
        "collection": {
            "info": {
                "_postman_id": str(uuid.uuid5(_NAMESPACE, run.collection)),
                "name": run.collection,
                "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
            },
            "item": [
                {"name": folder, "item": [{"id": _item_id(s.number), "name": s.name,
                                           "description": s.description}
                                          for s in scenarios if s.folder == folder]}
                for folder in folders
            ],
        },
        "environment": {"name": "ctk-runner",
                        "values": [{"key": "Customer", "value": run.target}]},
        "run": {
            "stats": {
                "iterations": _stat(stats["iterations"]),
                "items": {"total": count, "pending": 0, "failed": stats["requests"].failed},
                "scripts": _stat(stats["testScripts"]),
                "prerequests": {"total": count, "pending": 0, "failed": 0},
                "requests": _stat(stats["requests"]),
                "tests": {"total": count, "pending": 0, "failed": stats["testScripts"].failed},
                "assertions": _stat(stats["assertions"]),
                "testScripts": _stat(stats["testScripts"]),
                "prerequestScripts": _stat(stats["prerequestScripts"]),
            },
            "timings": {
                **{k: round(v, 3) for k, v in timing.items()},
                "dnsAverage": 0, "dnsMin": 0, "dnsMax": 0, "dnsSd": 0,
                "firstByteAverage": 0, "firstByteMin": 0, "firstByteMax": 0, "firstByteSd": 0,
                "started": round(run.started * 1000),
                "completed": round((run.finished or run.started) * 1000),
            },
            "executions": [_execution(run, i, e) for i, e in enumerate(run.executions)],
            "transfers": {"responseTotal": run.data_received},
            "failures": _problems(run, "failed"),
            "error": None,
            "warnings": _problems(run, "warning"),
            "skipped": _problems(run, "skipped"),
            "preflight": list(run.preflight),
            "rules": list(run.rules),
            "profile": run.profile,
            "build": run.build,
            "generator": GENERATOR,
            "cleanup": [
                {"customer": c.subject, "url": c.url, "code": c.status, "ok": c.ok,
                 "message": c.message}
                for c in run.cleanup
            ],
        },
    }


def _stat(stat: Any) -> dict[str, int]:
    return {"total": stat.total, "pending": 0, "failed": stat.failed}


def write(run: Run, path: Path) -> Path:
    path.write_text(json.dumps(build(run), indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path
