"""Latency, throughput and memory of the sandbox, measured over real HTTP.

Starts ``python -m sandbox`` on a free port with a temporary store, drives it
with ``requests`` and prints figures. Nothing here asserts a time: machines
are shared and noisy, so the numbers are for reading and comparing.

    python bench/bench_api.py [--customers 1000] [--requests 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from ctk_runner.embedded import SandboxProcess

BODY = {"name": "Bench Customer", "engagedParty": {"@referredType": "Organization", "id": "1"}}


def measure(label: str, count: int, call: Callable[[int], requests.Response]) -> None:
    timings = []
    for n in range(count):
        started = time.perf_counter()
        response = call(n)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"{label:<38} {count:>6} {statistics.median(timings):>9.2f} {p95:>9.2f} "
        f"{1000 * count / sum(timings):>9.0f}"
    )


def concurrent(label: str, url: str, threads: int, per_thread: int) -> None:
    def worker(_: int) -> int:
        with requests.Session() as session:
            for _ in range(per_thread):
                session.get(url).raise_for_status()
        return per_thread

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        done = sum(pool.map(worker, range(threads)))
    elapsed = time.perf_counter() - started
    print(f"{label:<38} {done:>6} {'':>9} {'':>9} {done / elapsed:>9.0f}")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000, help="store size to grow to")
    parser.add_argument("--requests", type=int, default=200, help="requests per measurement")
    args = parser.parse_args()

    # No list cap: "GET /customer (all N)" must really return all N.
    with SandboxProcess(extra_args=["--quiet", "--max-limit", "1000000"]) as sandbox:
        root = sandbox.url
        pid = sandbox.pid
        session = requests.Session()
        print(f"sandbox at {root}  (RSS at start {rss_mib(pid):.1f} MiB)")
        print(f"{'operation':<38} {'n':>6} {'p50 ms':>9} {'p95 ms':>9} {'req/s':>9}")
        ids: list[str] = []

        def create(n: int) -> requests.Response:
            response = session.post(f"{root}customer", json={**BODY, "name": f"Bench {n}"})
            ids.append(response.json()["id"])
            return response

        measure("POST /customer (25 → 25+n)", args.requests, create)
        measure(
            "GET /customer/{id}", args.requests, lambda n: session.get(f"{root}customer/{ids[n]}")
        )
        measure(
            "PATCH /customer/{id} (merge patch)",
            args.requests,
            lambda n: session.patch(f"{root}customer/{ids[n]}", json={"status": "Approved"}),
        )
        size = 25 + args.requests
        measure(f"GET /customer (all {size})", 20, lambda n: session.get(f"{root}customer"))
        while size < args.customers:
            create(size)
            size += 1
        measure(f"GET /customer (all {size})", 10, lambda n: session.get(f"{root}customer"))
        measure(
            f"GET /customer?name=… ({size} stored)",
            50,
            lambda n: session.get(f"{root}customer", params={"name": f"Bench {n}"}),
        )
        measure(
            f"GET /customer?fields=name ({size} stored)",
            10,
            lambda n: session.get(f"{root}customer", params={"fields": "name"}),
        )
        measure(
            f"GET /customer/{{id}} ({size} stored)",
            args.requests,
            lambda n: session.get(f"{root}customer/{ids[n]}"),
        )
        concurrent("8 threads GET /customer/{id}", f"{root}customer/{ids[0]}", 8, 50)
        store = Path(sandbox.db)
        print(
            f"RSS after {size} customers: {rss_mib(pid):.1f} MiB; "
            f"store file {store.stat().st_size / 1024:.0f} KiB"
        )


if __name__ == "__main__":
    main()
