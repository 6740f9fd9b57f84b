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
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from re import escape as regex_escape
from typing import Any
from urllib.parse import urlencode

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import (  # noqa: E402
    LIST,
    OK,
    Target,
    latency_plan,
    measure,
    measure_plan,
    print_table,
    print_targets,
    rss_mib,
    sandbox,
    warm_up,
)
from stores import customers, write_store  # noqa: E402

#: Issue 19's file-store targets (at 100,000 customers): any equality filter, OR lists
#: included, index-served with exact counts; start-up and memory with the indexes.
TARGETS: list[Target] = [
    ("?contactMedium.mediumType=email&limit=100 p50", 20, "ms"),
    ("?characteristic.name=segment&limit=100 p50", 20, "ms"),
    ("?contactMedium.mediumType=email,phone&limit=100 p50", 20, "ms"),
    ("?status=Approved&contactMedium.mediumType=email&limit=100 p50", 20, "ms"),
    ("?name=<one name> p50", 20, "ms"),
    ("start-up (s)", 5, "s"),
    ("RSS after the writes (MiB)", 800, "MiB"),
]


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
        with sandbox(path) as server, ProcessPoolExecutor(args.clients, mp_context=ctx) as pool:
            figures["start-up (s)"] = time.perf_counter() - started
            figures["RSS after start (MiB)"] = rss_mib(server.pid)
            root = server.url
            warm_up(pool, args.clients, root, ids, rnd)
            plan = latency_plan(root, rnd, docs, new, n)
            plan.insert(1, ("GET /customer/{unknown id}", [
                ("GET", f"{root}customer/{uuid.uuid4()}", None, (404,)) for _ in range(n)]))
            # The common paths (tokens.COMMON_PATHS) are indexed at start-up; the first filter
            # on any other path builds its token index: one pass over the store.
            for label, first in (("first ?characteristic.name= (indexed at start-up) ms",
                                  "characteristic.name=segment"),
                                 ("first ?account.id= (builds its index) ms",
                                  f"account.id={docs[0].get('account', [{}])[0].get('id')}")):
                started = time.perf_counter()
                requests.get(f"{root}customer?{first}&limit=100",
                             timeout=600).raise_for_status()
                figures[label] = (time.perf_counter() - started) * 1000
            for warm in ("contactMedium.mediumType=email", "creditProfile.creditScore.gte=700"):
                requests.get(f"{root}customer?{warm}&limit=1", timeout=600).raise_for_status()
            plan += [
                # Equality on any path and ordering operators: the token indexes.
                ("?contactMedium.mediumType=email&limit=100", [
                    ("GET", f"{root}customer?contactMedium.mediumType=email&limit=100", None,
                     LIST) for _ in range(heavy)]),
                ("?status=Approved&contactMedium.mediumType=email&limit=100", [
                    ("GET", f"{root}customer?status=Approved&contactMedium.mediumType=email"
                     "&limit=100", None, LIST) for _ in range(heavy)]),
                ("?characteristic.name=segment&limit=100", [
                    ("GET", f"{root}customer?characteristic.name=segment&limit=100", None,
                     LIST) for _ in range(heavy)]),
                ("?contactMedium.mediumType=email,phone&limit=100", [
                    ("GET", f"{root}customer?contactMedium.mediumType=email,phone&limit=100",
                     None, LIST) for _ in range(heavy)]),
                ("?creditProfile.creditScore.gte=700&sort=-name&limit=20", [
                    ("GET", f"{root}customer?creditProfile.creditScore.gte=700&sort=-name"
                     "&limit=20", None, LIST) for _ in range(heavy)]),
                ("?sort=name&limit=100", [("GET", f"{root}customer?sort=name&limit=100", None,
                                           LIST) for _ in range(heavy)]),
                ("?name.regex=^<prefix>&limit=100", [
                    ("GET", f"{root}customer?{urlencode({'name.regex': prefix, 'limit': 100})}",
                     None, (200, 206)) for prefix in prefixes]),
            ]
            measure_plan(pool, args.clients, plan, figures)
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
    print_table(sizes, results)
    print_targets(sizes[-1], results[sizes[-1]], TARGETS)


if __name__ == "__main__":
    main()
