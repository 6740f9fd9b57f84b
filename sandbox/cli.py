"""``tmf629-sandbox``: serve the sandbox through waitress, a production WSGI server."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import logging.handlers
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from errno import EACCES, EADDRINUSE
from types import FrameType
from typing import Any, TextIO

from sandbox import serving, tenancy
from sandbox.app import create_app
from sandbox.backends.postgres import command as migrate_command
from sandbox.backends.tinydb import StoreCorruptError
from sandbox.backends.tinydb import check as check_command
from sandbox.config import API_PREFIX, Config, default_seed_file
from sandbox.events.delivery import CALLBACK_MODES
from sandbox.events.safety import parse_network
from sandbox.hosting.tenants_file import TenantsFileError
from sandbox.seed import SeedError

ADMIN_TOKEN_VARIABLE = "TMF629_ADMIN_TOKEN"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


#: Every limit an anonymous client meets: option (= Config field), type, help.
LIMIT_OPTIONS: tuple[tuple[str, Callable[[str], Any], str], ...] = (
    ("--max-json-depth", _positive_int, "deepest nesting of arrays/objects in a JSON body"),
    ("--max-number-length", _positive_int, "longest number literal in a JSON body"),
    ("--max-query-params", _positive_int, "most query parameters in one request"),
    ("--max-query-bytes", _positive_int, "longest query string, in bytes"),
    ("--regex-max-length", _positive_int, "longest .regex pattern"),
    ("--regex-max-repeat", _positive_int, "largest repetition count ({n}) in a pattern"),
    ("--regex-max-expansion", _positive_int, "largest compiled size of a pattern, counted "
     "repetitions multiplied out"),
    ("--regex-budget", _positive_float, "seconds of regex matching per request"),
    ("--regex-slots", _positive_int, "regex evaluations running at once, server-wide"),
    ("--regex-cache-size", _positive_int, "compiled patterns kept"),
    ("--max-subscriptions", _positive_int, "most hub subscriptions at once"),
    ("--delivery-workers", _positive_int, "threads delivering events"),
    ("--slow-delivery-workers", _positive_int, "threads delivering to subscribers slower "
     "than a second, apart from the others"),
    ("--sink-max-bytes", _positive_int, "bytes of received events the listener sink keeps"),
    ("--max-connections-per-address", _positive_int, "connections one client address (an "
     "IPv6 client: its /64) holds open at once; more are answered 503 and closed. The TCP "
     "peer counts, never X-Forwarded-For: behind a proxy, the proxy must bound its clients"),
    ("--head-timeout", _positive_float, "seconds to send a request's line and headers (the "
     "first request from the connect); then 408 and the connection is closed"),
    ("--body-timeout", _positive_float, "seconds to send a request's body after its head; "
     "then 408 and the connection is closed"),
    ("--pg-pool-size", _positive_int, "PostgreSQL connections pooled per process, shared by "
     "every tenant; connections per process = pool size + 1 listener"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tmf629-sandbox",
        description="Serve the TMF629 Customer Management API v4.0.0 sandbox. "
        "'tmf629-sandbox migrate --db postgresql://...' updates a PostgreSQL schema; "
        "'tmf629-sandbox check --db PATH' verifies a file store without changing it.",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8629,
                        help="port to listen on; 0 picks a free one (default: %(default)s)")
    parser.add_argument("--db", default="./sandbox-db.json",
                        help="TinyDB JSON file, :memory: for a throwaway store, or a "
                        "postgresql://user@host:port/dbname URL that several processes may "
                        "share (default: %(default)s)")
    parser.add_argument("--public-url",
                        help="externally visible base URL used in href and Location, e.g. "
                        "https://sandbox.example.com (default: derived from each request)")
    seed = parser.add_mutually_exclusive_group()
    seed.add_argument("--seed", metavar="FILE", default=default_seed_file(),
                      help="customers loaded into a new, empty store (default: bundled seed)")
    seed.add_argument("--no-seed", action="store_true", help="start with an empty store")
    parser.add_argument("--max-body-bytes", type=int, default=1024 * 1024,
                        help="largest accepted request body (default: %(default)s)")
    parser.add_argument("--max-limit", type=_positive_int, default=Config.max_limit,
                        help="largest page a list returns; larger or absent limit= is "
                        "capped to it (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=8,
                        help="worker threads (default: %(default)s)")
    parser.add_argument("--trusted-proxy", action="append", default=None, type=_proxy,
                        metavar="CIDR",
                        help="address or network of a reverse proxy whose X-Forwarded-* "
                        "headers are believed, repeatable (default: none; the headers are "
                        "ignored)")
    parser.add_argument("--quiet", action="store_true", help="no per-request log lines")
    limits = parser.add_argument_group("limits (see docs/limits.md)")
    defaults = Config()
    for option, kind, help_text in LIMIT_OPTIONS:
        name = option.removeprefix("--").replace("-", "_")
        limits.add_argument(option, type=kind, default=getattr(defaults, name),
                            help=help_text + " (default: %(default)s)")
    limits.add_argument("--connection-limit", type=_positive_int, default=500,
                        help="open connections waitress serves at once; more wait to be "
                        "accepted (default: %(default)s)")
    limits.add_argument("--channel-timeout", type=_positive_int, default=30, metavar="SECONDS",
                        help="an idle connection is closed after this long, so idle "
                        "connections cannot hold every slot (default: %(default)s)")
    limits.add_argument("--max-header-bytes", type=_positive_int, default=256 * 1024,
                        help="largest request line plus headers; waitress answers a larger "
                        "one itself with a plain-text 431 (default: %(default)s)")
    notify = parser.add_argument_group("notifications (POST /hub)")
    notify.add_argument("--allow-callback-network", action="append", default=None,
                        type=_network, metavar="CIDR",
                        help="a network callbacks may target, repeatable; 'global' means every "
                        "public address (default: any target when --host is loopback and no "
                        "--public-url is given, else public addresses only)")
    notify.add_argument("--callback-mode", choices=CALLBACK_MODES, default="listener",
                        help="listener: POST to <callback>/listener/<eventName> (the spec's "
                        "client listener paths); exact: to the callback URL itself "
                        "(default: %(default)s)")
    notify.add_argument("--delivery-attempts", type=_positive_int, default=5, metavar="N",
                        help="attempts per event before it is given up (default: %(default)s)")
    notify.add_argument("--delivery-backoff", type=float, default=1.0, metavar="SECONDS",
                        help="wait before the first retry, doubled for each further one "
                        "(default: %(default)s)")
    notify.add_argument("--delivery-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="read timeout of one delivery attempt; connecting may take 3 s "
                        "at most (default: %(default)s)")
    hosting = parser.add_argument_group("hosting (see docs/hosting.md)")
    hosting.add_argument("--tenants", metavar="FILE",
                         help="JSON or TOML file of tenants (name, keys, seed); every API "
                         "request then needs a tenant's key (default: one open sandbox)")
    hosting.add_argument("--admin-token", default=os.environ.get(ADMIN_TOKEN_VARIABLE),
                         help="token the /admin API and the operator console need; required "
                         f"for /admin with --tenants or a non-loopback --host (default: "
                         f"${ADMIN_TOKEN_VARIABLE}; without it such an admin API is off)")
    hosting.add_argument("--faults", metavar="FILE",
                         help="JSON file of fault rules loaded at start")
    hosting.add_argument("--prefer-faults", action=argparse.BooleanOptionalAction, default=None,
                         help="honour 'Prefer: code=503' / 'Prefer: delay=200' (default: only "
                         "when --host is loopback)")
    hosting.add_argument("--journal", action="store_true",
                         help="journal the API requests of an open sandbox too (hosted tenants' "
                         "requests always are), for GET /admin/journal and the console")
    hosting.add_argument("--journal-size", type=_positive_int, default=Config.journal_size,
                         help="requests each tenant's journal keeps (default: %(default)s)")
    hosting.add_argument("--max-tenants", type=_positive_int, default=Config.max_tenants,
                         help="most tenants served at once (default: %(default)s)")
    hosting.add_argument("--max-delayed-requests", type=_positive_int,
                         default=Config.max_delayed_requests,
                         help="requests sleeping on a delay fault at once, server-wide; more "
                         "are answered without the delay (default: %(default)s)")
    hosting.add_argument("--console-idle-hours", type=_positive_float,
                         default=Config.console_idle_hours,
                         help="a console sign-in ends after this long unused "
                         "(default: %(default)s)")
    hosting.add_argument("--max-console-sessions", type=_positive_int,
                         default=Config.max_console_sessions,
                         help="console sign-ins kept at once (in this process); past it the "
                         "least recently used ends (default: %(default)s)")
    return parser


def _proxy(text: str) -> str:
    try:
        ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an address or network") from None
    return text.strip()


def _network(text: str) -> str:
    try:
        parse_network(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["migrate"]:
        return migrate_command.main(arguments[1:])
    if arguments[:1] == ["check"]:
        return check_command.main(arguments[1:])
    args = build_parser().parse_args(arguments)
    writer = _log_writer(logging.WARNING if args.quiet else logging.INFO)
    try:
        return _serve(args)
    finally:
        writer.stop()  # every line logged is written before the process ends


def _log_writer(level: int) -> LogWriter:
    """Log lines go to stderr from one writer thread, in batches: a request thread only
    queues its record. Formatting and writing (a flush per line) in the request threads
    made them contend for the handler's lock and switch threads around every write,
    which cost more CPU than the rest of a GET."""
    lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    writer = LogWriter(lines, sys.stderr, LineFormatter("%(asctime)s %(message)s"))
    logging.basicConfig(level=level, handlers=[_Queued(lines)])
    writer.start()
    return writer


class LineFormatter(logging.Formatter):
    """The standard line, its time stamp's date and clock part made once a second
    (``strftime`` for every line was most of what writing the log cost). One thread
    formats: the :class:`LogWriter`."""

    _second: int | None = None
    _stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime(self.default_time_format, self.converter(second))
        return f"{self._stamp},{int(record.msecs):03d}"


class _Queued(logging.handlers.QueueHandler):
    """Queues the record as it is: formatted by the writer (the sandbox's arguments are
    plain values, safe to format later)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


class LogWriter(threading.Thread):
    """Writes the queued records every ``interval`` seconds, one write and flush a batch."""

    def __init__(self, lines: queue.SimpleQueue[logging.LogRecord], stream: TextIO,
                 formatter: logging.Formatter, interval: float = 0.05) -> None:
        super().__init__(name="log-writer", daemon=True)
        self.lines, self.stream, self.formatter = lines, stream, formatter
        self.interval = interval
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self.interval):
            self.drain()

    def drain(self) -> None:
        batch: list[str] = []
        while True:
            try:
                batch.append(self.formatter.format(self.lines.get_nowait()) + "\n")
            except queue.Empty:
                break
        if batch:
            try:
                self.stream.write("".join(batch))
                self.stream.flush()
            except (OSError, ValueError):  # stderr gone: the lines cannot be written anyway
                pass

    def stop(self) -> None:
        """Write what is queued and end the thread."""
        self._stopping.set()
        if self.is_alive():
            self.join()
        self.drain()


def _serve(args: argparse.Namespace) -> int:
    config = Config(
        db_path=args.db,
        seed_file=None if args.no_seed else args.seed,
        public_url=args.public_url,
        max_body_bytes=args.max_body_bytes,
        max_limit=args.max_limit,
        bind_host=args.host,
        callback_networks=tuple(args.allow_callback_network or ()) or None,
        callback_mode=args.callback_mode,
        delivery_attempts=args.delivery_attempts,
        delivery_backoff=args.delivery_backoff,
        delivery_timeout=(min(3.0, args.delivery_timeout), args.delivery_timeout),
        trusted_proxies=tuple(args.trusted_proxy or ()),
        tenants_file=args.tenants,
        admin_token=args.admin_token or None,
        faults_file=args.faults,
        prefer_faults=args.prefer_faults,
        journal=args.journal,
        journal_size=args.journal_size,
        max_tenants=args.max_tenants,
        max_delayed_requests=args.max_delayed_requests,
        console_idle_hours=args.console_idle_hours,
        max_console_sessions=args.max_console_sessions,
        **{option.removeprefix("--").replace("-", "_"):
           getattr(args, option.removeprefix("--").replace("-", "_"))
           for option, _, _ in LIMIT_OPTIONS},
    )
    try:
        app = create_app(config)
        server = serving.create_server(
            app, serving.ConnectionLimits.of(config), host=args.host, port=args.port,
            threads=args.threads,
            ident="tmf629-sandbox",
            max_request_header_size=args.max_header_bytes,
            connection_limit=args.connection_limit,
            channel_timeout=args.channel_timeout,
            # Idle connections are looked for this often (waitress's default: every 30 s).
            cleanup_interval=max(1, min(30, args.channel_timeout // 2)),
            # Waitress buffers a body before the app sees it: a little above the app's
            # limit, so the app still answers 413 as JSON, but no gigabyte spools to disk.
            max_request_body_size=args.max_body_bytes + 64 * 1024,
            # The app applies X-Forwarded-* itself (ProxyFix); waitress would
            # otherwise strip them before the app sees them.
            clear_untrusted_proxy_headers=False,
        )
    except (SeedError, StoreCorruptError, TenantsFileError, OSError, ValueError) as exc:
        print(f"tmf629-sandbox: {_start_error(exc, args.host, args.port)}", file=sys.stderr)
        return 2
    url = f"http://{_host_for_url(args.host)}:{serving.port_of(server)}{API_PREFIX}/"
    print(f"Serving TMF629 Customer API on {url}", flush=True)
    if args.public_url:
        print(f"Public URL: {args.public_url}", flush=True)
    tenants = app.extensions[tenancy.EXTENSION]
    policy = tenants.all()[0].notifications.policy
    if not tenants.open:
        print(f"Hosting {len(tenants.names())} tenant(s): {', '.join(tenants.names())}",
              flush=True)
    print(f"Callbacks may target: {policy.describe()} ({policy.explanation})", flush=True)
    if args.trusted_proxy:
        print(f"X-Forwarded-* believed from: {', '.join(args.trusted_proxy)}", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        tenants.close()
        app.extensions["sandbox.backend"].close()  # after the tenants: they use its pool
    print("Stopped.", flush=True)
    return 0


def _start_error(exc: Exception, host: str, port: int) -> str:
    """Why the sandbox did not start, and for a port it cannot have, what to do instead."""
    errno = getattr(exc, "errno", None)
    if errno == EADDRINUSE:
        return (f"port {port} on {host} is already in use (another tmf629-sandbox?): stop "
                "that server, or choose another port with --port N (--port 0 picks a free "
                "one)")
    if errno == EACCES:
        return (f"not allowed to listen on port {port} on {host} (ports below 1024 need "
                "privileges): choose another port with --port N")
    return str(exc)


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


if __name__ == "__main__":
    sys.exit(main())
