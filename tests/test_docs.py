"""The README's promises: CI runs its test command verbatim; the code is lint- and type-clean."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = text.split("---", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick_start)


def test_readme_quick_start_has_the_two_commands() -> None:
    assert readme_commands() == [
        "pip install -e . && tmf629-sandbox",
        "pip install -e '.[test]' && pytest -n auto",
    ]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert readme_commands()[1] in ci_lines


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
