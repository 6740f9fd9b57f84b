"""Start the sandbox as a separate process on a free port, for one run.

The harness may only speak HTTP to its target, so it never imports the
sandbox: it launches ``python -m sandbox`` with a fresh temporary store and
reads the API root from the line the sandbox prints once it is listening.
"""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

READY_LINE = re.compile(r"Serving TMF629 Customer API on (?P<url>\S+)")


class SandboxStartError(RuntimeError):
    """The sandbox process exited or stayed silent instead of listening."""


class SandboxProcess:
    """A sandbox server process; use as a context manager.

    ``url`` is the API root (ending in ``/tmf-api/customerManagement/v4/``).
    With ``db=None`` a temporary file store is created and removed on exit.
    """

    def __init__(
        self,
        *,
        db: str | Path | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 30.0,
        command: Sequence[str] | None = None,
    ) -> None:
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if db is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="tmf629-sandbox-")
            db = Path(self._tmpdir.name) / "sandbox-db.json"
        self.db = str(db)
        # ``command`` lets tests start the installed console script instead.
        launcher = list(command) if command else [sys.executable, "-u", "-m", "sandbox"]
        self.args = [
            *launcher, "--host", "127.0.0.1", "--port", "0", "--db", self.db, *extra_args,
        ]
        self.startup_timeout = startup_timeout
        self.url = ""
        self.output: list[str] = []
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> SandboxProcess:
        self._proc = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
        )
        lines: queue.Queue[str | None] = queue.Queue()
        # A reader thread keeps draining the pipe for the process's whole life,
        # so a chatty request log can never fill it and block the server.
        threading.Thread(target=self._pump, args=(lines,), daemon=True).start()
        try:
            while True:
                line = lines.get(timeout=self.startup_timeout)
                if line is None:
                    raise SandboxStartError(
                        "sandbox exited before listening:\n" + "".join(self.output)
                    )
                match = READY_LINE.search(line)
                if match:
                    self.url = match.group("url")
                    return self
        except queue.Empty:
            self.stop()
            raise SandboxStartError(
                f"sandbox did not start within {self.startup_timeout:.0f} s:\n"
                + "".join(self.output)
            ) from None

    def _pump(self, lines: queue.Queue[str | None]) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self.output.append(line)
            lines.put(line)
        lines.put(None)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    @property
    def pid(self) -> int:
        """The server's process id (for signals and memory readings)."""
        if self._proc is None:
            raise SandboxStartError("the sandbox was not started")
        return self._proc.pid

    def wait(self, timeout: float) -> int:
        """Wait for the process to end by itself; its exit code."""
        if self._proc is None:
            raise SandboxStartError("the sandbox was not started")
        return self._proc.wait(timeout=timeout)

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
