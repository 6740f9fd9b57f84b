"""``ctk-runner`` as a real process: Ctrl-C mid-run, and the progress bar on a terminal."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

try:
    import ctk_faults
    import ctk_gateways
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests import ctk_faults, ctk_gateways  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _default_sigint() -> None:
    # A worker may ignore SIGINT, and a child inherits that; a user's shell does not.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_mid_run_still_deletes_what_was_created(tmp_path: Path) -> None:
    stand_in = ctk_faults.StandIn()
    slow = ctk_gateways.Slow(stand_in, ctk_gateways.request_is("GET"), delay=0.4)
    with ctk_faults.serve(slow) as url:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ctk_runner", "--target-url", url, "--report-dir", "out"],
            cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, preexec_fn=_default_sigint)
        try:
            deadline = time.monotonic() + 60
            while len(stand_in.customers) < 27 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(stand_in.customers) == 27, "the run never created its customers"
            time.sleep(0.2)  # inside a slow GET, after the creates
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 2, out + err
        assert "interrupted" in err.lower() and "Traceback" not in err
        # Checked on the server: nothing the run created is left.
        assert sorted(stand_in.customers) == [f"seed-{n:03d}" for n in range(1, 26)]
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert [c["ok"] for c in report["run"]["cleanup"]] == [True, True]
    assert len(report["run"]["executions"]) < 15


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    pty = pytest.importorskip("pty")
    fcntl = pytest.importorskip("fcntl")
    termios = pytest.importorskip("termios")
    with ctk_faults.serve(ctk_faults.StandIn()) as url:
        leader, follower = pty.openpty()
        # A new pseudo-terminal is 0 columns wide; a real one is not.
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        proc = subprocess.Popen(
            [sys.executable, "-m", "ctk_runner", "--target-url", url, "--report-dir", "out"],
            cwd=tmp_path, env={**_env(), "COLUMNS": "120"}, stdout=follower, stderr=follower,
            stdin=subprocess.DEVNULL)
        os.close(follower)
        chunks: list[bytes] = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not data:
                break
            chunks.append(data)
        os.close(leader)
        assert proc.wait(timeout=60) == 0
    output = b"".join(chunks).decode("utf-8", "replace")
    assert "[ 1/15] N1 /customer" in output  # the request lines, as without a terminal
    assert "15/15 requests" in output or "/15 requests" in output  # the bar
    assert "\r" in output  # redrawn in place
    assert "Verdict (certified build, ctk profile): PASSED" in output


def test_the_pytest_plugin_reads_the_deployment_options_from_its_config(tmp_path: Path) -> None:
    try:
        from test_ctk_cli import plugin_args
    except ImportError:  # tests/ imported as a package (importlib import mode)
        from tests.test_ctk_cli import plugin_args  # type: ignore[no-redef]

    app = ctk_gateways.Gateway(ctk_faults.StandIn(), echo=True)
    with ctk_faults.serve(app) as url:
        token = url.split("/tmf-api/")[0] + ctk_gateways.TOKEN_PATH
        (tmp_path / "config.json").write_text(json.dumps({"url": url, "ctk-runner": {
            "auth": "oauth2-client-credentials", "token-url": token, "client-id": "ctk-client",
            "secret-env": "GATEWAY_SECRET", "rate": 100}}))
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", *plugin_args(), "--pyargs", "ctk_runner",
             "--ctk-config", "config.json", "--ctk-report-dir", "r", "--ctk-cleanup",
             "-p", "no:cacheprovider", "-p", "no:randomly"],
            cwd=tmp_path, env={**_env(), "GATEWAY_SECRET": "s3cr3t-client-secret"},
            capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(app.token_requests) == 1 and app.refused == []
    report = (tmp_path / "r" / "report.json").read_text(encoding="utf-8")
    assert all(token not in report for token in app.issued)
    assert len(app.app.customers) == 25  # type: ignore[attr-defined]
