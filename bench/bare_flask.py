"""The request path's baseline: a bare Flask app under the sandbox's own waitress.

Serves ``GET <API_PREFIX>/customer/<id>`` from a dict of the same documents
the sandbox answers with (hrefs included), encoded per request as the
sandbox encodes them, on the same server (``sandbox.serving.create_server``,
the same limits) with the same number of threads, and nothing else: no
middleware, no hooks, no log line. It prints the line the sandbox prints
when it listens, so the benchmark starts both alike.

    python bench/bare_flask.py DOCUMENTS.json [--threads 8]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import orjson
from flask import Flask, Response

from sandbox import serving
from sandbox.config import API_PREFIX, Config


def bare_app(documents: dict[str, object]) -> Flask:
    app = Flask(__name__, static_folder=None)
    @app.get(API_PREFIX + "/customer/<ident>")
    def get_customer(ident: str) -> Response:
        body = orjson.dumps(documents[ident])
        return Response(body, content_type="application/json;charset=utf-8")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("documents", type=Path, help="a JSON list of the documents to serve")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    docs = json.loads(args.documents.read_text(encoding="utf-8"))
    app = bare_app({doc["id"]: doc for doc in docs})
    server = serving.create_server(app, serving.ConnectionLimits.of(Config()),
                                   host="127.0.0.1", port=0, threads=args.threads)
    print(f"Serving TMF629 Customer API on http://127.0.0.1:{serving.port_of(server)}"
          f"{API_PREFIX}/", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
