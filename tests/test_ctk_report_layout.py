"""The HTML report reads cleanly with long values, in a real browser.

A failing run against a stand-in that answers like a dynamic mock (long arrays
in values, a long name) is opened in headless Chromium at 1280 px: nothing may
overflow horizontally. Playwright drives the system's Chromium
(``/usr/bin/chromium``, or ``TMF629_CHROMIUM``); without it these tests skip,
unless ``TMF629_REQUIRE_CHROMIUM=1`` (CI) makes them fail.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from ctk_runner import cli

try:
    import ctk_faults
    import ctk_kit_standins as standins
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests import ctk_faults  # type: ignore[no-redef]
    from tests import ctk_kit_standins as standins  # type: ignore[no-redef]

WIDTH = 1280


def run(name: str, report_dir: Path, *args: str) -> int:
    with ctk_faults.serve(standins.STANDINS[name][1]()) as url, \
            contextlib.redirect_stdout(io.StringIO()):
        return cli.main(["--target-url", url, "--report-dir", str(report_dir), *args])


@pytest.fixture(scope="module")
def long_value_reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    report_dir = tmp_path_factory.mktemp("long-values")
    assert run("long-values", report_dir, "--kit", "all", "--profile", "strict") == 1
    return report_dir


# What overflows: the page itself, or any element wider than the page's content box.
_OVERFLOW = """() => {
  const page = document.documentElement;
  const limit = document.querySelector('main').getBoundingClientRect().right + 1;
  const wide = [...document.querySelectorAll('main *')]
    .filter(e => e.getBoundingClientRect().right > limit)
    .map(e => e.tagName + ' ' + (e.textContent || '').slice(0, 60));
  return {scroll: page.scrollWidth, view: window.innerWidth, wide: wide.slice(0, 5)};
}"""


@pytest.mark.parametrize("build", ["certified", "published"])
def test_long_values_do_not_overflow_at_1280px(browser: Any, long_value_reports: Path,
                                               build: str) -> None:
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    try:
        page.goto((long_value_reports / build / "report.html").as_uri())
        layout = page.evaluate(_OVERFLOW)
        shortened = page.locator("span[title]").count()
    finally:
        page.close()
    assert layout["scroll"] <= layout["view"] == WIDTH, layout
    assert layout["wide"] == []
    # The long held values are shortened, their full text on hover.
    assert shortened > 0


def test_report_labels_what_kind_of_check_each_row_is(tmp_path: Path) -> None:
    assert run("create-500", tmp_path, "--kit", "published") == 1
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "checked on an error response (HTTP 500)" in html
    assert "checked on an error response (HTTP 404)" in html
    assert "always passes in the kit" in html
    assert "(published build)" in html and "Verdict (published build, ctk profile)" in html


def test_script_errors_are_shown_and_counted(tmp_path: Path) -> None:
    assert run("retrieve-not-json", tmp_path, "--kit", "published") == 1
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Test script error:" in html and "the response body is not JSON" in html
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["run"]["stats"]["testScripts"]["failed"] == 1
    assert [f["error"]["name"] for f in report["run"]["failures"]].count("ScriptError") == 1
    junit = (tmp_path / "junit.xml").read_text(encoding="utf-8")
    assert junit.count('type="ScriptError"') == 1
