"""Subscribers for the fairness tests: one real HTTP server, slow on some paths.

A request to a path under ``/slow`` is held (its answer waits) until the test
calls :meth:`Subscribers.release`, as a subscriber that answers after minutes
would, or until the sender gives up on it; every other path answers 201 at
once. ``held`` counts the requests held now, ``most_held`` the most at once.
Each request is recorded when it arrives, so a test asserts who got what while
the slow ones are still held, never how long anything took.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

#: How long a held request waits for the release at most (a test that forgot it ends).
HOLD_LIMIT = 120.0


class Subscribers:
    """The server (see the module docstring); ``url(name)`` is a callback on it."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._released = threading.Event()
        #: (subscriber, eventId, the event's customer name), in arrival order.
        self.arrived: list[tuple[str, str, str]] = []
        self._held: set[socket.socket] = set()
        self.most_held = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                name = self.path.split("/")[1]
                customer = body.get("event", {}).get("customer", {}).get("name")
                slow = name.startswith("slow")
                owner._arrive(name, str(body.get("eventId")), str(customer),
                              self.connection if slow else None)
                if slow:
                    owner._hold(self.connection)
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/{name}"

    @property
    def held(self) -> int:
        """Requests held now (a sender that closed its end no longer counts)."""
        with self._changed:
            self._prune()
            return len(self._held)

    def _arrive(self, name: str, event_id: str, customer: str,
                held: socket.socket | None) -> None:
        with self._changed:
            self.arrived.append((name, event_id, customer))
            if held is not None and not self._released.is_set():
                self._prune()  # a sender closes one attempt before it starts the next
                self._held.add(held)
                self.most_held = max(self.most_held, len(self._held))
            self._changed.notify_all()

    def _prune(self) -> None:
        # Called with the lock held.
        self._held = {connection for connection in self._held if _open(connection)}

    def _hold(self, connection: socket.socket) -> None:
        """Until released, or until the sender gives up (closes its end)."""
        deadline = time.monotonic() + HOLD_LIMIT
        try:
            while not self._released.is_set() and time.monotonic() < deadline:
                readable, _, _ = select.select([connection], [], [], 0.05)
                if readable and not _open(connection):
                    return
        finally:
            with self._changed:
                self._held.discard(connection)
                self._changed.notify_all()

    def attempts(self, name: str) -> list[str]:
        """The eventIds ``name`` received, in arrival order (repeats included)."""
        with self._changed:
            return [event_id for who, event_id, _ in self.arrived if who == name]

    def got(self, name: str) -> list[str]:
        """The customer names of the events ``name`` received, in the order each first
        arrived (an event sent again, after a cut or a lost lease, counts once)."""
        seen: set[str] = set()
        names = []
        with self._changed:
            for who, event_id, customer in self.arrived:
                if who == name and event_id not in seen:
                    seen.add(event_id)
                    names.append(customer)
        return names

    def wait(self, condition: Callable[[], bool], timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.2))
        return True

    def release(self) -> None:
        self._released.set()

    def __enter__(self) -> Subscribers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def subscribers() -> Iterator[Subscribers]:
    with Subscribers() as running:
        yield running


def _open(connection: socket.socket) -> bool:
    """Whether the sender of a held request still waits (it has not closed its end)."""
    readable, _, _ = select.select([connection], [], [], 0)
    return not readable or bool(connection.recv(1, socket.MSG_PEEK))


def subscribe(session: requests.Session, api: str, callback: str) -> str:
    answer = session.post(f"{api}/hub", json={"callback": callback}, timeout=10)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def create(session: requests.Session, api: str, names: list[str],
           body: dict[str, Any]) -> None:
    """One customer per name, in order."""
    for name in names:
        answer = session.post(f"{api}/customer", json={**body, "name": name}, timeout=10)
        assert answer.status_code == 201, answer.text
