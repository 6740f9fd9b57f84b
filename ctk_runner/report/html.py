"""``report.html``: one self-contained page laid out like Newman's HTML report.

A certifier reads the kit's Newman report in a fixed order: the summary table
(Iterations, Requests, Prerequest Scripts, Test Scripts, Assertions; total and
failed), run duration, data received, average response time, total failures;
then each request by folder with its description, method, URL, mean time and
size, status code and the Name / Pass count / Fail count table. This page
keeps that order and wording, then lists the failures and the warnings with
their reasons. CSS is inline (the file is mailed around) and every string the
target supplied is escaped.

Names and reasons can hold whatever the target returned (a value check's name
carries the held value, a whole JSON array from a dynamic mock): long texts
are shortened with the full text on hover, everything else wraps, and the
tables have a fixed layout, so nothing pushes the page sideways. Each row
says what kind of check it is: a value check that can never fail in the kit
is labelled "always passes in the kit", a check made on an HTTP error
response says so, and each of the strict profile's own checks names its
rule's source (swagger, tmf630, rfc, harness) and severity. A request not
sent (a missing prerequisite) and a check whose subject was absent are shown
as skipped with the reason; the pre-flight request's findings are warnings
at the top.
"""

from __future__ import annotations

import time
from html import escape
from pathlib import Path

from ctk_runner.model import AssertionKind, Execution, Problem, Run, Severity, Source
from ctk_runner.report.formatting import (
    GENERATOR,
    display_url,
    format_duration,
    format_size,
)

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;
background:#f4f5f7;font-size:14px}
main{max-width:1100px;margin:0 auto;padding:24px;overflow-wrap:anywhere}
h1{font-size:24px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 12px;
border-bottom:2px solid #ccc;padding-bottom:4px}h3{font-size:17px;margin:24px 0 8px;color:#444}
.panel{background:#fff;border:1px solid #dcdfe4;border-radius:4px;margin:0 0 14px;
padding:14px 18px}
.panel h4{margin:0 0 10px;font-size:16px;font-family:Menlo,Consolas,monospace}
table{border-collapse:collapse;width:100%;margin:6px 0;table-layout:fixed}
th,td{border:1px solid #e1e4e8;padding:5px 9px;text-align:left;vertical-align:top;
overflow-wrap:anywhere;word-break:break-word}
table.summary,table.kpi{table-layout:auto}
th.name{width:auto}th.req{width:28%}th.idx{width:40px}
.label{display:inline-block;margin:2px 4px 0 0;padding:0 6px;border-radius:8px;
font-size:11px;font-weight:600;white-space:nowrap}
.label.value{background:#e8eefc;color:#2749a0}.label.errbody{background:#fde2cf;color:#8a3a00}
.label.strict{background:#ece2f7;color:#5b2d8a}.label.skip{background:#eceff3;color:#444}
.label.sev-warning{background:#fff1cc;color:#7a5200}
tr.skip td{background:#f5f6f8;color:#555}.skipped{color:#555;font-style:italic}
.script{margin:8px 0 0;padding:6px 9px;background:#fdecee;border:1px solid #f2b8c0}
th{background:#f0f2f5}td.num,th.num{text-align:right;width:110px}
dl{display:grid;grid-template-columns:220px 1fr;gap:4px 12px;margin:0 0 8px}
dt{color:#666}dd{margin:0;word-break:break-all}
.meta dd{font-family:inherit}
.summary{max-width:520px}.kpi{max-width:520px}
.fail{color:#b00020;font-weight:600}.warn{color:#8a5a00;font-weight:600}
.ok{color:#1a7f37;font-weight:600}
tr.fail td{background:#fdecee}tr.warn td{background:#fff6e0}
.verdict{display:inline-block;padding:4px 12px;border-radius:3px;color:#fff;font-weight:700}
.verdict.passed{background:#1a7f37}.verdict.failed{background:#b00020}
code,.mono{font-family:Menlo,Consolas,monospace;font-size:13px}
.reason{white-space:pre-wrap;word-break:break-word}
footer{color:#888;font-size:12px;margin-top:32px}
"""


_LONG = 140


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _text(value: str, limit: int = _LONG) -> str:
    """Escaped text; a long one is shortened, with the full text on hover."""
    if len(value) <= limit:
        return _e(value)
    return f"<span title='{_e(value)}'>{_e(value[: limit - 1])}…</span>"


_SOURCES = {
    "swagger": "the TMF629 v4.0.0 swagger states this rule",
    "tmf630": "TMF630, the REST API design guidelines, states this rule (not the swagger)",
    "rfc": "an IETF RFC states this rule (not the swagger)",
    "harness": "the harness's own judgement: no specification states this rule",
}


def _labels(kind: AssertionKind | None, execution: Execution, name: str,
            source: Source | None = None, severity: Severity | None = None) -> str:
    labels = []
    if kind == "value":
        labels.append("<span class='label value' title='This check is written so that it "
                      "can never fail in the Postman kit: it counts as passed there'>"
                      "always passes in the kit</span>")
    if kind == "strict" and source is not None:
        labels.append(f"<span class='label strict' title='{_e(_SOURCES.get(source, ''))}'>"
                      f"strict rule, source: {_e(source)}</span>")
        if severity == "warning":
            labels.append("<span class='label sev-warning' title='A failure of this rule is "
                          "reported but does not fail the verdict'>severity: warning</span>")
    if (execution.error_response and kind in ("kit", "value")
            and not name.startswith("Status code")):
        labels.append(f"<span class='label errbody'>checked on an error response "
                      f"(HTTP {execution.status})</span>")
    return "<br>" + "".join(labels) if labels else ""


def _summary(run: Run) -> str:
    stats = run.stats()
    rows = "".join(
        f"<tr><th>{label}</th><td class='num'>{stats[key].total}</td>"
        f"<td class='num{' fail' if stats[key].failed else ''}'>{stats[key].failed}</td></tr>"
        for label, key in (
            ("Iterations", "iterations"),
            ("Requests", "requests"),
            ("Prerequest Scripts", "prerequestScripts"),
            ("Test Scripts", "testScripts"),
            ("Assertions", "assertions"),
        )
    )
    failures = len(run.problems("failed"))
    warnings = len(run.problems("warning"))
    skipped = len(run.problems("skipped"))
    verdict = "failed" if run.failed else "passed"
    return f"""
<h2>Summary</h2>
<table class="summary"><tr><th></th><th class="num">Total</th><th class="num">Failed</th></tr>
{rows}</table>
<table class="kpi">
<tr><th>Total run duration</th><td>{format_duration(run.duration_ms)}</td></tr>
<tr><th>Total data received</th><td>{format_size(run.data_received)} (approx)</td></tr>
<tr><th>Average response time</th><td>{format_duration(run.timing()["responseAverage"])}</td></tr>
<tr><th>Total Failures</th><td class="{'fail' if failures else 'ok'}">{failures}</td></tr>
<tr><th>Total Warnings</th><td class="{'warn' if warnings else ''}">{warnings}</td></tr>
<tr><th>Skipped</th><td>{skipped}</td></tr>
<tr><th>Strict rules run</th><td>{_e(", ".join(run.rules))}</td></tr>
<tr><th>Verdict ({_e(run.build)} build, {_e(run.profile)} profile)</th>
<td><span class="verdict {verdict}">{verdict.upper()}</span></td></tr>
</table>"""


def _panel(execution: Execution, facts: str, table: str = "") -> str:
    """One request's panel: its name, description and method, then ``facts`` (dt/dd)."""
    scenario = execution.scenario
    return f"""
<div class="panel" id="request-{scenario.number}">
<h4>{_text(scenario.name)}</h4>
<dl>
<dt>Description</dt><dd>{_e(scenario.description)}</dd>
<dt>Method</dt><dd>{_e(execution.method)}</dd>{facts}
</dl>{table}
</div>"""


def _request(run: Run, execution: Execution) -> str:
    if execution.skipped is not None:
        return _panel(execution, f"\n<dt>Status</dt><dd class='skipped'>skipped: "
                      f"{_text(execution.skipped, 600)}</dd>")
    groups = execution.groups(run.profile)
    has_warnings = any(g.warnings for g in groups)
    passed = sum(g.passed for g in groups)
    failed = sum(g.failed for g in groups)
    status = (
        f"<span class='fail'>{_e(execution.error)}</span>" if execution.error
        else _e(execution.status)
    )
    table = ""
    if groups:
        head = ("<th class='name'>Name</th><th class='num'>Pass count</th>"
                "<th class='num'>Fail count</th>")
        if has_warnings:
            head += "<th class='num'>of which warnings</th>"
        rows = []
        for g in groups:
            css = "fail" if g.failed else "warn" if g.warnings else "skip" if g.skipped else ""
            skipped = (f"<br><span class='label skip'>skipped: {_text(g.messages[0], 300)}"
                       "</span>" if g.skipped and g.messages and not (g.failed or g.warnings)
                       else "")
            cells = (f"<td>{_text(g.name)}"
                     f"{_labels(g.kind, execution, g.name, g.source, g.severity)}{skipped}</td>"
                     f"<td class='num'>{g.passed}</td><td class='num'>{g.failed}</td>")
            if has_warnings:
                cells += f"<td class='num'>{g.warnings or ''}</td>"
            rows.append(f"<tr class='{css}'>{cells}</tr>")
        table = f"<h5>Tests</h5><table><tr>{head}</tr>{''.join(rows)}</table>"
    if execution.script_error:
        table += (f"<p class='script'><strong>Test script error:</strong> the kit's script "
                  f"stopped here ({_text(execution.script_error, 400)}); Newman counts a "
                  "failed test script.</p>")
    return _panel(execution, f"""
<dt>URL</dt><dd class="mono">{_e(display_url(execution.url))}</dd>
<dt>Mean time per request</dt><dd>{format_duration(execution.elapsed_ms)}</dd>
<dt>Mean size per request</dt><dd>{format_size(execution.size)}</dd>
<dt>Total passed tests</dt><dd>{passed}</dd>
<dt>Total failed tests</dt><dd class="{'fail' if failed else ''}">{failed}</dd>
<dt>Status code</dt><dd>{status}</dd>""", table)


def _problems(title: str, problems: list[Problem], css: str, empty: str) -> str:
    if not problems:
        return f"<h2>{title}</h2><p>{empty}</p>"
    rows = "".join(
        f"<tr class='{css}'><td class='num'>{i}</td>"
        f"<td><a href='#request-{p.execution.scenario.number}'>"
        f"{_e(p.execution.scenario.folder)} {_e(p.execution.scenario.name)}</a><br>"
        f"<span class='mono'>{_e(p.execution.method)} "
        f"{_e(display_url(p.execution.url))}</span></td>"
        f"<td>{_text(p.name)}{_labels(p.kind, p.execution, p.name, p.source, p.severity)}</td>"
        f"<td class='reason'>{_text(p.message, 600)}</td></tr>"
        for i, p in enumerate(problems, 1)
    )
    return (f"<h2>{title} ({len(problems)})</h2><table><tr><th class='num idx'>#</th>"
            f"<th class='req'>Request</th><th>Assertion</th><th>Reason</th></tr>{rows}</table>")


def _cleanup(run: Run) -> str:
    if not run.cleanup:
        return ""
    rows = "".join(
        f"<tr class='{'' if c.ok else 'fail'}'><td>{_e(c.subject)}</td>"
        f"<td class='mono'>DELETE {_e(c.url)}</td><td>{_e(c.status or '')}</td>"
        f"<td>{'deleted' if c.ok else _e(c.message)}</td></tr>"
        for c in run.cleanup
    )
    return ("<h2>Clean-up</h2><table><tr><th>Customer</th><th>Request</th><th>Status</th>"
            f"<th>Result</th></tr>{rows}</table>")


def _preflight(run: Run) -> str:
    if not run.preflight:
        return ""
    items = "".join(f"<li class='warn'>{_e(w)}</li>" for w in run.preflight)
    return ("<h2>Pre-flight warnings</h2><p>The run went on, as the kit would; these are "
            f"what the first request found.</p><ul>{items}</ul>")


def render(run: Run) -> str:
    started = time.strftime("%a %b %d %Y %H:%M:%S %Z", time.localtime(run.started))
    folders = "".join(
        f"<h3>{_e(folder)}</h3>" + "".join(_request(run, e) for e in executions)
        for folder, executions in run.by_folder().items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(run.collection)} report</title><style>{_CSS}</style></head>
<body><main>
<h1>{_e(run.collection)}</h1>
<dl class="meta">
<dt>Collection</dt><dd>{_e(run.collection)} ({_e(run.build)} build)</dd>
<dt>Target</dt><dd class="mono">{_e(run.target)}</dd>
<dt>Time</dt><dd>{_e(started)}</dd>
<dt>Exported with</dt><dd>{_e(GENERATOR)} ({_e(run.profile)} profile)</dd>
</dl>
{_summary(run)}
{_preflight(run)}
<h2>Requests</h2>
{folders}
{_problems("Failures", run.problems("failed"), "fail", "No failures.")}
{_problems("Warnings", run.problems("warning"), "warn",
           "No warnings: every value check held.")}
{_problems("Skipped", run.problems("skipped"), "skip",
           "Nothing skipped: every request was sent and every check had its subject.")}
{_cleanup(run)}
<footer>Generated by {_e(GENERATOR)}. Value checks and "not expected" checks can never fail
in the Postman kit ("always passes in the kit"): in the ctk profile they count as passed and a
mismatch is listed as a warning, in the strict profile it is a failure. A strict rule names its
source: swagger (the TMF629 v4.0.0 swagger), tmf630 (the design guidelines), rfc (an IETF RFC)
or harness (the harness's own judgement); a failed rule of severity warning does not fail the
verdict.</footer>
</main></body></html>
"""


def write(run: Run, path: Path) -> Path:
    path.write_text(render(run), encoding="utf-8")
    return path
