"""``tmf629-sandbox``: serve the sandbox through waitress, a production WSGI server."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from waitress.server import create_server

from sandbox.app import create_app
from sandbox.config import API_PREFIX, Config, default_seed_file
from sandbox.seed import SeedError
from sandbox.storage import StoreCorruptError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tmf629-sandbox",
        description="Serve the TMF629 Customer Management API v4.0.0 sandbox.",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8629,
                        help="port to listen on; 0 picks a free one (default: %(default)s)")
    parser.add_argument("--db", default="./sandbox-db.json",
                        help="TinyDB JSON file, or :memory: for a throwaway store "
                        "(default: %(default)s)")
    parser.add_argument("--public-url",
                        help="externally visible base URL used in href and Location, e.g. "
                        "https://sandbox.example.com (default: derived from each request)")
    seed = parser.add_mutually_exclusive_group()
    seed.add_argument("--seed", metavar="FILE", default=default_seed_file(),
                      help="customers loaded into a new, empty store (default: bundled seed)")
    seed.add_argument("--no-seed", action="store_true", help="start with an empty store")
    parser.add_argument("--max-body-bytes", type=int, default=1024 * 1024,
                        help="largest accepted request body (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=8,
                        help="worker threads (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no per-request log lines")
    return parser


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(message)s",
        stream=sys.stderr,
    )
    config = Config(
        db_path=args.db,
        seed_file=None if args.no_seed else args.seed,
        public_url=args.public_url,
        max_body_bytes=args.max_body_bytes,
    )
    try:
        app = create_app(config)
        server = create_server(
            app, host=args.host, port=args.port, threads=args.threads,
            ident="tmf629-sandbox",
            # The app applies X-Forwarded-* itself (ProxyFix); waitress would
            # otherwise strip them before the app sees them.
            clear_untrusted_proxy_headers=False,
        )
    except (SeedError, StoreCorruptError, OSError) as exc:
        print(f"tmf629-sandbox: {exc}", file=sys.stderr)
        return 2
    url = f"http://{_host_for_url(args.host)}:{server.effective_port}{API_PREFIX}/"
    print(f"Serving TMF629 Customer API on {url}", flush=True)
    if args.public_url:
        print(f"Public URL: {args.public_url}", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        app.extensions["sandbox.db"].close()
    print("Stopped.", flush=True)
    return 0


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


if __name__ == "__main__":
    sys.exit(main())
