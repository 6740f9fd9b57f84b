"""What the benchmarks share: client processes, latency figures, the server and the table.

Clients are separate processes (each with its own connection) that run a list
of jobs and time each one, so the load generator is not the bottleneck.
:func:`latency_plan` is the set of operations every store-size table
measures, spread over the whole store; :func:`print_table` prints such a
table with each figure's ratio to the smallest store. Nothing here asserts a
time.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

from ctk_runner.embedded import SandboxProcess

#: method, url, JSON body or None, statuses; a method written "~PATCH" is sent, not timed
#: (a write before each timed read, so that nothing the read reuses is left from the last).
Job = tuple[str, str, Any, tuple[int, ...]]
Plan = list[tuple[str, list[Job]]]

OK, LIST = (200,), (200, 206)


def run_jobs(jobs: Sequence[Job]) -> list[float]:
    """One client: the jobs in order on one connection; milliseconds each."""
    timings = []
    with requests.Session() as session:
        for method, url, body, expected in jobs:
            started = time.perf_counter()
            response = session.request(method.lstrip("~"), url, json=body)
            _ = response.content
            if not method.startswith("~"):
                timings.append((time.perf_counter() - started) * 1000)
            if response.status_code not in expected:
                raise RuntimeError(f"{method} {url}: {response.status_code} "
                                   f"{response.text[:200]}")
    return timings


def measure(pool: ProcessPoolExecutor, clients: int, jobs: list[Job]) -> tuple[float, float]:
    """p50 and p99 in milliseconds of ``jobs`` shared by ``clients`` client processes."""
    chunks = [jobs[n::clients] for n in range(clients)]
    timings = sorted(t for part in pool.map(run_jobs, chunks) for t in part)
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    return statistics.median(timings), p99


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sandbox(db: str | Path) -> SandboxProcess:
    """The real server on a prepared store (never seeded), 8 request threads."""
    return SandboxProcess(db=db, command=["tmf629-sandbox"],
                          extra_args=["--quiet", "--no-seed", "--threads", "8"],
                          startup_timeout=120)


def warm_up(pool: ProcessPoolExecutor, clients: int, root: str, ids: list[str],
            rnd: random.Random) -> None:
    measure(pool, clients, [("GET", f"{root}customer/{i}", None, OK)
                            for i in rnd.sample(ids, min(20, len(ids)))])


def latency_plan(root: str, rnd: random.Random, docs: list[dict[str, Any]],
                 new: list[dict[str, Any]], n: int) -> Plan:
    """The operations of every store-size table: reads by id and by name over the
    whole store (``docs``), creates of ``new``, patches, and list pages."""
    ids, names = [d["id"] for d in docs], [d["name"] for d in docs]
    return [
        ("GET /customer/{id}", [("GET", f"{root}customer/{rnd.choice(ids)}", None, OK)
                                for _ in range(n)]),
        ("POST /customer", [("POST", f"{root}customer",
                             {k: v for k, v in d.items() if k != "id"}, (201,)) for d in new]),
        ("PATCH /customer/{id}", [("PATCH", f"{root}customer/{rnd.choice(ids)}",
                                   {"status": rnd.choice(["Approved", "Validated"])}, OK)
                                  for _ in range(n)]),
        ("?name=<one name>", [
            ("GET", f"{root}customer?{urlencode({'name': rnd.choice(names)})}", None, OK)
            for _ in range(n)]),
        ("?status=Approved&limit=100", [
            ("GET", f"{root}customer?status=Approved&limit=100", None, LIST)
            for _ in range(max(20, n // 3))]),
        ("?limit=1000", [("GET", f"{root}customer?limit=1000", None, LIST)
                         for _ in range(max(10, n // 6))]),
    ]


def measure_plan(pool: ProcessPoolExecutor, clients: int, plan: Plan,
                 figures: dict[str, float]) -> None:
    for label, jobs in plan:
        # A read timed right after a write is one client's: with two, one client's read
        # could follow the other's and find what that one had just counted.
        sharing = 1 if any(job[0].startswith("~") for job in jobs) else clients
        figures[f"{label} p50"], figures[f"{label} p99"] = measure(pool, sharing, jobs)


#: A target: the figure's name, the most it may be, and what it is about.
Target = tuple[str, float, str]


def print_targets(size: int, figures: dict[str, float], targets: list[Target]) -> None:
    """A Markdown table of the targets at ``size``: each figure, its target, met or not."""
    print(f"\nTargets at {size:,}:\n")
    print("| figure | measured | target | met |")
    print("|---|---|---|---|")
    for key, most, unit in targets:
        value = figures.get(key)
        shown = "not measured" if value is None else f"{value:,.1f} {unit}"
        met = "" if value is None else "yes" if value <= most else "**no**"
        print(f"| {key} | {shown} | <= {most:,g} {unit} | {met} |")


def print_table(sizes: list[int], results: dict[int, dict[str, float]]) -> None:
    """A Markdown table: one column per store size, ratios to the smallest."""
    base = results[sizes[0]]
    print("| figure | " + " | ".join(f"{s:,}" for s in sizes) + " |")
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
