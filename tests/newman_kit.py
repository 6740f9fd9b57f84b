"""Newman, pinned and cached, and what the comparison reads from its JSON report.

:func:`newman_executable` installs ``newman@NEWMAN_VERSION`` from the npm
registry into a cache directory once (under a file lock: pytest-xdist workers
may ask at the same time; about 66 MB in ``~/.cache/tmf629-sandbox/newman``, or
``$TMF629_CACHE_DIR/newman``) and returns the path of its executable, or ``None``
when node/npm are missing or ``TMF629_NO_NEWMAN=1`` declines the download.
:func:`run_newman` runs the published collection against API roots (in one
node process); :func:`verdict` and :func:`outcomes` reduce a Newman-shaped report
(Newman's own, or ctk-runner's ``report.json``) to what both tools must agree on.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NEWMAN_VERSION = "6.2.2"
CACHE_DIR = Path(os.environ.get("TMF629_CACHE_DIR",
                                Path.home() / ".cache" / "tmf629-sandbox")) / "newman"
PUBLISHED_KIT = Path(__file__).parent / "data" / "published-kit"
COLLECTION = PUBLISHED_KIT / "CTK-Customer-4.0.0.postman_collection.json"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def newman_executable() -> Path | None:
    """The cached Newman of the pinned version, installed on first use."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        return None
    executable = CACHE_DIR / "node_modules" / ".bin" / "newman"
    if os.environ.get("TMF629_NO_NEWMAN") == "1":
        return None  # declined: no download (the comparison with Newman skips, saying so)
    with locked(CACHE_DIR.parent / "newman.lock"):
        if _version(executable) != NEWMAN_VERSION:
            # No registry (offline): no Newman, and the caller says why it skips.
            subprocess.run(
                [npm, "install", "--prefix", str(CACHE_DIR), "--no-audit", "--no-fund",
                 "--loglevel=error", f"newman@{NEWMAN_VERSION}"],
                capture_output=True, text=True, timeout=300)
    return executable if _version(executable) == NEWMAN_VERSION else None


def _version(executable: Path) -> str | None:
    # Read from the package, not `newman --version`: loading Newman takes seconds.
    package = CACHE_DIR / "node_modules" / "newman" / "package.json"
    if not executable.exists() or not package.exists():
        return None
    version = json.loads(package.read_text(encoding="utf-8")).get("version")
    return version if isinstance(version, str) else None


@dataclass
class Result:
    """One tool's run: exit code and its Newman-shaped JSON report."""

    code: int
    report: dict[str, Any]


# Newman as a library: one node process runs the collection against every target
# at once, so node's start-up (seconds) is paid once, not once per target.
_RUN_ALL = """
const newman = require('newman');
const [collection, jobs] = [process.argv[1], JSON.parse(process.argv[2])];
Promise.all(jobs.map(job => new Promise(done => newman.run({
    collection, envVar: [{key: 'Customer', value: job.root}],
    timeoutRequest: job.timeout, reporters: ['json'], reporter: {json: {export: job.report}},
}, (err, summary) => done(err || summary.run.failures.length ? 1 : 0)))))
  .then(codes => console.log(JSON.stringify(codes)));
"""


def run_newman(executable: Path, jobs: list[tuple[str, Path]], timeout_ms: int,
               processes: int = 2) -> list[Result]:
    """Run the published collection against each ``(API root, report path)``.

    Each run is what ``newman run <collection> --env-var Customer=<root>
    --timeout-request <ms> -r json`` does, exit code included (1 when the run
    has failures). Newman's script sandbox keeps a core busy, so the jobs are
    shared among ``processes`` node processes.
    """
    node = shutil.which("node") or "node"
    env = {**os.environ, "NODE_PATH": str(executable.parent.parent)}
    chunks = [jobs[i::processes] for i in range(processes) if jobs[i::processes]]
    procs = [
        subprocess.Popen(
            [node, "-e", _RUN_ALL, str(COLLECTION), json.dumps(
                [{"root": root, "report": str(report), "timeout": timeout_ms}
                 for root, report in chunk])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for chunk in chunks
    ]
    codes: dict[Path, int] = {}
    for proc, chunk in zip(procs, chunks, strict=True):
        out, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"node running Newman failed: {err.strip()[-2000:]}")
        for code, (_, report) in zip(json.loads(out.strip().splitlines()[-1]), chunk,
                                     strict=True):
            codes[report] = code
    return [Result(codes[report], json.loads(report.read_text(encoding="utf-8")))
            for _, report in jobs]


@dataclass(frozen=True)
class Verdict:
    """What the certification report's first page says."""

    failed: bool
    requests: int
    failed_requests: int
    assertions: int
    failed_assertions: int
    failed_test_scripts: int

    def __str__(self) -> str:
        return (f"{'FAIL' if self.failed else 'PASS'} {self.requests} req "
                f"({self.failed_requests} failed), {self.assertions} assertions "
                f"({self.failed_assertions} failed), {self.failed_test_scripts} failed scripts")


def verdict(result: Result) -> Verdict:
    stats = result.report["run"]["stats"]
    return Verdict(
        failed=result.code != 0,
        requests=stats["requests"]["total"],
        failed_requests=stats["requests"]["failed"],
        assertions=stats["assertions"]["total"],
        failed_assertions=stats["assertions"]["failed"],
        failed_test_scripts=stats["testScripts"]["failed"],
    )


_ROOT = re.compile(r"https?://127\.0\.0\.1:\d+/")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def outcomes(result: Result) -> list[tuple[str, list[tuple[str, bool]]]]:
    """Per request: its name and its assertions' names and outcomes, in order.

    The target's address and generated ids are replaced by placeholders: each
    tool runs against its own fresh server.
    """
    def normal(name: str) -> str:
        return _UUID.sub("<uuid>", _ROOT.sub("<root>/", name))

    return [
        (execution["item"]["name"],
         [(normal(a["assertion"]), "error" not in a) for a in execution.get("assertions", [])])
        for execution in result.report["run"]["executions"]
    ]
