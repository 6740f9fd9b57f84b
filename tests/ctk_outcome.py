"""One harness run in-process, and what it left: exit code, console and report files.

Shared by the fault-table and real-deployment tests, which run ``ctk-runner``'s
``main`` against a local stand-in and read its reports.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ctk_runner import cli


@dataclass
class Outcome:
    code: int
    report_dir: Path
    output: str

    @property
    def json(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(
            (self.report_dir / "report.json").read_text(encoding="utf-8"))
        return report

    @property
    def html(self) -> str:
        return (self.report_dir / "report.html").read_text(encoding="utf-8")

    @property
    def junit(self) -> ET.Element:
        return ET.parse(self.report_dir / "junit.xml").getroot()

    def failures(self) -> list[tuple[str, str, str]]:
        """(request name, assertion name, message) of every failure."""
        return [(f["source"]["name"], f["error"]["test"], f["error"]["message"])
                for f in self.json["run"]["failures"]]

    def warnings(self) -> list[tuple[str, str, str]]:
        return [(f["source"]["name"], f["error"]["test"], f["error"]["message"])
                for f in self.json["run"]["warnings"]]

    def everything(self) -> str:
        """The console and every report file, for secret hunting."""
        files = [p.read_text(encoding="utf-8") for p in sorted(self.report_dir.glob("*"))]
        return "\n".join([self.output, *files])


def run_harness(url: str, report_dir: Path, capsys: pytest.CaptureFixture[str],
                *args: str) -> Outcome:
    code = cli.main(["--target-url", url, "--report-dir", str(report_dir), *args])
    captured = capsys.readouterr()
    return Outcome(code, report_dir, captured.out + captured.err)
