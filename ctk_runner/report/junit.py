"""``junit.xml``: one testsuite per request, one testcase per assertion group.

CI servers read JUnit; grouping by assertion name (like Newman's table rows)
keeps a 29-customer list to a handful of testcases, while a failure element
still says how many instances failed and why. Warnings (``ctk`` profile value
mismatches, failed rules of severity ``warning``) go to ``<system-out>`` so they
are visible without failing CI. A request not sent and a check whose subject
was absent are ``<skipped message="why"/>``. A strict check's testcase carries
its rule's ``source`` and ``severity`` as ``<properties>`` (and in the failure
message, for CI servers that show only that).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ctk_runner.model import AssertionGroup, Run


def _text_safe(text: str) -> str:
    # XML 1.0 cannot carry most control characters; a target may send them.
    return "".join(c for c in text if c in "\t\n\r" or ord(c) >= 0x20)


def _only_skipped(group: AssertionGroup) -> bool:
    return group.skipped > 0 and not (group.passed or group.failed)


def build(run: Run) -> ET.Element:
    stats = run.stats()
    root = ET.Element("testsuites", {
        "name": run.collection,
        "tests": "0",
        "failures": "0",
        "errors": "0",
        "time": f"{run.duration_ms / 1000:.3f}",
    })
    total_cases = total_failures = total_errors = total_skipped = 0
    for execution in run.executions:
        scenario = execution.scenario
        groups = execution.groups(run.profile)
        skipped_request = 1 if execution.skipped is not None else 0
        suite = ET.SubElement(root, "testsuite", {
            "name": f"{scenario.number:02d} {scenario.folder}{scenario.name}",
            "id": str(scenario.number),
            "tests": str(len(groups) + (1 if execution.error else 0)
                         + (1 if execution.script_error else 0) + skipped_request),
            "failures": str(sum(1 for g in groups if g.failed)),
            "errors": str((1 if execution.error else 0) + (1 if execution.script_error else 0)),
            "skipped": str(skipped_request + sum(1 for g in groups if _only_skipped(g))),
            "time": f"{execution.elapsed_ms / 1000:.3f}",
        })
        properties = ET.SubElement(suite, "properties")
        for key, value in (("description", scenario.description),
                           ("method", execution.method), ("url", execution.url),
                           ("status", str(execution.status or ""))):
            ET.SubElement(properties, "property", {"name": key, "value": _text_safe(value)})
        # CI servers split classname on dots (package.class): folder, then request.
        classname = f"{scenario.folder}.{scenario.number:02d} {scenario.name}"
        if execution.skipped is not None:
            case = ET.SubElement(suite, "testcase", {"name": "Request", "classname": classname,
                                                     "time": "0"})
            ET.SubElement(case, "skipped", {"message": _text_safe(execution.skipped)})
            total_cases += 1
            total_skipped += 1
        if execution.error:
            case = ET.SubElement(suite, "testcase", {"name": "Request", "classname": classname})
            error = ET.SubElement(case, "error", {"type": "RequestError",
                                                  "message": _text_safe(execution.error)})
            error.text = _text_safe(execution.error)
            total_errors += 1
            total_cases += 1
        if execution.script_error:
            # The kit's test script stopped: Newman counts a failed test script.
            case = ET.SubElement(suite, "testcase", {"name": "Test script",
                                                     "classname": classname})
            error = ET.SubElement(case, "error", {"type": "ScriptError",
                                                  "message": _text_safe(execution.script_error)})
            error.text = _text_safe(execution.script_error)
            total_errors += 1
            total_cases += 1
        for group in groups:
            case = ET.SubElement(suite, "testcase", {
                "name": _text_safe(group.name),
                "classname": classname,
                # The request's time is on its testsuite; repeating it on every
                # group would multiply it in CI totals.
                "time": "0",
                "assertions": str(group.passed + group.failed),
            })
            total_cases += 1
            rule = ""
            if group.kind == "strict":
                properties = ET.SubElement(case, "properties")
                for key, value in (("source", group.source), ("severity", group.severity)):
                    ET.SubElement(properties, "property", {"name": key, "value": value})
                rule = f" (rule source: {group.source}, severity: {group.severity})"
            if _only_skipped(group):
                total_skipped += 1
                first = group.messages[0] if group.messages else "skipped"
                ET.SubElement(case, "skipped", {"message": _text_safe(first)})
            elif group.failed:
                total_failures += 1
                first = group.messages[0] if group.messages else "failed"
                failure = ET.SubElement(case, "failure", {
                    "type": "AssertionFailure",
                    "message": _text_safe(f"{group.failed} of {group.passed + group.failed} "
                                          f"failed{rule}: {first}"),
                })
                failure.text = _text_safe("\n".join(group.messages))
            elif group.warnings:
                out = ET.SubElement(case, "system-out")
                out.text = _text_safe("\n".join(f"warning: {m}" for m in group.messages))
    root.set("tests", str(total_cases))
    root.set("failures", str(total_failures))
    root.set("skipped", str(total_skipped))
    root.set("errors", str(total_errors))
    root.set("assertions", str(stats["assertions"].total))
    return root


def write(run: Run, path: Path) -> Path:
    tree = ET.ElementTree(build(run))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path
