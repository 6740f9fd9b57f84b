"""Targets for the harness's own tests: a conformant stand-in and its faults.

:class:`StandIn` is a small, independent TMF629 customer API (a plain WSGI
app over a dict) whose behaviour is switched by :class:`Faults`: each fault
is one way a real server gets the CTK wrong. Without faults it is
conformant, so the harness must pass it in both profiles; with one fault the
harness must fail on the assertion that names it.

:class:`SandboxFault` wraps the real sandbox app in WSGI middleware, to prove
the same detection against the production code path.

:func:`serve` runs any WSGI app on 127.0.0.1, on a free port, in a thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

from werkzeug.serving import make_server

try:
    import ctk_standin_tmf630 as tmf630
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests import ctk_standin_tmf630 as tmf630  # type: ignore[no-redef]

ROOT_PATH = "/tmf-api/customerManagement/v4/"

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_IDS = uuid.UUID("0b5c9e43-55a8-4ad4-8a8e-3c1d6d2b7f10")

_REASONS = {200: "OK", 201: "Created", 204: "No Content", 206: "Partial Content",
            400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            415: "Unsupported Media Type", 500: "Internal Server Error"}


@dataclass(frozen=True)
class Faults:
    """How the stand-in deviates from TMF629 (the defaults are conformant)."""

    seed: int = 25
    create_status: int = 201
    #: Creates after this many are refused with a 500 TMF Error, nothing stored.
    accept_creates: int | None = None
    #: The API root hrefs name instead of the stand-in's own (another host's).
    href_root: str | None = None
    drop_type: bool = False
    href: Literal["resource", "collection", "number"] = "resource"
    ignore_filters: bool = False
    ignore_id_filter: bool = False
    ignore_fields: bool = False
    unknown_id: Literal["error", "empty-200", "empty-404"] = "error"
    location: bool = True
    rename_on_read: bool = False
    delete_status: int = 204
    html_everywhere: bool = False
    no_collection: bool = False
    # -- TMF630, checked by the strict profile's X1 folder --
    #: The status of a page that is a part of the matching set (200: as if it were all;
    #: 500: what a validating proxy that knows only the swagger's 200 makes of a 206).
    partial_status: int = 206
    #: The status of a page that holds the whole matching set (206: as if it were a part).
    complete_status: int = 200
    #: True: limit is ignored (every matching customer comes back).
    ignore_limit: bool = False
    #: "no-query": the Link URLs lose the filters; "none": no Link header.
    link: Literal["full", "no-query", "none"] = "full"
    #: When X-Total-Count and X-Result-Count are sent; "result-is-total": both are the total.
    count_headers: Literal["always", "unless-zero", "never", "result-is-total"] = "always"
    totals_ignore_filters: bool = False
    #: False: filters with an operator (a.b.gte=1) are ignored, as unknown parameters.
    operators: bool = True
    sort: bool = True
    #: False: fields=none is ignored (every attribute comes back).
    fields_none: bool = True
    patch_types: tuple[str, ...] = (tmf630.MERGE, tmf630.JSON, tmf630.JSON_PATCH)
    #: The answer to a PATCH in a media type it does not take (200: merged anyway).
    unsupported_patch_status: int = 415
    #: False: PATCH answers the patched customer but does not store it.
    patch_stores: bool = True
    delete_removes: bool = True
    #: "html-500": an invalid create payload crashes the server into an HTML page.
    invalid_payload: Literal["error", "html-500"] = "error"


class StandIn:
    """A TMF629 customer collection in memory, with switchable faults."""

    def __init__(self, faults: Faults = Faults()) -> None:
        self.faults = faults
        self.customers: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        for n in range(1, faults.seed + 1):
            self.customers[f"seed-{n:03d}"] = {
                "id": f"seed-{n:03d}",
                "name": f"Seed Customer {n:03d}",
                "status": "Approved",
                "engagedParty": {"@referredType": "Organization", "id": str(9000 + n)},
                "@type": "Customer",
            }
        self.created = 0
        #: (method, path, Authorization header) of every request received.
        self.requests: list[tuple[str, str, str | None]] = []

    # -- representation -------------------------------------------------------

    def _represent(self, base: str, stored: dict[str, Any]) -> dict[str, Any]:
        body = dict(stored)
        base = self.faults.href_root or base
        if self.faults.href == "collection":
            body["href"] = base + "customer"
        elif self.faults.href == "number":
            body["href"] = 4242
        else:
            body["href"] = base + "customer/" + stored["id"]
        if self.faults.drop_type:
            body.pop("@type", None)
        # id, href first, like most servers, so text searches see realistic JSON.
        return {"id": body.pop("id"), "href": body.pop("href"), **body}

    # -- WSGI -----------------------------------------------------------------

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        self.requests.append((method, path, environ.get("HTTP_AUTHORIZATION")))
        base = f"http://{environ['HTTP_HOST']}{ROOT_PATH}"
        if self.faults.html_everywhere:
            return _send(start_response, 200, b"<html><body>Welcome</body></html>",
                         "text/html; charset=utf-8")
        if not path.startswith(ROOT_PATH + "customer") or self.faults.no_collection:
            return _json(start_response, 404, _error(404, "no such resource"))
        rest = path[len(ROOT_PATH + "customer"):].strip("/")
        if not rest:
            if method == "POST":
                return self._create(environ, start_response, base)
            if method == "GET":
                return self._list(start_response, base, query)
            return _json(start_response, 405, _error(405, "method not allowed"))
        if method == "GET":
            return self._read(start_response, base, rest, query)
        if method == "DELETE":
            return self._delete(start_response, rest)
        if method == "PATCH":
            return self._patch(environ, start_response, rest)
        return _json(start_response, 405, _error(405, "method not allowed"))

    def _create(self, environ: Environ, start_response: StartResponse,
                base: str) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            payload = json.loads(environ["wsgi.input"].read(length) or b"null")
        except ValueError:
            return _json(start_response, 400, _error(400, "body is not JSON"))
        if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
            if self.faults.invalid_payload == "html-500":
                return _send(start_response, 500, b"<html><body>Oops</body></html>",
                             "text/html")
            return _json(start_response, 400, _error(400, "name is required, a string"))
        limit = self.faults.accept_creates
        if limit is not None and self.created >= limit:
            return _json(start_response, 500, _error(500, "the store is read-only"))
        # Deterministic ids: two runs against fresh stand-ins see the same values.
        self.created += 1
        new_id = str(uuid.uuid5(_IDS, str(self.created)))
        stored = {**payload, "id": new_id, "@type": payload.get("@type", "Customer")}
        with self.lock:
            self.customers[new_id] = stored
        body = self._represent(base, stored)
        root = self.faults.href_root or base
        headers = [("Location", root + "customer/" + new_id)] if self.faults.location else []
        return _json(start_response, self.faults.create_status, body, headers)

    def _list(self, start_response: StartResponse, base: str,
              query: list[tuple[str, str]]) -> Iterable[bytes]:
        with self.lock:
            everything = [self._represent(base, c) for c in self.customers.values()]
        items, args = everything, dict(query)
        for key, value in query:
            if key in ("fields", "offset", "limit", "sort") or self.faults.ignore_filters:
                continue
            if key == "id" and self.faults.ignore_id_filter:
                continue
            if tmf630.split_operator(key)[1] != "eq" and not self.faults.operators:
                continue
            items = [i for i in items if tmf630.matches(i, key, value)]
        if args.get("sort") and self.faults.sort:
            items = tmf630.sort(items, args["sort"])
        total = len(everything if self.faults.totals_ignore_filters else items)
        try:
            offset, limit = int(args.get("offset", 0)), int(args.get("limit", len(items)))
        except ValueError:
            return _json(start_response, 400, _error(400, "offset and limit are integers"))
        if self.faults.ignore_limit:
            limit = len(items)
        page = items[offset:offset + limit]
        counts = self.faults.count_headers
        headers = []
        if counts == "always" or (counts == "unless-zero" and total):
            headers += [("X-Total-Count", str(total)), ("X-Result-Count", str(len(page)))]
        elif counts == "result-is-total":
            headers += [("X-Total-Count", str(total)), ("X-Result-Count", str(total))]
        status = self.faults.complete_status
        if offset < len(items) and len(page) < len(items):
            status = self.faults.partial_status
            if status == 500:
                problem = {"type": "https://stoplight.io/prism/errors#VIOLATIONS",
                           "title": "Request/Response not valid", "status": 500,
                           "detail": "Your request/response is not valid: 206 not documented"}
                return _send(start_response, 500, json.dumps(problem).encode(),
                             "application/problem+json")
            if self.faults.link != "none":
                kept = query if self.faults.link == "full" else []
                link = tmf630.link_header(base + "customer", kept, offset, limit, total)
                headers.append(("Link", link))
        return _json(start_response, status, self._select(page, query), headers)

    def _select(self, items: list[dict[str, Any]],
                query: list[tuple[str, str]]) -> list[dict[str, Any]]:
        fields = [f for k, v in query if k == "fields" for f in v.split(",") if f]
        if not fields or self.faults.ignore_fields:
            return items
        if fields == ["none"] and not self.faults.fields_none:
            return items
        keep = set(fields) | {"id", "href", "@type"}
        return [{k: v for k, v in i.items() if k in keep} for i in items]

    def _read(self, start_response: StartResponse, base: str, customer_id: str,
              query: list[tuple[str, str]]) -> Iterable[bytes]:
        with self.lock:
            stored = self.customers.get(customer_id)
        if stored is None:
            if self.faults.unknown_id == "empty-200":
                return _send(start_response, 200, b"", "application/json")
            if self.faults.unknown_id == "empty-404":
                return _send(start_response, 404, b"", "application/json")
            return _json(start_response, 404, _error(404, f"customer {customer_id} not found"))
        body = self._represent(base, stored)
        if self.faults.rename_on_read:
            body["name"] = "Renamed " + str(body.get("name"))
        return _json(start_response, 200, self._select([body], query)[0])

    def _patch(self, environ: Environ, start_response: StartResponse,
               customer_id: str) -> Iterable[bytes]:
        media_type = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
        accepted = list(self.faults.patch_types)
        if media_type not in accepted and self.faults.unsupported_patch_status == 415:
            return _json(start_response, 415, _error(415, f"send {', '.join(accepted)}"),
                         [("Accept-Patch", ", ".join(accepted))])
        body = read_body(environ)
        with self.lock:
            stored = self.customers.get(customer_id)
            if stored is None:
                return _json(start_response, 404, _error(404, "not found"))
            try:
                patched = tmf630.patch(stored, body, media_type)
            except ValueError as exc:
                return _json(start_response, 400, _error(400, str(exc)))
            if self.faults.patch_stores:
                self.customers[customer_id] = patched
        base = f"http://{environ['HTTP_HOST']}{ROOT_PATH}"
        return _json(start_response, 200, self._represent(base, patched))

    def _delete(self, start_response: StartResponse, customer_id: str) -> Iterable[bytes]:
        with self.lock:
            existed = customer_id in self.customers
            if self.faults.delete_removes:
                self.customers.pop(customer_id, None)
        if not existed:
            return _json(start_response, 404, _error(404, "not found"))
        if self.faults.delete_status != 204:
            return _json(start_response, self.faults.delete_status,
                         _error(self.faults.delete_status, "delete refused"))
        return _send(start_response, 204, b"", None)


class SandboxFault:
    """WSGI middleware over the real sandbox app that rewrites one answer.

    ``create_status`` replaces the status of ``POST .../customer``, leaving the
    body the sandbox produced untouched.
    """

    def __init__(self, app: WSGIApp, *, create_status: int) -> None:
        self.app = app
        self.create_status = create_status

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        is_create = environ["REQUEST_METHOD"] == "POST" and environ.get(
            "PATH_INFO", "").rstrip("/").endswith("/customer")

        def rewrite(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            if is_create and status.startswith("201"):
                status = f"{self.create_status} {_REASONS.get(self.create_status, 'X')}"
            return start_response(status, headers, *args)

        return self.app(environ, rewrite)


def read_body(environ: Environ) -> Any:
    """The request body as JSON; None when it is not JSON."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        return json.loads(environ["wsgi.input"].read(length) or b"null")
    except ValueError:
        return None


def _error(status: int, message: str) -> dict[str, Any]:
    return {"code": str(status), "reason": _REASONS.get(status, "Error"), "message": message,
            "status": str(status), "@type": "Error"}


def _json(start_response: StartResponse, status: int, body: Any,
          headers: list[tuple[str, str]] | None = None) -> Iterable[bytes]:
    return _send(start_response, status, json.dumps(body).encode(), "application/json",
                 headers)


def _send(start_response: StartResponse, status: int, data: bytes, content_type: str | None,
          headers: list[tuple[str, str]] | None = None) -> Iterable[bytes]:
    all_headers = list(headers or [])
    if content_type:
        all_headers.append(("Content-Type", content_type))
    all_headers.append(("Content-Length", str(len(data))))
    start_response(f"{status} {_REASONS.get(status, 'Unknown')}", all_headers)
    return [data]


@contextlib.contextmanager
def serve(app: WSGIApp, *, tls: bool | ssl.SSLContext = False) -> Iterator[str]:
    """Serve ``app`` on a free local port; yield its API root URL.

    ``tls=True`` serves HTTPS with a throwaway self-signed certificate (needs the
    ``cryptography`` package), which no client trusts without ``--insecure``;
    an ``ssl.SSLContext`` serves HTTPS with that context (mutual TLS, say).
    """
    # The development server logs every request; the tests read reports instead.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    context: ssl.SSLContext | str | None = (
        tls if isinstance(tls, ssl.SSLContext) else "adhoc" if tls else None)
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        scheme = "https" if tls is not False else "http"
        yield f"{scheme}://127.0.0.1:{server.server_port}{ROOT_PATH}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
