"""Hostile input against the real ``tmf629-sandbox`` process, as a table.

Every case asserts the status, a TMF ``Error`` JSON body (unless waitress
answers itself, as docs/limits.md documents), an unchanged store, a bounded
resident set (``VmRSS`` from ``/proc``) and a health request answered
promptly afterwards. The read-only table shares one server per module.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from ctk_runner.embedded import SandboxProcess
from tests.conftest import MINIMAL, wait_until
from tests.pg_support import scratch_database

#: Generous for a sandbox holding a few megabytes: the unbounded cases grew to gigabytes.
RSS_BOUND_KB = 400 * 1024
#: "Promptly": far above a normal answer, far below the stalls the cases used to cause.
HEALTH_TIMEOUT = 2.0
LONG_NAME = "a" * 5000
JSON = "application/json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
QUERY_PATCH = "application/json-patch-query+json"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads")


def deep(levels: int, *, objects: bool = False) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"k": value} if objects else [value]
    return value


def deep_text(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    #: Relative to the server root (not the API root), "{id}" is the target customer.
    path: str
    status: int
    fragment: str = ""
    media_type: str = JSON
    #: The body: bytes as they are, anything else as JSON; a callable is built lazily.
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Waitress answers before the app can: plain text, documented in docs/limits.md.
    by_waitress: bool = False


API = "/tmf-api/customerManagement/v4"
ONE = f"{API}/customer/{{id}}"
CUSTOMER_WITH = lambda **extra: {**MINIMAL, **extra}  # noqa: E731
CHARACTERISTIC = lambda value: CUSTOMER_WITH(  # noqa: E731
    characteristic=[{"name": "deep", "value": value}])
EVENT = {"eventId": "e1", "eventTime": "2024-01-01T00:00:00Z", "eventType": "CustomerCreateEvent",
         "event": {"customer": {"id": "1", **MINIMAL}}}
BOMB = "(?:(?:a{999}){999}){999}"

CASES = [
    # -- regular expressions: size, counts, time --------------------------------------
    Case("regex-nested-counts", "GET", f"{API}/customer?name.regex={BOMB}", 400, "expands to"),
    Case("regex-product", "GET", f"{API}/customer?name.regex=(?:a{{999}}){{15}}", 400,
         "expands to"),
    Case("regex-big-count", "GET", f"{API}/customer?name.regex=a{{99999999999}}", 400,
         "above 1000"),
    Case("regex-fuzzy", "GET", f"{API}/customer?name.regex=(?:abc){{e<=3}}", 400, "fuzzy"),
    Case("regex-long", "GET", f"{API}/customer?name.regex={'a' * 300}", 400, "longer than 256"),
    Case("regex-invalid", "GET", f"{API}/customer?name.regex=(", 400, "invalid regular"),
    Case("regex-backtracking", "GET", f"{API}/customer?name.regex=(a%2B)%2Bb", 400,
         "takes too long"),
    Case("regex-in-admin", "GET", f"/admin/deliveries?url.regex={BOMB}", 400, "expands to"),
    Case("regex-in-patch-query", "PATCH", ONE, 400, "expands to", QUERY_PATCH,
         [{"op": "replace", "path": f"/contactMedium/preferred?mediumType.regex={BOMB}",
           "value": True}]),
    Case("regex-in-hub-query", "POST", f"{API}/hub", 400, "expands to", JSON,
         {"callback": "http://127.0.0.1:9/", "query": f"name.regex={BOMB}"}),
    # -- nesting, numbers, text --------------------------------------------------------
    Case("deep-array-create", "POST", f"{API}/customer", 400, "nested more than 64", JSON,
         lambda: CHARACTERISTIC(deep(100))),
    Case("deep-object-create", "POST", f"{API}/customer", 400, "nested more than 64", JSON,
         lambda: CHARACTERISTIC(deep(600, objects=True))),
    Case("deep-raw-create", "POST", f"{API}/customer", 400, "nested more than 64", JSON,
         lambda: deep_text(200_000).encode()),
    Case("deep-merge-patch", "PATCH", ONE, 400, "nested more than 64", MERGE,
         lambda: {"characteristic": [{"name": "d", "value": deep(488)}]}),
    Case("deep-json-patch", "PATCH", ONE, 400, "nested more than 64", JSON_PATCH,
         lambda: b'[{"op":"add","path":"/characteristic","value":' + deep_text(980).encode()
         + b"}]"),
    Case("deep-hub", "POST", f"{API}/hub", 400, "nested more than 64", JSON,
         lambda: {"callback": "http://127.0.0.1:9/", "query": deep(100)}),
    Case("deep-listener", "POST", f"{API}/listener/customerCreateEvent", 400,
         "nested more than 64", JSON, lambda: {**EVENT, "extra": deep(300)}),
    Case("huge-integer", "POST", f"{API}/customer", 400, "at most 100", JSON,
         lambda: f'{{"name":"n","engagedParty":{{"id":"1"}},"x":{"9" * 4301}}}'.encode()),
    Case("huge-float", "POST", f"{API}/customer", 400, "too large", JSON,
         b'{"name":"n","engagedParty":{"id":"1"},"x":1e999}'),
    Case("nan", "PATCH", ONE, 400, "NaN", MERGE, b'{"x": NaN}'),
    Case("surrogate-create", "POST", f"{API}/customer", 400, "lone surrogate", JSON,
         b'{"name":"\\ud800","engagedParty":{"id":"1"}}'),
    Case("surrogate-key", "POST", f"{API}/customer", 400, "lone surrogate", JSON,
         b'{"name":"n","engagedParty":{"id":"1"},"\\udc00":1}'),
    Case("surrogate-patch", "PATCH", ONE, 400, "lone surrogate", MERGE,
         b'{"name":"\\udfff"}'),
    Case("surrogate-hub", "POST", f"{API}/hub", 400, "lone surrogate", JSON,
         b'{"callback":"http://127.0.0.1:9/\\ud800"}'),
    Case("surrogate-listener", "POST", f"{API}/listener/customerCreateEvent", 400,
         "lone surrogate", JSON, b'{"eventId":"\\ud800"}'),
    Case("invalid-utf8", "POST", f"{API}/customer", 400, "not valid JSON", JSON,
         b'{"name":"\xff\xfe","engagedParty":{"id":"1"}}'),
    # -- mandatory attributes ----------------------------------------------------------
    Case("merge-removes-name", "PATCH", ONE, 400, "name cannot be removed", MERGE,
         {"name": None}),
    Case("json-patch-removes-name", "PATCH", ONE, 400, "name cannot be removed", JSON_PATCH,
         [{"op": "remove", "path": "/name"}]),
    Case("json-patch-removes-type", "PATCH", ONE, 400, "@type cannot be removed", JSON_PATCH,
         [{"op": "remove", "path": "/@type"}]),
    Case("json-patch-removes-party", "PATCH", ONE, 400, "engagedParty", JSON_PATCH,
         [{"op": "remove", "path": "/engagedParty"}]),
    Case("json-patch-removes-id", "PATCH", ONE, 400, "'id' cannot be changed", JSON_PATCH,
         [{"op": "remove", "path": "/id"}]),
    Case("json-patch-removes-href", "PATCH", ONE, 400, "'href' cannot be changed", JSON_PATCH,
         [{"op": "remove", "path": "/href"}]),
    # -- queries, paths, bytes ---------------------------------------------------------
    Case("many-parameters", "GET", f"{API}/customer?" + "a=1&" * 25_000 + "b=1", 414,
         "at most 16384"),
    Case("too-many-parameters", "GET", f"{API}/customer?" + "a=1&" * 200 + "b=1", 400,
         "at most 100"),
    Case("huge-query", "GET", f"{API}/customer?name=" + "x" * 262_144, 431,
         by_waitress=True),
    Case("offset-plus", "GET", f"{API}/customer?offset=%2B5", 400, "ASCII digits"),
    Case("limit-underscore", "GET", f"{API}/customer?limit=1_0", 400, "ASCII digits"),
    Case("limit-spaces", "GET", f"{API}/customer?limit=%205%20", 400, "ASCII digits"),
    Case("limit-arabic-indic", "GET", f"{API}/customer?limit=%D9%A5", 400, "ASCII digits"),
    Case("double-slash", "GET", f"{API}//customer", 404, "No resource"),
    Case("static-double-slash", "GET", "/static//x", 404, "No resource"),
    Case("encoded-invalid-bytes", "GET", f"{API}/customer/%ff%fe", 404, "No customer"),
    Case("raw-invalid-bytes", "GET", f"{API}/\udcff\udcfe", 400, by_waitress=True),
    Case("body-too-large", "POST", f"{API}/customer", 413, "bytes at most", JSON,
         lambda: b'{"name":"' + b"x" * (1024 * 1024) + b'"}'),
    Case("callback-backslash", "POST", f"{API}/hub", 400, "backslash", JSON,
         {"callback": "http://127.0.0.1\\@1.1.1.1/"}),
]


BACKENDS = ["tinydb", "postgresql"]


def on_postgres(case: Case) -> bool:
    """The cases that reach the store or its queries: every body, regexes, many parameters
    (what waitress answers, or the HTTP layer before any store, is the same on both).

    Not ``(a+)+b``: PostgreSQL's regex engine does not backtrack, so it answers at once;
    its statement timeout has its own test in tests/test_postgres_query.py.
    """
    return not case.by_waitress and case.name != "regex-backtracking" and (
        case.method != "GET" or ".regex=" in case.path or "parameters" in case.name)


@pytest.fixture(scope="module")
def tinydb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    db = tmp_path_factory.mktemp("hostile") / "db.json"
    with SandboxProcess(db=db, extra_args=["--quiet"], command=["tmf629-sandbox"]) as process:
        yield process


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[SandboxProcess]:
    """One sandbox process on a PostgreSQL database of its own, dropped at the end."""
    with scratch_database() as url, SandboxProcess(
            db=url, extra_args=["--quiet"], command=["tmf629-sandbox"]) as process:
        yield process


@pytest.fixture
def server(request: pytest.FixtureRequest) -> SandboxProcess:
    """The shared server of the backend the test is parametrized with (TinyDB if none)."""
    backend = getattr(request, "param", "tinydb")
    process: SandboxProcess = request.getfixturevalue(f"{backend}_server")
    return process


_targets: dict[str, str] = {}


@pytest.fixture
def target(server: SandboxProcess) -> str:
    """A customer with a 5,000-character name (food for backtracking regexes), one per server."""
    if server.url not in _targets:
        response = requests.post(f"{server.url}customer", json=CUSTOMER_WITH(
            name=LONG_NAME, contactMedium=[{"mediumType": "email", "preferred": False,
                                            "characteristic": {"emailAddress": "a@b.example"}}]),
            timeout=10)
        assert response.status_code == 201
        _targets[server.url] = str(response.json()["id"])
    return _targets[server.url]


def base_of(server: SandboxProcess) -> str:
    return server.url.split(API)[0]


def snapshot(server: SandboxProcess) -> list[Any]:
    response = requests.get(f"{server.url}customer", timeout=10)
    assert response.status_code == 200
    return sorted(response.json(), key=lambda c: c["id"])


def raw_request(base: str, method: str, path: str, headers: dict[str, str],
                body: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request over a plain socket: the path goes out byte for byte."""
    host, port = base.removeprefix("http://").split(":")
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
            f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    data = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server may answer and close before reading everything
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    reply = b"".join(chunks)
    head_bytes, _, payload = reply.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    answer_headers = {k.lower(): v.strip() for k, _, v in (line.partition(":")
                                                         for line in lines[1:])}
    return status, answer_headers, payload


def encoded(case: Case) -> bytes:
    body = case.body() if callable(case.body) else case.body
    if body is None:
        return b""
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def assert_healthy(server: SandboxProcess) -> None:
    response = requests.get(server.url, timeout=HEALTH_TIMEOUT)
    assert response.status_code == 200
    assert rss_kb(server.pid) < RSS_BOUND_KB


@pytest.mark.parametrize(("server", "case"), [
    pytest.param(backend, case, id=f"{backend}-{case.name}")
    for backend in BACKENDS for case in CASES if backend == "tinydb" or on_postgres(case)],
    indirect=["server"])
def test_hostile_request(server: SandboxProcess, target: str, case: Case) -> None:
    before = snapshot(server)
    headers = {"Content-Type": case.media_type, **case.headers} if case.body is not None \
        else dict(case.headers)
    status, answer_headers, payload = raw_request(
        base_of(server), case.method, case.path.replace("{id}", target), headers, encoded(case))
    assert status == case.status, payload[:300]
    if case.by_waitress:
        assert answer_headers["content-type"].startswith("text/plain")
    else:
        assert answer_headers["content-type"] == "application/json;charset=utf-8"
        assert answer_headers["x-content-type-options"] == "nosniff"
        assert answer_headers["cache-control"] == "no-store"
        error = json.loads(payload)
        assert error["@type"] == "Error" and error["status"] == str(case.status)
        assert case.fragment in error["message"], error["message"]
    assert snapshot(server) == before
    assert_healthy(server)


def test_regex_flood_leaves_other_requests_their_latency(server: SandboxProcess,
                                                         target: str) -> None:
    bomb = f"{server.url}customer?name.regex=(a%2B)%2Bb"
    health: list[int] = []

    def probe() -> None:
        health.append(requests.get(server.url, timeout=HEALTH_TIMEOUT).status_code)

    with ThreadPoolExecutor(16) as pool:
        answers = [pool.submit(requests.get, bomb, timeout=30) for _ in range(16)]
        prober = threading.Thread(target=probe)
        prober.start()
        prober.join()
        statuses = {future.result().status_code for future in answers}
    # Two slots: the rest are turned away at once (503) rather than holding server threads.
    assert statuses <= {400, 503} and 400 in statuses
    assert health == [200]
    assert_healthy(server)


def test_forwarded_headers_from_a_stranger_change_nothing(server: SandboxProcess,
                                                          target: str) -> None:
    response = requests.post(f"{server.url}customer", json=MINIMAL, timeout=10,
                             headers={"X-Forwarded-Host": "evil.example",
                                      "X-Forwarded-Proto": "https"})
    assert response.status_code == 201
    assert "evil.example" not in response.headers["Location"]
    assert response.json()["href"].startswith(server.url.split(API)[0])
    assert requests.delete(response.json()["href"], timeout=10).status_code == 204


def test_root_lists_the_api(server: SandboxProcess) -> None:
    response = requests.get(base_of(server) + "/", timeout=10)
    assert response.status_code == 200
    assert response.json()["apis"][0]["url"] + "/" == server.url


# -- stateful cases: a server of their own ------------------------------------------------


@pytest.fixture
def small_server(request: pytest.FixtureRequest,
                 tmp_path: Path) -> Iterator[Callable[..., SandboxProcess]]:
    """Starts servers of their own, on the backend the test is parametrized with."""
    started: list[SandboxProcess] = []
    with contextlib.ExitStack() as stack:
        postgresql = getattr(request, "param", "tinydb") == "postgresql"
        url = stack.enter_context(scratch_database()) if postgresql else None

        def start(*args: str) -> SandboxProcess:
            process = SandboxProcess(db=url or tmp_path / f"db{len(started)}.json",
                                     extra_args=["--quiet", "--no-seed", *args],
                                     command=["tmf629-sandbox"]).start()
            started.append(process)
            return process

        yield start
        for process in started:
            process.stop()


each_backend = pytest.mark.parametrize("small_server", BACKENDS, indirect=True)


@each_backend
def test_many_subscriptions_cost_a_create_nothing(
        small_server: Callable[..., SandboxProcess]) -> None:
    server = small_server("--max-subscriptions", "300", "--delivery-attempts", "1")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    with ThreadPoolExecutor(8) as pool:
        registered = list(pool.map(lambda _: requests.post(
            f"{server.url}hub", json={"callback": dead}, timeout=10).status_code, range(300)))
    assert registered == [201] * 300
    over = requests.post(f"{server.url}hub", json={"callback": dead}, timeout=10)
    assert over.status_code == 403 and over.json()["reason"] == "Too many subscriptions"
    for _ in range(3):
        created = requests.post(f"{server.url}customer", json=MINIMAL, timeout=HEALTH_TIMEOUT)
        assert created.status_code == 201
        assert_healthy(server)
    # 300 subscriptions, 900 events: a handful of delivery threads, not one per subscription.
    assert threads_of(server.pid) < 8 + 4 + 10


@each_backend
def test_the_sink_keeps_a_bounded_number_of_bytes(
        small_server: Callable[..., SandboxProcess]) -> None:
    server = small_server("--sink-max-bytes", str(2 * 1024 * 1024))
    admin = base_of(server) + "/admin/received-events"
    filler = "x" * (900 * 1024)
    for n in range(10):  # valid and large: kept until 2 MiB is reached, oldest dropped
        response = requests.post(f"{server.url}listener/customerCreateEvent",
                                 json={**EVENT, "eventId": f"big{n}", "title": filler},
                                 timeout=10)
        assert response.status_code == 201
    for n in range(30):  # invalid: kept as a short summary only
        response = requests.post(f"{server.url}listener/customerCreateEvent",
                                 json={"eventId": n, "junk": filler}, timeout=10)
        assert response.status_code == 400
    listing = requests.get(admin, timeout=10)
    assert len(listing.content) <= 2 * 1024 * 1024 + 64 * 1024
    records = listing.json()
    refused = [r for r in records if not r["accepted"]]
    assert len(refused) == 30 and all(r["event"] is None and r["summary"]["bytes"] > 900 * 1024
                           for r in refused)
    kept = [r["eventId"] for r in records if r["accepted"]]
    assert kept and kept == [f"big{n}" for n in range(10 - len(kept), 10)]
    assert_healthy(server)


@each_backend
def test_an_event_larger_than_the_sink_is_kept_as_its_summary(
        small_server: Callable[..., SandboxProcess]) -> None:
    server = small_server("--sink-max-bytes", str(64 * 1024))
    response = requests.post(f"{server.url}listener/customerCreateEvent",
                             json={**EVENT, "eventId": "huge", "title": "x" * (100 * 1024)},
                             timeout=10)
    assert response.status_code == 201
    (record,) = requests.get(base_of(server) + "/admin/received-events", timeout=10).json()
    assert record["accepted"] and record["eventId"] == "huge" and record["event"] is None
    assert record["summary"]["bytes"] > 100 * 1024 and "title" in record["summary"]["members"]
    assert_healthy(server)


@each_backend
def test_a_proxied_sandbox_refuses_inward_callbacks(
        small_server: Callable[..., SandboxProcess]) -> None:
    server = small_server("--public-url", "https://sandbox.example.com")
    for callback in ("http://169.254.169.254/", "http://10.0.0.1/", "http://192.168.1.1/",
                     "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:a9fe:a9fe::1]/",
                     "http://[::127.0.0.1]/", "http://127.0.0.1:9/"):
        response = requests.post(f"{server.url}hub", json={"callback": callback}, timeout=10)
        assert response.status_code == 400, callback
        assert response.json()["reason"] == "Callback not allowed"
    assert_healthy(server)
    assert wait_until(lambda: any("Callbacks may target: global (this sandbox is published as "
                                  "https://sandbox.example.com" in line for line in server.output))


def test_idle_connections_cannot_hold_the_server(
        small_server: Callable[..., SandboxProcess]) -> None:
    server = small_server("--connection-limit", "4", "--channel-timeout", "1")
    host, port = base_of(server).removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(8)]
    try:  # every connection slot is taken by a client that sends nothing
        response = requests.get(server.url, timeout=10)
        assert response.status_code == 200
    finally:
        for sock in idle:
            sock.close()
    assert_healthy(server)
