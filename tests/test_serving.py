"""The connection guard (``sandbox.serving``): its rules as tables, then a real guarded
waitress server in this process on a real port, spoken to with plain sockets.

Deadlines here are short (1 s) so the tests are quick; what is asserted is what each
connection got (a 408 or 503 TMF ``Error``, a 200, a close), never how fast.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from waitress.adjustments import Adjustments

from sandbox.errors import ApiError
from sandbox.serving import (
    AddressCounts,
    ConnectionLimits,
    HeadClock,
    TimedParser,
    client_key,
    create_server,
    error_reply,
    port_of,
    waiting_for,
)
from tests.conftest import running, wait_until


@pytest.mark.parametrize("host, key", [
    ("127.0.0.1", "127.0.0.1"),
    ("203.0.113.9", "203.0.113.9"),
    ("::ffff:203.0.113.9", "203.0.113.9"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("fe80::1%eth0", "fe80::/64"),
    ("localhost", "localhost"),
])
def test_the_client_an_address_counts_as(host: str, key: str) -> None:
    assert client_key(host) == key


OPENED = -1000.0  # before any monotonic reading


def parsed(*chunks: bytes) -> tuple[TimedParser | None, HeadClock]:
    """Feed ``chunks`` to parsers the way a channel does; the one left unfinished (None
    when all are complete) and the connection's clock."""
    clock, parser = HeadClock(OPENED), None
    for chunk in chunks:
        while chunk:
            parser = parser if parser is not None and not parser.completed else TimedParser(
                Adjustments(), clock)
            chunk = chunk[parser.received(chunk):]
    return (None if parser is None or parser.completed else parser), clock


@pytest.mark.parametrize("chunks, owed", [
    ((), ("head", "opened")),
    ((b"GET / HTTP/1.1\r\nHo",), ("head", "opened")),
    ((b"G", b"ET / HTTP/1.1\r\n"), ("head", "opened")),
    ((b"\r\n\r\n", b"\r\n\r\n"), ("head", "opened")),  # blank lines do not stop the clock
    ((b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",), None),  # complete: between requests
    ((b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc",), ("body", "head end")),
    ((b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",), None),
    ((b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n",), ("head", "later")),  # the next one
])
def test_what_a_connection_owes(chunks: tuple[bytes, ...], owed: tuple[str, str] | None) -> None:
    parser, clock = parsed(*chunks)
    found = waiting_for(parser, clock.owed_since, busy=False)
    if owed is None:
        assert found is None
        return
    phase, since = owed
    assert found is not None and found[0] == phase
    expected = {"opened": OPENED, "head end": parser and parser.head_done}.get(since)
    if since == "later":
        assert found[1] > OPENED
    else:
        assert found[1] == expected


def test_a_connection_being_served_owes_nothing() -> None:
    parser, clock = parsed(b"GET / HTTP/1.1\r\nHo")
    assert waiting_for(parser, clock.owed_since, busy=True) is None


def test_addresses_are_counted_to_the_cap() -> None:
    counts = AddressCounts(2)
    for _ in range(2):
        assert counts.has_room("a")
        counts.opened("a")
    assert not counts.has_room("a") and counts.has_room("b")
    assert counts.refusing("a") and not counts.refusing("a")  # logged once while full
    counts.closed("a")
    assert counts.has_room("a") and counts.count("a") == 1
    assert counts.refusing("a")  # a new spell at the cap is logged again
    counts.closed("a")
    assert counts.count("a") == 0


def test_an_answer_outside_the_application_is_a_tmf_error() -> None:
    raw = error_reply(ApiError(503, "busy", reason="Too many connections",
                               headers={"Retry-After": "1"}))
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 503 Service Unavailable"
    assert "Content-Type: application/json;charset=utf-8" in lines
    assert "Connection: close" in lines and "Retry-After: 1" in lines
    assert f"Content-Length: {len(body)}" in lines
    assert json.loads(body) == {"code": "503", "reason": "Too many connections",
                                "message": "busy", "status": "503", "@type": "Error"}


# -- a guarded waitress server in this process --------------------------------------------

def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Echoes the body's length; ``/sleep`` takes longer than the deadlines."""
    body = environ["wsgi.input"].read()
    if environ["PATH_INFO"] == "/sleep":
        time.sleep(2.5)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(len(body)).encode()]


@contextlib.contextmanager
def guarded(limits: ConnectionLimits) -> Iterator[int]:
    server = create_server(app, limits, host="127.0.0.1", port=0, threads=4,
                           asyncore_loop_timeout=0.1)
    with running(server):
        yield port_of(server)


FAST = ConnectionLimits(per_address=3, head_timeout=1.0, body_timeout=1.0)


@pytest.fixture
def port() -> Iterator[int]:
    with guarded(FAST) as found:
        yield found


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=15,
                                    source_address=(source, 0))
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (a reset after its answer counts as a close)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def answer(sock: socket.socket, request: bytes) -> bytes:
    """Send one request on a kept-alive connection; the whole answer to it."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += received(sock)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += received(sock)
    return head + b"\r\n\r\n" + body


def received(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("closed before the whole answer")
    return chunk


GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def error_of(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, body = raw.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize("sent, what", [
    (b"", "line and headers"),  # connected, silent
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow:", "line and headers"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789", "body"),
])
def test_a_connection_without_its_head_or_body_in_time_is_closed(
        port: int, sent: bytes, what: str) -> None:
    slow = connect(port)
    slow.sendall(sent)
    status, error = error_of(read_all(slow))  # returns once the server has closed it
    assert status == 408 and error["@type"] == "Error"
    assert what in error["message"]
    slow.close()


def test_blank_lines_do_not_keep_a_connection_open(port: int) -> None:
    sock = connect(port)
    sock.setblocking(False)
    deadline, closed = time.monotonic() + 15, False
    while not closed and time.monotonic() < deadline:
        try:
            sock.send(b"\r\n\r\n")
            closed = sock.recv(65536).startswith(b"HTTP/1.1 408")
        except BlockingIOError:
            pass
        except OSError:
            closed = True
        time.sleep(0.2)
    assert closed
    sock.close()


def test_a_slow_but_timely_client_is_served() -> None:
    with guarded(ConnectionLimits(per_address=3, head_timeout=5.0, body_timeout=5.0)) as port:
        sock = connect(port)
        for piece in (b"POST / HTTP/1.1\r\n", b"Host: x\r\nContent-Length: 4\r\n\r\n",
                      b"ab", b"cd"):
            sock.sendall(piece)
            time.sleep(0.3)
        reply = answer(sock, b"")
        assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"4")
        sock.close()


def test_the_time_spent_serving_is_no_deadline_of_the_client(port: int) -> None:
    sock = connect(port)
    reply = answer(sock, b"POST /sleep HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab")
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"2")
    assert answer(sock, GET).startswith(b"HTTP/1.1 200")  # still open, still served
    sock.close()


def test_the_idle_time_between_requests_is_not_a_late_head(port: int) -> None:
    sock = connect(port)
    assert answer(sock, GET).startswith(b"HTTP/1.1 200")
    time.sleep(FAST.head_timeout * 2)
    assert answer(sock, GET).startswith(b"HTTP/1.1 200")
    sock.close()


def test_connections_past_the_cap_of_one_address_are_refused_at_once(port: int) -> None:
    held = [connect(port) for _ in range(FAST.per_address)]
    for sock in held:  # answered: each is a channel of the server now
        assert answer(sock, GET).startswith(b"HTTP/1.1 200")
    extra = connect(port)
    status, error = error_of(read_all(extra))
    assert status == 503 and error["reason"] == "Too many connections"
    extra.close()
    other = connect(port, source="127.0.0.2")  # another address has room
    assert answer(other, GET).startswith(b"HTTP/1.1 200")
    other.close()
    held.pop().close()  # a slot frees when a connection closes

    def admitted() -> bool:
        with connect(port) as again:
            try:
                return answer(again, GET).startswith(b"HTTP/1.1 200")
            except (IndexError, StopIteration, OSError):
                return False

    assert wait_until(admitted, timeout=10)
    for sock in held:
        sock.close()
