"""Shared fixtures, in the style of Flask's tutorial: an app per test on a
real file-backed TinyDB, its test client, and real servers on real ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from waitress.server import create_server

from ctk_runner.embedded import SandboxProcess
from sandbox import create_app
from tests import pg_support
from tests.pg_support import pg_server, pg_url  # noqa: F401  (fixtures of every test module)

API = "/tmf-api/customerManagement/v4"
MINIMAL = {
    "name": "Moon Football Club",
    "engagedParty": {"@referredType": "Organization", "id": "500"},
}


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until true or ``timeout``; never asserts how long it took."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sandbox-db.json"


@pytest.fixture
def app_config(db_path: Path) -> dict[str, Any]:
    """Overrides for ``create_app``; tests change it before ``app`` is built."""
    return {"db_path": str(db_path)}


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app(app_config)
    yield app
    app.extensions["sandbox.events"].close(timeout=1)
    app.extensions["sandbox.db"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def created(client: FlaskClient) -> dict[str, Any]:
    """One customer created through the API."""
    response = client.post(f"{API}/customer", json=MINIMAL)
    assert response.status_code == 201
    return response.get_json()


@contextlib.contextmanager
def waitress_server(app: Flask) -> Iterator[str]:
    """Serve ``app`` with waitress on a free port in this process; yield the API root."""
    # A short loop timeout lets close() return at once instead of after 1 s.
    server = create_server(app, host="127.0.0.1", port=0, threads=8, asyncore_loop_timeout=0.1)
    stopping = threading.Event()

    def serve() -> None:
        try:
            server.run()
        except OSError:
            # close() pulls the sockets from under the running select().
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}{API}"
    finally:
        stopping.set()
        server.close()
        thread.join(timeout=5)


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app behind waitress on a free port, in this process; yields the API root."""
    with waitress_server(app) as root:
        yield root


@pytest.fixture
def sandbox_process(db_path: Path) -> Iterator[SandboxProcess]:
    """``tmf629-sandbox`` as a real process on a free port, on a real file store."""
    with SandboxProcess(db=db_path, command=["tmf629-sandbox"]) as process:
        yield process


#: Every storage engine a sandbox can run on: contract tests take ``store_url`` and run
#: once per engine (PostgreSQL skips, or fails in CI, without a server).
ENGINES = ("tinydb", "postgresql")


@pytest.fixture(params=ENGINES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A ``--db`` value of a new, empty store on each engine: a TinyDB file in this test's
    directory, or a PostgreSQL database of this test's own."""
    if request.param == "tinydb":
        yield str(tmp_path / "store.json")
        return
    with pg_support.scratch_database() as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def _drop_the_shared_postgres_database() -> Iterator[None]:
    """Nothing left behind: the PostgreSQL database stores' schemas lived in goes."""
    yield
    pg_support.drop_shared_database()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through Playwright, the system's browser (``/usr/bin/chromium`` or
    ``TMF629_CHROMIUM``): Playwright's own download is not used. Skips without one, unless
    ``TMF629_REQUIRE_CHROMIUM=1`` (CI) makes that a failure."""
    executable = os.environ.get("TMF629_CHROMIUM") or shutil.which("chromium") or ""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        executable = ""
    if not executable:
        reason = "browser checks need Playwright and a Chromium (apt-get install chromium)"
        if os.environ.get("TMF629_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"TMF629_REQUIRE_CHROMIUM=1 but {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()
