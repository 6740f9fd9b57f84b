"""Waitress with slow clients bounded: a connection cap per client address, and deadlines
for a request's head and body, enforced on waitress's own event loop.

Waitress closes only *idle* connections (``--channel-timeout``). A client that
sends one header byte a second is never idle, so 510 of them filled the
500-connection limit and every other client waited in the listen queue. Here:

- a client address (an IPv6 client: its /64, which one host usually holds
  whole) may hold ``per_address`` connections; the next one is answered 503
  and closed at once, before a channel (or any buffer) exists for it. The
  address is the TCP peer: ``X-Forwarded-For`` is not read, so behind a
  proxy every client shares the proxy's address and the proxy must bound them;
- a request's line and headers must arrive within ``head_timeout`` (the first
  request of a connection counted from the connect, later ones from their first
  byte), and its body within ``body_timeout`` of the head's end; otherwise the
  connection gets a 408 and is closed. Time spent serving a request never counts.

The deadlines are checked about once a second by the server's event loop
(``readable``, which waitress calls on every turn of the loop), not by a
thread per connection.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal, cast

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer, MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from sandbox.config import Config
from sandbox.errors import ApiError
from sandbox.http import JSON_MEDIA_TYPE

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

log = logging.getLogger("sandbox.serving")
Phase = Literal["head", "body"]
#: How often the event loop looks for overdue connections, in seconds.
CHECK_SECONDS = 1.0
#: How long a timed-out connection may take to read its 408 before it is closed anyway.
FLUSH_GRACE = 2.0
#: Seconds a thread may hold the GIL while another waits for it (Python's default: 0.005).
SWITCH_INTERVAL = 0.001


@dataclass(frozen=True)
class ConnectionLimits:
    per_address: int = Config.max_connections_per_address
    head_timeout: float = Config.head_timeout
    body_timeout: float = Config.body_timeout

    @classmethod
    def of(cls, config: Config) -> ConnectionLimits:
        return cls(config.max_connections_per_address, config.head_timeout,
                   config.body_timeout)

    def timeout(self, phase: Phase) -> float:
        return self.head_timeout if phase == "head" else self.body_timeout


def client_key(host: str) -> str:
    """Whose connection this is, for the per-address cap: the IPv4 address (also inside
    an IPv4-mapped IPv6 one), or the /64 network of an IPv6 address."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


class AddressCounts:
    """Open connections per client key, shared by every listening socket; thread-safe."""

    def __init__(self, most: int) -> None:
        self.most = most
        self._open: dict[str, int] = {}
        self._refusing: set[str] = set()
        self._lock = threading.Lock()

    def has_room(self, client: str) -> bool:
        with self._lock:
            return self._open.get(client, 0) < self.most

    def opened(self, client: str) -> None:
        with self._lock:
            self._open[client] = self._open.get(client, 0) + 1

    def closed(self, client: str) -> None:
        with self._lock:
            left = self._open.get(client, 0) - 1
            if left > 0:
                self._open[client] = left
            else:
                self._open.pop(client, None)
            if left < self.most:
                self._refusing.discard(client)

    def refusing(self, client: str) -> bool:
        """Note a refusal; True for the first one while ``client`` stays at the cap (so the
        log says it once, not once per connection)."""
        with self._lock:
            first = client not in self._refusing
            self._refusing.add(client)
            return first

    def count(self, client: str) -> int:
        with self._lock:
            return self._open.get(client, 0)


def error_reply(error: ApiError) -> bytes:
    """A complete HTTP answer carrying ``error`` as the TMF ``Error`` JSON, closing the
    connection: for answers given outside the application."""
    body = json.dumps(error.to_json(), separators=(",", ":")).encode()
    head = [f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}",
            f"Content-Type: {JSON_MEDIA_TYPE}", f"Content-Length: {len(body)}",
            "Connection: close", "X-Content-Type-Options: nosniff", "Cache-Control: no-store",
            *(f"{name}: {value}" for name, value in error.headers.items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class HeadClock:
    """Since when a connection owes a complete request head (its connect, then the first
    byte of each request); None while it owes none (between requests: the idle timeout's
    business). A blank-lines-only "request" does not stop the clock."""

    owed_since: float | None


class TimedParser(HTTPRequestParser):
    """Waitress's request parser, keeping its connection's :class:`HeadClock` and the
    moment its own head ended."""

    def __init__(self, adj: Adjustments, clock: HeadClock) -> None:
        super().__init__(adj)
        self.clock = clock
        self.head_done: float | None = None

    def received(self, data: bytes) -> int:
        now = time.monotonic()
        if self.clock.owed_since is None and not self.headers_finished:
            self.clock.owed_since = now  # the first byte of a new request
        used = super().received(data)
        if self.head_done is None and self.headers_finished:
            self.head_done = now
            if not self.empty:
                self.clock.owed_since = None
        return used


def waiting_for(parser: HTTPRequestParser | None, owed_since: float | None,
                busy: bool) -> tuple[Phase, float] | None:
    """What a connection owes and since when: a head, a body, or nothing (a request is
    being served, or none has begun, or the one begun is complete)."""
    if busy:
        return None
    if parser is None or not parser.headers_finished:
        return None if owed_since is None else ("head", owed_since)
    if parser.completed or not isinstance(parser, TimedParser) or parser.head_done is None:
        return None
    return "body", parser.head_done


class GuardedChannel(HTTPChannel):
    """A waitress channel counted per client and held to the head and body deadlines."""

    def __init__(self, server: BaseWSGIServer, sock: socket.socket, addr: Any,
                 adj: Adjustments, map: Any = None) -> None:
        if not isinstance(server, GuardedServer):
            raise TypeError("a GuardedChannel belongs to a GuardedServer")
        self.limits, self.counts = server.limits, server.counts
        self.client = client_key(str(addr[0]))
        self.clock = HeadClock(time.monotonic())
        self.timed_out_at: float | None = None
        self.counted = False
        super().__init__(server, sock, addr, adj, map)
        self.counts.opened(self.client)
        self.counted = True

    # Waitress makes each request's parser with ``self.parser_class(self.adj)``.
    def parser_class(self, adj: Adjustments) -> TimedParser:  # type: ignore[override]
        return TimedParser(adj, self.clock)

    def waiting(self) -> tuple[Phase, float] | None:
        if self.will_close or self.close_when_flushed:
            return None
        return waiting_for(self.request, self.clock.owed_since, bool(self.requests))

    def enforce(self, now: float) -> None:
        """Answer 408 and close when the head or body is overdue (event loop only)."""
        if self.timed_out_at is not None:
            if now - self.timed_out_at >= FLUSH_GRACE:  # a client that does not read
                self.will_close = True
            return
        owed = self.waiting()
        if owed is None or now - owed[1] < self.limits.timeout(owed[0]):
            return
        phase, seconds = owed[0], self.limits.timeout(owed[0])
        what = "line and headers" if phase == "head" else "body"
        reply = error_reply(ApiError(
            408, f"The request's {what} did not arrive within {seconds:g} s",
            reason="Request Timeout"))
        with self.outbuf_lock:
            self.outbufs[-1].append(reply)
            self.total_outbufs_len += len(reply)
        self.close_when_flushed = True
        self.timed_out_at = now

    def del_channel(self, map: Any = None) -> None:
        super().del_channel(map)
        if self.counted:
            self.counted = False
            self.counts.closed(self.client)


class GuardedServer(TcpWSGIServer):
    """Waitress's TCP server admitting at most ``limits.per_address`` connections per
    client and checking every channel's deadlines from its event loop."""

    channel_class = GuardedChannel
    # Set by waitress from getnameinfo (the port as text); the stubs leave them out.
    effective_host: str
    effective_port: str

    def __init__(self, application: WSGIApplication, limits: ConnectionLimits,
                 counts: AddressCounts, **kw: Any) -> None:
        self.limits, self.counts = limits, counts
        self.next_check = 0.0
        super().__init__(application, **kw)

    def accept(self) -> Any:
        pair = super().accept()
        if pair is None:
            return None
        conn, addr = pair
        client = client_key(str(addr[0]))
        if self.counts.has_room(client):
            return pair
        # Refused before a channel exists: one small write into an empty socket buffer.
        refuse(conn, error_reply(ApiError(
            503, f"This client address holds {self.limits.per_address} connections, the "
            "most the server serves per address; reuse or close them", reason="Too many "
            "connections", headers={"Retry-After": "1"})))
        if self.counts.refusing(client):
            log.warning("connections from %s reached the per-address limit (%d); refusing "
                        "more until some close", client, self.limits.per_address)
        return None

    def readable(self) -> bool:
        now = time.monotonic()
        if now >= self.next_check:
            self.next_check = now + CHECK_SECONDS
            channels = cast("dict[int, HTTPChannel]", self.active_channels)
            for channel in list(channels.values()):
                if isinstance(channel, GuardedChannel):
                    channel.enforce(now)
        return bool(super().readable())


def refuse(conn: socket.socket, reply: bytes) -> None:
    try:
        conn.setblocking(False)
        conn.send(reply)
    except OSError:
        pass  # the answer is a courtesy; closing is what counts
    finally:
        conn.close()


def create_server(application: WSGIApplication, limits: ConnectionLimits,
                  **adjustments: Any) -> GuardedServer | MultiSocketServer:
    """Waitress's ``create_server`` for TCP, with :class:`GuardedServer` sockets.

    Also shortens the interpreter's GIL switch interval (:data:`SWITCH_INTERVAL`):
    waitress reads and writes every socket from one thread, which, at the default 5 ms,
    waits that long for the GIL whenever a request thread is busy, and the whole server
    waits with it.
    """
    sys.setswitchinterval(SWITCH_INTERVAL)
    adj = Adjustments(**adjustments)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    sockets: dict[int, Any] = {}
    counts = AddressCounts(limits.per_address)
    servers = [GuardedServer(application, limits, counts, map=sockets, dispatcher=dispatcher,
                             adj=adj, sockinfo=info) for info in cast(list[Any], adj.listen)]
    if len(servers) == 1:
        return servers[0]
    return MultiSocketServer(sockets, adj, [(s.effective_host, int(s.effective_port))
                                           for s in servers], dispatcher, servers[0].log_info)


def port_of(server: GuardedServer | MultiSocketServer) -> int:
    if isinstance(server, GuardedServer):
        return int(server.effective_port)
    return int(server.effective_listen[0][1])
