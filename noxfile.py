"""Developer sessions: ``nox -s tests``, ``lint``, ``sandbox``, ``ctk``, ``bench``."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "tests"]


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite, in parallel."""
    session.install("-e", ".[test]")
    session.run("pytest", "-n", "auto", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, and mypy --strict (settings in pyproject.toml)."""
    session.install("-e", ".[test]")
    session.run("ruff", "check", ".")
    session.run("mypy")


@nox.session
def sandbox(session: nox.Session) -> None:
    """Serve the sandbox; extra arguments go to ``tmf629-sandbox``."""
    session.install("-e", ".")
    session.run("tmf629-sandbox", *session.posargs)


@nox.session
def ctk(session: nox.Session) -> None:
    """The conformance harness against a fresh embedded sandbox."""
    session.install("-e", ".")
    session.run("ctk-runner", "--sandbox", *(session.posargs or ["--profile", "strict"]))


@nox.session
def bench(session: nox.Session) -> None:
    """Throughput, latency and memory figures of the sandbox (printed, never asserted):
    the request path against bare Flask (needs ``wrk``; skipped with a message without
    it), the file store, then PostgreSQL (``TMF629_POSTGRES_URL``'s server, if it
    answers), whose table goes on to 1,000,000 customers (about 15 GB of disk and a quarter of
    an hour to load on two cores). Extra arguments replace both store-size benchmarks' own
    (``nox -s bench -- --sizes 100,1000`` for a quick run)."""
    session.install("-e", ".")
    session.run("python", "bench/bench_request_path.py")
    session.run("python", "bench/bench_api.py", *session.posargs)
    admin = os.environ.get("TMF629_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    sizes = session.posargs or ["--sizes", "100,1000,10000,100000,1000000"]
    session.run("python", "bench/bench_postgres.py", "--admin-url", admin, *sizes)
