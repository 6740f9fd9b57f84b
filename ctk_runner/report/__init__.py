"""Reporters: each reads a finished :class:`~ctk_runner.model.Run`, none sends requests.

``write_reports`` produces the three files of a run in one directory:
``report.html`` (for people), ``report.json`` (Newman-compatible, for tools)
and ``junit.xml`` (for CI). The console reporter lives in :mod:`.console`.
"""

from __future__ import annotations

from pathlib import Path

from ctk_runner.model import Run
from ctk_runner.report import html, junit, newman_json

REPORT_FILES = {"html": "report.html", "json": "report.json", "junit": "junit.xml"}


def write_reports(run: Run, directory: Path) -> dict[str, Path]:
    """Write all reports into ``directory`` (created if needed); return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    return {
        "html": html.write(run, directory / REPORT_FILES["html"]),
        "json": newman_json.write(run, directory / REPORT_FILES["json"]),
        "junit": junit.write(run, directory / REPORT_FILES["junit"]),
    }


__all__ = ["REPORT_FILES", "write_reports"]
