"""The README's and the site's promises: CI runs the README's test command verbatim; the README
is short and links only to what exists; the site builds with ``mkdocs build --strict``; the
version, the changelog and the extras agree; the code is lint- and type-clean."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = text.split("---", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick_start)


def test_readme_quick_start_has_the_two_commands() -> None:
    assert readme_commands() == [
        "pip install -e . && tmf629-sandbox",
        "pip install -e '.[test]' && pytest -n auto -rs",
    ]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert readme_commands()[1] in ci_lines


def test_the_readme_is_short_and_its_links_exist() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not t.startswith(("http://", "https://"))]
    assert len(local) >= 10  # the common tasks and the site's sections
    for target in local:
        assert (ROOT / target).exists(), f"README links to {target}, which does not exist"


def test_the_readme_links_every_page_of_the_site() -> None:
    # "A newcomer finds any task from the README in one click": every section of the site.
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:\n", 1)[1]
    pages = re.findall(r":\s*(\S+\.md)\s*$", nav, flags=re.M)
    sections = {page.split("/")[0] for page in pages} - {"index.md", "changelog.md"}
    for section in sorted(sections):
        assert f"docs/{section}" in text, f"the README has no link into docs/{section}"


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    # Any broken link, anchor or missing page fails the build (validation in mkdocs.yml).
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "index.html").exists()
    assert (tmp_path / "troubleshooting" / "index.html").exists()
    changelog = (tmp_path / "changelog" / "index.html").read_text(encoding="utf-8")
    assert "0.2.0" in changelog  # the root's CHANGELOG.md, included


def test_the_version_says_what_changed() -> None:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    from ctk_runner import __version__

    assert project["version"] == __version__ != "0.1.0"
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (\S+)", changelog, flags=re.M)
    assert headings[0] == project["version"] and headings[-1] == "0.1.0"
    extras = project["optional-dependencies"]
    assert any(d.startswith("nox") for d in extras["dev"])
    assert {d.split(">")[0] for d in extras["docs"]} <= {d.split(">")[0] for d in extras["test"]}


def test_code_is_lint_clean() -> None:
    # The venv's own ruff, even when the venv is not activated.
    beside = Path(sys.executable).with_name("ruff")
    ruff = str(beside) if beside.exists() else shutil.which("ruff")
    assert ruff, "ruff is part of the test extras"
    result = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_fully_typed() -> None:
    # mypy --strict with the settings in pyproject.toml: every function annotated.
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
