"""Watching an attempt while it waits for its answer, from inside its own thread.

The deliverers must notice an attempt that runs longer than about a second
while it still runs, so that it stops counting against the regular threads.
The attempt's thread is the one blocked in the socket, so the watching happens
there: the connections of a delivery session (:func:`watch_connections`) read
the answer's status line and headers in slices of at most :data:`SLICE`
seconds and call the thread's current :class:`Watch` between them (and before
every read, so an answer trickling in byte by byte is watched too). Once the
attempt is slow the watch calls its ``on_slow``: the pool moves the attempt to
the slow lane, or answers that the lane is full, and the watch cuts the
attempt short (:class:`Cut`). Waiting longer than the read timeout raises the
socket timeout urllib3 turns into a read timeout, as without a watch.

Without a current watch (attempts of the slow lane) connections behave as usual.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection

#: Longest wait in the socket between two looks at the watch.
SLICE = 0.1

_current = threading.local()


class Cut(Exception):
    """The attempt was stopped: slow, and no room for it in the slow lane."""


class Watch:
    """One attempt's clock: ``on_slow`` is called once, ``slow_after`` seconds in;
    it returns whether the attempt may go on (in the slow lane)."""

    def __init__(self, slow_after: float, read_timeout: float,
                 on_slow: Callable[[], bool]) -> None:
        self.started = time.monotonic()
        self.slow_after = slow_after
        self.read_timeout = read_timeout
        self._on_slow = on_slow
        self.slow = False

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def look(self) -> None:
        """Raise :class:`Cut` if the attempt just became slow and may not go on."""
        if not self.slow and self.elapsed() >= self.slow_after:
            self.slow = True
            if not self._on_slow():
                raise Cut(f"no answer within {self.slow_after:g} s while the slow lane was "
                          "full: stopped, to be sent again from the slow lane")

    def receive(self, sock: socket.socket, buffer: Any) -> int:
        """``sock.recv_into(buffer)`` in slices, looking at the watch in between."""
        waiting = time.monotonic()
        usual = sock.gettimeout()  # what the connection's next request expects again
        try:
            while True:
                self.look()
                left = self.read_timeout - (time.monotonic() - waiting)
                if left <= 0:
                    raise TimeoutError("timed out")
                sock.settimeout(min(SLICE, left))
                try:
                    return sock.recv_into(buffer)
                except TimeoutError:
                    continue  # the socket (TLS included) can be read again after a timeout
        finally:
            with contextlib.suppress(OSError):  # a socket closed meanwhile needs none
                sock.settimeout(usual)


@contextmanager
def watching(watch: Watch) -> Iterator[Watch]:
    """Make ``watch`` the calling thread's current one for the block."""
    _current.watch = watch
    try:
        yield watch
    finally:
        _current.watch = None


class _WatchedReader(io.RawIOBase):
    """The socket as http.client reads the answer's head, through the watch."""

    def __init__(self, plain: Any, sock: socket.socket, watch: Watch) -> None:
        super().__init__()
        self._plain = plain  # the reader http.client made: closing it releases the socket
        self._sock = sock
        self._watch = watch

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._watch.receive(self._sock, buffer)

    def close(self) -> None:
        self._plain.close()
        super().close()


class _WatchedResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        watch: Watch | None = getattr(_current, "watch", None)
        if watch is not None:
            self.fp = io.BufferedReader(_WatchedReader(self.fp, sock, watch))


class _WatchedHTTPConnection(HTTPConnection):
    response_class = _WatchedResponse


class _WatchedHTTPSConnection(HTTPSConnection):
    response_class = _WatchedResponse


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def watch_connections(manager: PoolManager) -> None:
    """Let the current :class:`Watch` of a thread see the answers ``manager``'s
    connections read."""
    manager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
