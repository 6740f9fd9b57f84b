"""The request path against bare Flask: ``GET /customer/{id}`` requests per second with wrk.

Three servers answer the same documents on the same waitress
(``sandbox.serving``) with the same number of threads: the sandbox as a user
starts it (``tmf629-sandbox``, the per-request log line on, written to a
file), the sandbox with ``--quiet``, and the bare Flask app of
:mod:`bare_flask` (a dict lookup and the same JSON encoding, nothing else).
wrk (one thread, ``--connections`` connections) requests ids drawn at random
from the whole store; the rounds alternate between the servers so a noisy
neighbour hurts each alike, and the table gives each server's median with its
range and its ratio to bare Flask (target: at least 0.75x). Nothing asserts a
time. Without ``wrk`` on the PATH the benchmark says so and exits 0.

    python bench/bench_request_path.py [--customers 1000] [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stores import customers, write_store  # noqa: E402

from ctk_runner.embedded import READY_LINE  # noqa: E402

TARGET = 0.75
BARE = "bare Flask, same waitress"
HERE = Path(__file__).resolve().parent
LUA = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
math.randomseed(629)
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""


@contextmanager
def serving(command: Sequence[str], log: Path) -> Iterator[tuple[str, int]]:
    """A server process (its request log to ``log``): its API root and pid, until the block
    ends."""
    with log.open("w", encoding="utf-8") as sink:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=sink,
                                stdin=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                match = READY_LINE.search(line)
                if match:
                    break
            else:
                raise RuntimeError(f"{command[0]} exited: {log.read_text()[-2000:]}")
            yield match.group("url"), proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def presented(root: str, count: int) -> list[dict[str, object]]:
    """Every customer as the sandbox answers it (href included), page by page."""
    found: list[dict[str, object]] = []
    with requests.Session() as session:
        while len(found) < count:
            page = session.get(f"{root}customer", params={"offset": len(found), "limit": 1000},
                               timeout=60).json()
            if not page:
                break
            found += page
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, script: Path, connections: int, seconds: int) -> tuple[float, int]:
    """Requests per second wrk reached and the requests it sent (non-2xx answers make it
    fail loudly)."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script),
                          url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    sent = re.search(r"(\d+) requests in", out)
    if found is None or sent is None:
        raise RuntimeError(f"no rate in wrk's output:\n{out}")
    return float(found.group(1)), int(sent.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=8, help="server threads, both servers")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench_request_path: skipped, wrk is not installed "
              "(apt-get install -y wrk)", file=sys.stderr)
        return
    docs = customers(args.customers)
    threads = ["--threads", str(args.threads)]
    with tempfile.TemporaryDirectory(prefix="tmf629-bench-") as tmp:
        folder = Path(tmp)
        for name in ("logged", "quiet"):
            write_store(folder / f"{name}.json", docs)
        sandbox = ["tmf629-sandbox", "--host", "127.0.0.1", "--port", "0", "--no-seed", *threads]
        with serving([*sandbox, "--db", str(folder / "logged.json")],
                     folder / "logged.log") as logged, \
             serving([*sandbox, "--db", str(folder / "quiet.json"), "--quiet"],
                     folder / "quiet.log") as quiet:
            shown = presented(logged[0], len(docs))
            (folder / "docs.json").write_text(json.dumps(shown), encoding="utf-8")
            with serving([sys.executable, str(HERE / "bare_flask.py"),
                          str(folder / "docs.json"), *threads], folder / "bare.log") as bare:
                path = folder / "paths.txt"
                prefix = "/" + logged[0].split("/", 3)[3]
                path.write_text("".join(f"{prefix}customer/{d['id']}\n" for d in shown))
                script = folder / "get.lua"
                script.write_text(LUA % path)
                targets = {BARE: bare, "sandbox as started (log line on)": logged,
                           "sandbox --quiet": quiet}
                rates: dict[str, list[float]] = {label: [] for label in targets}
                cpu: dict[str, list[float]] = {label: [] for label in targets}
                for url, _ in targets.values():  # warm-up: caches, first imports
                    wrk(url, script, args.connections, 2)
                for _ in range(args.rounds):
                    for label, (url, pid) in targets.items():
                        before = cpu_seconds(pid)
                        rate, sent = wrk(url, script, args.connections, args.seconds)
                        rates[label].append(rate)
                        cpu[label].append((cpu_seconds(pid) - before) / sent * 1e6)
            size = len(json.dumps(shown[0], ensure_ascii=False, separators=(",", ":")))
            logged_lines = sum(1 for _ in (folder / "logged.log").open())
    print(f"GET /customer/{{id}} over {len(shown):,} customers (~{size:,} B each), wrk 1 thread "
          f"x {args.connections} connections, {args.rounds} rounds of {args.seconds} s, "
          f"server threads {args.threads}; the logged sandbox wrote {logged_lines:,} log lines",
          file=sys.stderr)
    print_table(rates, cpu)


def print_table(rates: dict[str, list[float]], cpu: dict[str, list[float]]) -> None:
    """Each server's rate and server CPU per request, with its ratio to bare Flask's rate.

    The CPU column is the steadier figure on a shared machine: a neighbour's load
    moves the rates, hardly the CPU a request costs.
    """
    base = statistics.median(rates[BARE])
    base_cpu = statistics.median(cpu[BARE])
    print("| server | requests/s (median, range) | ratio to bare Flask (target) "
          "| server CPU per request | bare Flask's CPU / this |")
    print("|---|---|---|---|---|")
    for label, found in rates.items():
        median, used = statistics.median(found), statistics.median(cpu[label])
        bare = label == BARE
        ratio = "1" if bare else f"{median / base:.2f}x (>= {TARGET}x)"
        print(f"| {label} | {median:,.0f} ({min(found):,.0f}-{max(found):,.0f}) | {ratio} "
              f"| {used:,.0f} us | {'1' if bare else f'{base_cpu / used:.2f}x'} |")


if __name__ == "__main__":
    main()
