"""Every documented example runs as written, in page order, and shows what comes back.

The site's pages (mkdocs.yml's order) run their ``curl`` examples in one shell
against one fresh sandbox process, the hosting page against the hosted sandbox
it describes, the README against its own fresh sandbox; each ``#=>`` line under
a call must hold for the real answer (:mod:`tests.docs_examples`). Their data is
their own (no customer of the conformance kit's), so counts do not drift when a
reader runs the harness afterwards.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ctk_runner.embedded import SandboxProcess
from tests import docs_examples as examples

HOSTING = "hosting.md"


def page_scripts(pages: list[Path]) -> str:
    return "\n".join("\n".join(examples.curl_blocks(page.read_text(encoding="utf-8")))
                     for page in pages)


def test_the_open_sandbox_pages_show_what_comes_back(tmp_path: Path) -> None:
    pages = [page for page in examples.pages_in_order() if page.name != HOSTING]
    script = page_scripts(pages)
    assert script.count("curl ") > 50  # the API, query, PATCH, hub and listener examples
    with SandboxProcess(db=":memory:", extra_args=["--quiet"]) as sandbox:
        found = examples.check_script(script, sandbox.url.split("/tmf-api/")[0], tmp_path)
        assert not found, "\n".join(found)
        # A reader who then runs the kit against the same sandbox gets the documented counts.
        counts = harness_counts(sandbox.url, tmp_path / "report")
    harness = (examples.ROOT / "docs" / "harness" / "index.md").read_text(encoding="utf-8")
    documented = re.search(r"a certified ctk run\s+makes (\d+) assertions,\s+a published one "
                           r"(\d+)", harness)
    assert documented, "the harness page states the counts"
    assert counts == {"certified": int(documented.group(1)),
                      "published": int(documented.group(2))}


def harness_counts(url: str, report_dir: Path) -> dict[str, int]:
    """The assertion count of each kit build, run with ``--kit all`` against ``url``."""
    result = subprocess.run(
        [sys.executable, "-m", "ctk_runner.cli", "--target-url", url, "--kit", "all",
         "--report-dir", str(report_dir), "--quiet"],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    counts = {}
    for build in ("certified", "published"):
        report = json.loads((report_dir / build / "report.json").read_text(encoding="utf-8"))
        counts[build] = report["run"]["stats"]["assertions"]["total"]
    return counts


def test_the_hosting_page_shows_what_comes_back(tmp_path: Path) -> None:
    page = Path(examples.ROOT / "docs" / HOSTING)
    options = examples.hosted_options(page.read_text(encoding="utf-8"), tmp_path)
    script = page_scripts([page])
    assert script.count("curl ") >= 15
    with SandboxProcess(db=tmp_path / "db.json", extra_args=options) as hosted:
        found = examples.check_script(script, hosted.url.split("/tmf-api/")[0], tmp_path)
    assert not found, "\n".join(found)


def test_the_readme_examples_show_what_comes_back(tmp_path: Path) -> None:
    script = "\n".join(examples.curl_blocks(
        (examples.ROOT / "README.md").read_text(encoding="utf-8")))
    assert script.count("curl ") >= 3
    with SandboxProcess(db=":memory:", extra_args=["--quiet"]) as sandbox:
        found = examples.check_script(script, sandbox.url.split("/tmf-api/")[0], tmp_path)
    assert not found, "\n".join(found)


def test_no_example_uses_the_kits_customer_names() -> None:
    # The harness's own create bodies: a reader who runs the kit after the examples must
    # get the documented assertion counts.
    names = [json.loads(path.read_text(encoding="utf-8"))["name"]
             for path in sorted((examples.ROOT / "fixtures" / "payloads").glob("*.json"))]
    assert names
    texts = [p.read_text(encoding="utf-8") for p in examples.pages_in_order()]
    texts.append((examples.ROOT / "README.md").read_text(encoding="utf-8"))
    for text in texts:
        for block in examples.curl_blocks(text):
            assert not any(name in block for name in names), block[:200]


# -- the checker itself: table-driven ------------------------------------------------------

LIST = json.dumps([{"name": "A"}, {"name": "B"}, {"name": "C"}])


@pytest.mark.parametrize(("shown", "output", "holds"), [
    ("3 customers: A, B, C", LIST, True),
    ("3 customers: A, B, …", LIST, True),
    ("3 customers: A, …", LIST, True),
    ("3 customers: A, B", LIST, False),           # a third one came back too
    ("3 customers: B, …", LIST, False),           # the order matters
    ("2 customers", LIST, False),
    ("3 items", LIST, True),
    ("0 items", "[]", True),
    ("1 customer: A", json.dumps([{"name": "A"}]), True),
    ('{"code":"404",…"status":"404"…}', '{"code":"404","reason":"x","status":"404"}', True),
    ('{"code":"404",…"status":"404"…}', '{"code":"400","reason":"x","status":"400"}', False),
    ("X-Total-Count: 14", "HTTP/1.1 200 OK\nX-Total-Count: 14\n\n[]", True),
    ("X-Total-Count: 14", "HTTP/1.1 200 OK\nX-Total-Count: 13\n\n[]", False),
    ("(no body)", "", True),
    ("(no body)", "{}", False),
])
def test_a_shown_line_holds_only_for_its_answer(shown: str, output: str, holds: bool) -> None:
    call = examples.Call("curl x", [shown], 200, output)
    assert (examples.problems(call) == []) is holds


@pytest.mark.parametrize(("shown", "status", "ok"), [
    (['{"code":"400","status":"400","@type":"Error"}'], 400, True),
    (['{"code":"400","status":"400","@type":"Error"}'], 200, False),
    (["HTTP/1.1 404 NOT FOUND"], 404, True),
    (["HTTP/1.1 201 CREATED"], 201, True),
    (["HTTP/1.1 201 CREATED"], 500, False),
    (["3 items"], 400, False),                     # an answer the page does not show
    ([], 200, False),                             # a call that shows nothing
])
def test_the_status_is_the_one_shown(shown: list[str], status: int, ok: bool) -> None:
    output = "[1, 2, 3]" if shown == ["3 items"] else ""
    if shown and shown[0].startswith("{"):
        output = shown[0]
    elif shown and shown[0].startswith("HTTP"):
        output = shown[0] + "\n\n"
    call = examples.Call("curl x", shown, status, output)
    assert (examples.problems(call) == []) is ok


def test_calls_are_found_across_continued_lines() -> None:
    script = ("A=$(curl -s x \\\n  -d '{\"a\":\n 1}' | tee)\n#=> {…}\n"
              "curl y  # a comment naming curl z\n#=> [1]\n# curl in a comment\n")
    calls = examples.calls_of(script)
    assert [c.shown for c in calls] == [["{…}"], ["[1]"]]
