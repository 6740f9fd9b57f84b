"""The import rules of ARCHITECTURE.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def sources(*parts: str) -> list[Path]:
    base = ROOT.joinpath(*parts)
    return sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]


def top_levels(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imported_modules(path)}


@pytest.mark.parametrize("path", sources("ctk_runner"), ids=lambda p: str(p.relative_to(ROOT)))
def test_harness_never_imports_the_sandbox(path: Path) -> None:
    assert "sandbox" not in top_levels(path)


PLAIN = [
    *sources("sandbox", "domain"),
    *sources("sandbox", "events"),
    *sources("sandbox", "errors"),
    *sources("sandbox", "repository"),
    *sources("sandbox", "backends"),
    *sources("sandbox", "seed"),
    *sources("sandbox", "hosting"),
]


@pytest.mark.parametrize("path", PLAIN, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_code_has_no_web_framework(path: Path) -> None:
    assert not top_levels(path) & {"flask", "werkzeug", "waitress"}


@pytest.mark.parametrize(
    "path", [*sources("schemas"), *sources("fixtures")], ids=lambda p: str(p.relative_to(ROOT))
)
def test_data_packages_import_nothing_from_the_project(path: Path) -> None:
    assert not top_levels(path) & {"sandbox", "ctk_runner"}


@pytest.mark.parametrize("path", sources("ctk_runner", "kit"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_kit_is_data_and_semantics_only(path: Path) -> None:
    # The kit's description and script semantics must not depend on how they are run.
    allowed = {"ctk_runner.kit", "ctk_runner.model", "ctk_runner.client", "ctk_runner.scenarios"}
    project = {name for name in imported_modules(path) if name.split(".")[0] == "ctk_runner"}
    assert {name for name in project if not any(
        name == a or name.startswith(a + ".") for a in allowed)} == set()
    assert "pytest" not in top_levels(path)


@pytest.mark.parametrize("path", [p for p in sources("sandbox") if "postgres" not in p.parts],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_postgres_package_imports_psycopg(path: Path) -> None:
    assert not top_levels(path) & {"psycopg", "psycopg_pool"}


ENGINES = ("sandbox.backends.tinydb", "sandbox.backends.postgres")


def _engine_imports(path: Path) -> set[str]:
    return {name for name in imported_modules(path)
            if any(name == e or name.startswith(e + ".") for e in ENGINES)}


@pytest.mark.parametrize(
    "path", [p for p in sources("sandbox") if "backends" not in p.parts
             and p.name != "cli.py"], ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_backends_know_an_engine(path: Path) -> None:
    """The domain, hosting and the app factory talk to ``sandbox.backends.Backend`` and
    ``sandbox.repository`` only (the CLI's ``migrate`` and ``check`` commands excepted)."""
    assert _engine_imports(path) == set()


def test_the_app_factory_never_branches_on_the_backend() -> None:
    text = (ROOT / "sandbox" / "app.py").read_text(encoding="utf-8")
    for word in ("postgres", ":memory:", "MEMORY", "isinstance(db", "tinydb"):
        assert word not in text.lower(), word


@pytest.mark.parametrize("engine", ["tinydb", "postgres"])
def test_each_engine_keeps_to_its_folder(engine: str) -> None:
    """One engine never imports the other: what they share lives outside both."""
    other = "postgres" if engine == "tinydb" else "tinydb"
    for path in sources("sandbox", "backends", engine):
        assert not {n for n in imported_modules(path)
                    if n.startswith(f"sandbox.backends.{other}")}, path


def test_the_architecture_page_is_a_short_map_of_every_package() -> None:
    """ARCHITECTURE.md stays a map (a few KB), and names every package of both programs."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert len(text.encode()) < 9000
    packages = [p.parent for p in [*ROOT.joinpath("sandbox").rglob("__init__.py"),
                                   *ROOT.joinpath("ctk_runner").rglob("__init__.py")]]
    for package in packages:
        if package.name in ("sandbox", "ctk_runner", "suite"):
            continue
        assert f"{package.name}/" in text, package.relative_to(ROOT)
