"""A small HTTP listener that records the events a target's hub posts to it.

It accepts ``POST`` on any path (``/listener/customerCreateEvent`` as the spec
suggests, or the callback URL itself, as some servers do) and answers 201
with a small JSON body. Each request is recorded in arrival order;
:meth:`EventListener.wait_for` blocks until a recorded event satisfies a
predicate, or a timeout passes. A ``responder`` may choose the status (and
block), which is how tests build listeners that fail or hang.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

MAX_BODY = 4 * 1024 * 1024


@dataclass(frozen=True)
class Received:
    """One request the listener received."""

    seq: int
    method: str
    path: str
    headers: dict[str, str]
    text: str
    #: The body parsed as JSON, or None when it was not JSON.
    body: Any
    received: float = field(default_factory=time.time)

    @property
    def event_type(self) -> str | None:
        """What the event says it is: ``eventType``, else ``@type``, else the path."""
        if isinstance(self.body, dict):
            for key in ("eventType", "@type"):
                if isinstance(self.body.get(key), str):
                    return str(self.body[key])
        tail = self.path.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
        return tail[:1].upper() + tail[1:] if tail.endswith("Event") else None


Responder = Callable[[Received], int]


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6; port 0 picks a free one)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{text!r} is not of the form HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A sender that gives up (timeout) or closes a kept-alive connection is
        # normal here; socketserver would print a traceback for it.
        pass


class EventListener:
    """A threaded HTTP server on ``host:port`` recording what is posted to it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 responder: Responder | None = None) -> None:
        self.received: list[Received] = []
        self._changed = threading.Condition()
        self._responder = responder
        self._server = _QuietServer((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}/"

    def start(self) -> EventListener:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,),
                                        name="ctk-event-listener", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EventListener:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- reading what arrived -------------------------------------------------

    def snapshot(self) -> list[Received]:
        with self._changed:
            return list(self.received)

    def wait_for(self, predicate: Callable[[Received], bool],
                 timeout: float) -> Received | None:
        """The first recorded request matching ``predicate``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for item in self.received:
                    if predicate(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)

    def wait_count(self, count: int, timeout: float) -> list[Received]:
        """Wait until at least ``count`` requests arrived (or ``timeout``); return them all."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return list(self.received)

    # -- the server side ----------------------------------------------------

    def _record(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Received:
        text = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError:
            body = None
        with self._changed:
            item = Received(len(self.received) + 1, method, path, headers, text, body)
            self.received.append(item)
            self._changed.notify_all()
        return item

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                raw = self.rfile.read(length) if length else b""
                item = listener._record("POST", self.path, dict(self.headers.items()), raw)
                status = listener._responder(item) if listener._responder else 201
                reply = json.dumps({"received": item.seq}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the run's report says what arrived; no stderr noise

        return Handler
