"""The deployment facts in the written reports, and no secret in any of them.

After the three reports of a run are written, :func:`finish_reports` adds
what a run against a real deployment needs beside the verdict: the run id,
the authentication scheme (never its secret), the TLS files, the rate, every
429/503 retry, and the customers the clean-up could not delete. They go into
``report.json`` as ``run.deployment`` (an additive key Newman readers skip)
and into ``report.html`` as a last section. Then every file is scrubbed of
every registered secret, in its raw, JSON-escaped and HTML-escaped forms: a
gateway that echoes the ``Authorization`` header in a body or a header is
masked as well as the harness's own records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

from ctk_runner.auth import MASK, Secrets
from ctk_runner.deployment import Deployment
from ctk_runner.model import Run


def facts(run: Run, deployment: Deployment) -> dict[str, Any]:
    """``run.deployment`` of report.json."""
    pacing = deployment.runtime.pacing
    return {
        "runId": deployment.run_id,
        "tagged": deployment.tag,
        "auth": deployment.auth.describe() if deployment.auth else None,
        "clientCertificate": bool(deployment.cert),
        "caBundle": deployment.ca_bundle,
        "rate": deployment.rate,
        "retries": [note.as_json() for note in pacing.notes],
        "leftovers": [{"customer": c.subject, "url": c.url, "code": c.status,
                       "message": c.message} for c in run.cleanup if not c.ok],
    }


def _html_section(data: dict[str, Any]) -> str:
    def row(label: str, value: Any) -> str:
        return f"<tr><th>{escape(label)}</th><td>{escape(str(value))}</td></tr>"

    rows = [row("Run id", data["runId"] + (" (in every created customer's characteristic)"
                                           if data["tagged"] else "")),
            row("Authentication", data["auth"] or "none (or --header)"),
            row("Client certificate", "yes" if data["clientCertificate"] else "no"),
            row("CA bundle", data["caBundle"] or "system"),
            row("Rate", f"{data['rate']:g} requests/s" if data["rate"] else "unlimited")]
    retries = "".join(
        f"<li>{escape(r['method'])} {escape(r['url'])}: {r['status']}"
        f"{' (Retry-After: ' + escape(str(r['retryAfter'])) + ')' if r['retryAfter'] else ''}"
        f" - {escape(r['gaveUp'] or 'retried after ' + format(r['waited'], 'g') + ' s')}</li>"
        for r in data["retries"])
    left = "".join(f"<li class='fail'>{escape(c['customer'])}: {escape(c['url'])} "
                   f"({escape(c['message'])})</li>" for c in data["leftovers"])
    return ("<h2>Deployment</h2><table>" + "".join(rows) + "</table>"
            + (f"<h3>Retries ({len(data['retries'])})</h3><ul>{retries}</ul>" if retries else "")
            + (f"<h3>Customers left behind ({len(data['leftovers'])})</h3><ul>{left}</ul>"
               if left else ""))


def finish_reports(paths: dict[str, Path], run: Run, deployment: Deployment) -> None:
    """Add the deployment facts to report.json and report.html; scrub every file."""
    data = facts(run, deployment)
    json_path = paths.get("json")
    if json_path is not None and json_path.is_file():
        report = json.loads(json_path.read_text(encoding="utf-8"))
        report.setdefault("run", {})["deployment"] = data
        json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    html_path = paths.get("html")
    if html_path is not None and html_path.is_file():
        page = html_path.read_text(encoding="utf-8")
        where = page.rfind("<footer>")
        where = where if where >= 0 else page.rfind("</main>")
        if where >= 0:
            html_path.write_text(page[:where] + _html_section(data) + "\n" + page[where:],
                                 encoding="utf-8")
    scrub(paths.values(), deployment.runtime.secrets)


def scrub(paths: Iterable[Path], secrets: Secrets) -> None:
    """Replace every secret in each file (raw, JSON- and HTML-escaped) by the mask."""
    if not secrets:
        return
    for path in paths:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        masked = secrets.mask(text)
        if masked != text:
            path.write_text(masked, encoding="utf-8")


__all__ = ["MASK", "facts", "finish_reports", "scrub"]
