"""How the sandbox scales with its store: figures at 100 to 100,000 customers, over real HTTP.

For each size, builds a realistic store (:mod:`stores`: customers shaped like
the seed fixtures, unique ids and names, 40 % Approved) directly as a snapshot
file, starts the real server (``tmf629-sandbox``) on a free port, and measures
start-up time, RSS and the p50/p99 latency of each operation, spread over the
whole store. Clients are separate processes (``--clients``), each with its own
connection, so the load generator is not the bottleneck; a further process
patches while GET by id is measured again. Prints a Markdown table with each
figure's ratio to the smallest store. Nothing here asserts a time: machines
are shared and noisy, so the numbers are for reading and comparing.

    python bench/bench_api.py [--sizes 100,1000,10000,100000] [--requests 300] [--clients 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from re import escape as regex_escape
from typing import Any
from urllib.parse import urlencode

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stores import customers, write_store  # noqa: E402

from ctk_runner.embedded import SandboxProcess  # noqa: E402

Job = tuple[str, str, Any, tuple[int, ...]]  # method, url, JSON body or None, statuses


OK, LIST = (200,), (200, 206)


def run_jobs(jobs: Sequence[Job]) -> list[float]:
    """One client: the jobs in order on one connection; milliseconds each."""
    timings = []
    with requests.Session() as session:
        for method, url, body, expected in jobs:
            started = time.perf_counter()
            response = session.request(method, url, json=body)
            _ = response.content
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code not in expected:
                raise RuntimeError(f"{method} {url}: {response.status_code} "
                                   f"{response.text[:200]}")
    return timings


def patch_until(root: str, ids: list[str], stop: Any, done: Any) -> None:
    """A client patching random customers until ``stop`` is set."""
    rnd = random.Random(4)
    with requests.Session() as session:
        while not stop.is_set():
            ident = rnd.choice(ids)
            status = rnd.choice(["Approved", "Validated"])
            session.patch(f"{root}customer/{ident}", json={"status": status}).raise_for_status()
            with done.get_lock():
                done.value += 1


def measure(pool: ProcessPoolExecutor, clients: int, jobs: list[Job]) -> tuple[float, float]:
    chunks = [jobs[n::clients] for n in range(clients)]
    timings = sorted(t for part in pool.map(run_jobs, chunks) for t in part)
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    return statistics.median(timings), p99


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_size(size: int, args: argparse.Namespace, ctx: Any) -> dict[str, float]:
    rnd = random.Random(size)
    n = args.requests
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="tmf629-bench-") as tmp:
        path = Path(tmp) / "store.json"
        started = time.perf_counter()
        docs = customers(size)
        write_store(path, docs)
        built = time.perf_counter() - started
        ids = [doc["id"] for doc in docs]
        names = [doc["name"] for doc in docs]
        heavy = max(10, n // 6)
        # The first word of random customers' names: each matches a share of the whole store.
        prefixes = ["^" + regex_escape(rnd.choice(names).split()[0]) for _ in range(heavy)]
        new = customers(n, seed=size + 1)
        started = time.perf_counter()
        server = SandboxProcess(db=path, command=["tmf629-sandbox"],
                                extra_args=["--quiet", "--no-seed", "--threads", "8"],
                                startup_timeout=120)
        with server, ProcessPoolExecutor(args.clients, mp_context=ctx) as pool:
            figures["start-up (s)"] = time.perf_counter() - started
            figures["RSS after start (MiB)"] = rss_mib(server.pid)
            root = server.url
            measure(pool, args.clients, [("GET", f"{root}customer/{i}", None, OK)
                                         for i in rnd.sample(ids, min(20, size))])
            plan: list[tuple[str, list[Job]]] = [
                ("GET /customer/{id}", [("GET", f"{root}customer/{rnd.choice(ids)}", None, OK)
                                        for _ in range(n)]),
                ("GET /customer/{unknown id}", [("GET", f"{root}customer/{uuid.uuid4()}",
                                                 None, (404,)) for _ in range(n)]),
                ("POST /customer", [("POST", f"{root}customer",
                                     {k: v for k, v in doc.items() if k != "id"}, (201,))
                                    for doc in new]),
                ("PATCH /customer/{id}", [("PATCH", f"{root}customer/{rnd.choice(ids)}",
                                           {"status": rnd.choice(["Approved", "Validated"])},
                                           OK) for _ in range(n)]),
                ("?name=<one name>", [
                    ("GET", f"{root}customer?{urlencode({'name': rnd.choice(names)})}", None, OK)
                    for _ in range(n)]),
                ("?status=Approved&limit=100", [
                    ("GET", f"{root}customer?status=Approved&limit=100", None, LIST)
                    for _ in range(max(20, n // 3))]),
                ("?limit=1000", [("GET", f"{root}customer?limit=1000", None, LIST)
                                 for _ in range(max(10, n // 6))]),
                # Filters and sorts no index answers exactly: scans of the stored JSON.
                ("?contactMedium.mediumType=email&limit=100", [
                    ("GET", f"{root}customer?contactMedium.mediumType=email&limit=100", None,
                     LIST) for _ in range(heavy)]),
                ("?status=Approved&contactMedium.mediumType=email&limit=100", [
                    ("GET", f"{root}customer?status=Approved&contactMedium.mediumType=email"
                     "&limit=100", None, LIST) for _ in range(heavy)]),
                ("?sort=name&limit=100", [("GET", f"{root}customer?sort=name&limit=100", None,
                                           LIST) for _ in range(heavy)]),
                ("?name.regex=^<prefix>&limit=100", [
                    ("GET", f"{root}customer?{urlencode({'name.regex': prefix, 'limit': 100})}",
                     None, (200, 206)) for prefix in prefixes]),
            ]
            for label, jobs in plan:
                figures[f"{label} p50"], figures[f"{label} p99"] = measure(
                    pool, args.clients, jobs)
            stop, done = ctx.Event(), ctx.Value("i", 0)
            patcher = ctx.Process(target=patch_until, args=(root, ids, stop, done))
            patcher.start()
            while done.value < 20 and patcher.is_alive():
                time.sleep(0.05)
            try:
                p50, p99 = measure(pool, args.clients, [
                    ("GET", f"{root}customer/{rnd.choice(ids)}", None, OK) for _ in range(n)])
            finally:
                stop.set()
                patcher.join()
            figures["GET by id while patching p50"] = p50
            figures["GET by id while patching p99"] = p99
            figures["RSS after the writes (MiB)"] = rss_mib(server.pid)
    print(f"  {size:>7,} customers: store built in {built:.1f} s; patcher sent "
          f"{done.value} PATCHes during the concurrent GETs", file=sys.stderr)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000,100000",
                        help="store sizes, comma-separated (default: %(default)s)")
    parser.add_argument("--requests", type=int, default=300,
                        help="requests per single-document measurement (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=2,
                        help="client processes sharing each measurement (default: %(default)s)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    ctx = multiprocessing.get_context("spawn")
    print(f"load: {args.clients} client processes (one connection each), "
          f"+1 patching process for the concurrent row; server: tmf629-sandbox --threads 8",
          file=sys.stderr)
    results = {size: bench_size(size, args, ctx) for size in sizes}
    base = results[sizes[0]]
    header = "| figure | " + " | ".join(f"{s:,}" for s in sizes) + " |"
    print(header)
    print("|---" * (len(sizes) + 1) + "|")
    for key in base:
        cells = []
        for size in sizes:
            value = results[size][key]
            unit = "" if "(" in key else " ms"
            ratio = "" if size == sizes[0] else f" ({value / base[key]:.2f}×)"
            cells.append(f"{value:,.1f}{unit}{ratio}" if value >= 10 or "(" in key
                         else f"{value:.2f}{unit}{ratio}")
        print(f"| {key} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
