"""Issue 17: slow clients from one address cannot shut everyone else out.

600 connections from 127.0.0.1 each send one header byte a second to a real
``tmf629-sandbox`` process with its default limits (500 connections, 50 per
address, 10 s for a head). Without the per-address cap they fill the connection
limit and every other client waits in the listen queue; here a client from
127.0.0.2 has every request answered meanwhile. Asserted: who got what, with
generous deadlines.
"""

from __future__ import annotations

import contextlib
import http.client
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from ctk_runner.embedded import SandboxProcess

SLOW = 600
HEAD = b"GET /tmf-api/customerManagement/v4/customer HTTP/1.1\r\nHost: slow\r\nX-Pad: " + \
    b"a" * 100


@pytest.fixture
def server() -> Iterator[SandboxProcess]:
    with SandboxProcess(command=["tmf629-sandbox"], extra_args=["--quiet"]) as process:
        yield process


@dataclass
class Attack:
    """``SLOW`` connections from 127.0.0.1, each sending one more byte of a head a second,
    until the server closes it (how: its first answer bytes, or "" for a plain close)."""

    port: int
    open: dict[socket.socket, int] = field(default_factory=dict)
    ended: dict[socket.socket, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for _ in range(SLOW):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10,
                                            source_address=("127.0.0.1", 0))
            sock.setblocking(False)
            self.open[sock] = 0

    def end(self, sock: socket.socket, answer: bytes) -> None:
        with self.lock:
            self.open.pop(sock, None)
            self.ended[sock] = answer

    def watch(self, seconds: float) -> None:
        """Drip bytes and note closes for ``seconds`` (or until all are closed)."""
        selector = selectors.DefaultSelector()
        for sock in list(self.open):
            selector.register(sock, selectors.EVENT_READ)
        deadline, next_drip = time.monotonic() + seconds, 0.0
        while self.open and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    answer = sock.recv(4096)
                except (ConnectionResetError, BlockingIOError):
                    answer = b""
                selector.unregister(sock)
                self.end(sock, answer)
            if time.monotonic() >= next_drip:
                next_drip = time.monotonic() + 1.0
                for sock, sent in list(self.open.items()):
                    try:
                        sock.send(HEAD[sent:sent + 1])
                        self.open[sock] = sent + 1
                    except BlockingIOError:
                        pass
                    except OSError:
                        selector.unregister(sock)
                        self.end(sock, b"")
        selector.close()

    def close(self) -> None:
        for sock in [*self.open, *self.ended]:
            sock.close()


def fetch_from_another_address(port: int) -> int:
    """One request on a new connection from 127.0.0.2; its status (0: no answer)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5,
                                            source_address=("127.0.0.2", 0))
    try:
        connection.request("GET", "/tmf-api/customerManagement/v4/customer?fields=id")
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        connection.close()


def test_slow_clients_from_one_address_leave_room_for_everyone_else(
        server: SandboxProcess) -> None:
    port = int(urlsplit(server.url).port or 0)
    attack = Attack(port)
    statuses: list[int] = []
    stop = threading.Event()

    def other_client() -> None:
        while not stop.is_set():
            statuses.append(fetch_from_another_address(port))
            stop.wait(0.5)

    try:
        attack.start()
        attack.watch(3)  # the cap refuses all but 50 at once, so well before the head deadline
        refused_at_once = len(attack.ended)
        meanwhile = threading.Thread(target=other_client)
        meanwhile.start()
        try:
            attack.watch(40)  # the 50 admitted ones reach the 10 s head deadline meanwhile
        finally:
            stop.set()
            meanwhile.join(timeout=30)
        # Every request of the other client was answered, each within its 5 s timeout.
        assert len(statuses) >= 5 and statuses == [200] * len(statuses), statuses
        assert refused_at_once >= SLOW - 50
        assert not attack.open, f"{len(attack.open)} slow connections were never closed"
        answers = list(attack.ended.values())
        assert any(a.startswith(b"HTTP/1.1 503") for a in answers)  # the refused ones
        assert sum(a.startswith(b"HTTP/1.1 408") for a in answers) <= 50  # the admitted ones
    finally:
        attack.close()
    with contextlib.suppress(OSError):
        assert fetch_from_another_address(port) == 200
