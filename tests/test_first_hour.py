"""A newcomer's first hour (issue 21): no dirty tree, no cryptic message, no hidden wait.

Each test starts the real commands: ``tmf629-sandbox`` on a real port inside a
scratch git checkout, a sandbox on a port already taken, ``ctk-runner --help``,
and a harness run against a gateway that answers 503 with ``Retry-After``
whose console is read while the run waits.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import requests

from ctk_runner.embedded import SandboxProcess
from tests import ctk_faults, ctk_gateways
from tests.conftest import MINIMAL

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_quick_start_leaves_the_checkout_clean(tmp_path: Path) -> None:
    checkout = tmp_path / "clone"
    checkout.mkdir()
    shutil.copy(ROOT / ".gitignore", checkout / ".gitignore")
    git = ["git", "-C", str(checkout)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", ".gitignore"], check=True)
    subprocess.run([*git, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "i"],
                   check=True)
    def status() -> str:
        return subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True,
                              check=True).stdout

    # The default store name, in the checkout: the store, its lock and write journal.
    with SandboxProcess(db=checkout / "sandbox-db.json") as sandbox:
        created = requests.post(f"{sandbox.url}customer", json={**MINIMAL, "name": "Tidy"},
                                timeout=10)
        assert created.status_code == 201
        running = sorted(p.name for p in checkout.iterdir())
        assert "sandbox-db.json.lock" in running
        assert any(".journal." in name for name in running)
        assert status() == ""  # while it serves
    assert status() == ""  # and after it stopped


def test_a_busy_port_names_the_port_option(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", str(port),
             "--db", str(tmp_path / "db.json")],
            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"port {port}" in result.stderr and "already in use" in result.stderr
    assert "--port" in result.stderr and "Errno" not in result.stderr


@pytest.mark.parametrize("command", ["ctk-runner", "tmf629-sandbox"])
def test_help_prints_no_doubled_percent(command: str) -> None:
    module = "ctk_runner.cli" if command == "ctk-runner" else "sandbox"
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                            text=True, timeout=60, check=True)
    assert "%%" not in result.stdout and "%(" not in result.stdout
    if command == "ctk-runner":
        text = " ".join(result.stdout.split())
        assert "N%|Nms" in text and "the default already; --keep-data keeps them" in text


class Watching:
    """A gateway that, when the retried request arrives, reads what the runner has printed."""

    def __init__(self, app: Any, console: Path) -> None:
        self.app, self.console = app, console
        self.printed_before_retry: list[bool] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self.lock:
            hits = len(self.app.seen)
        if hits >= 1 and environ["REQUEST_METHOD"] == "POST":
            self.printed_before_retry.append("Retry: POST" in self.console.read_text())
        answer: Iterable[bytes] = self.app(environ, start_response)
        return answer


def test_retries_are_shown_while_the_runner_waits(tmp_path: Path) -> None:
    throttle = ctk_gateways.Throttle(ctk_faults.StandIn(),
                                     ctk_gateways.request_is("POST", "/customer"),
                                     status="503 Service Unavailable", retry_after="1")
    console = tmp_path / "console.txt"
    gateway = Watching(throttle, console)
    with ctk_faults.serve(gateway) as url, console.open("w") as out:
        code = subprocess.run(
            [sys.executable, "-m", "ctk_runner.cli", "--target-url", url, "--report-dir",
             str(tmp_path / "report")],
            stdout=out, stderr=subprocess.STDOUT, timeout=300, check=False).returncode
    text = console.read_text()
    assert code == 0, text
    assert gateway.printed_before_retry and all(gateway.printed_before_retry)
    retry_line = text.index("Retry: POST")
    assert "(waiting)" in text[retry_line:].splitlines()[0]
    verdict = max(text.rfind("PASSED"), text.rfind("FAILED"))
    assert retry_line < verdict  # before the verdict, not only after it
