"""The HTTP edge shared by all blueprints: JSON in, JSON out, errors as TMF.

``register`` installs the one handler that maps :class:`ApiError` (and any
Werkzeug or unexpected exception) to the TMF ``Error`` JSON, plus a one-line
access log per request (credential query values masked).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, current_app, request
from waitress.channel import ClientDisconnected
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

from sandbox.config import API_PREFIX, Config
from sandbox.domain import json_body
from sandbox.errors import ApiError
from sandbox.hosting.secrets import masked_query
from sandbox.versions import V4, ApiVersion, prefix_of, strip_prefix

JSON_MEDIA_TYPE = "application/json;charset=utf-8"
access_log = logging.getLogger("sandbox.access")
error_log = logging.getLogger("sandbox.error")
def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(json_body.encode(data), status=status, headers=headers,
                    content_type=JSON_MEDIA_TYPE)


def media_type() -> str:
    return (request.mimetype or "").lower()


def read_json(accepted: Iterable[str] = ("application/json",)) -> Any:
    """The request body parsed as JSON, after checking its media type."""
    allowed = tuple(accepted)
    if media_type() not in allowed:
        sent = request.content_type or "no Content-Type"
        raise ApiError(
            415,
            f"Unsupported media type '{sent}'; send one of: {', '.join(allowed)}",
            reason="Unsupported Media Type",
            headers={"Accept-Patch": ", ".join(allowed)} if request.method == "PATCH" else None,
        )
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ApiError(400, "The request body is empty; a JSON document is expected",
                       reason="Malformed JSON")
    try:
        text = raw.decode(request.mimetype_params.get("charset", "utf-8"))
    except (UnicodeDecodeError, LookupError) as exc:
        raise ApiError(400, f"The body is not valid JSON: {exc}", reason="Malformed JSON") from None
    config = settings()
    return json_body.parse(text, json_body.BodyLimits(config.max_json_depth,
                                                      config.max_number_length))


class TrustedProxies:
    """WSGI middleware: ``X-Forwarded-*`` count only when the peer is a trusted proxy.

    From a trusted address one proxy hop is applied (``ProxyFix``); from any
    other the headers are removed, so a client cannot rewrite ``Location`` or
    the ``href`` of events sent to others.
    """

    def __init__(self, app: WSGIApplication, trusted: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(t.strip(), strict=False) for t in trusted)
        self.plain = app
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)

    def trusts(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        return any(address.version == n.version and address in n for n in self.networks)

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        if self.trusts(str(environ.get("REMOTE_ADDR", ""))):
            return self.fixed(environ, start_response)
        for key in [k for k in environ if k.startswith(("HTTP_X_FORWARDED_", "HTTP_FORWARDED"))]:
            del environ[key]
        return self.plain(environ, start_response)


def settings() -> Config:
    """The running app's :class:`Config`."""
    config: Config = current_app.config["SANDBOX"]
    return config


def api_prefix() -> str:
    """The API prefix of the request (v4's outside every API, as for the console)."""
    found = prefix_of(request.path)
    return found[0] if found else API_PREFIX


def api_version() -> ApiVersion:
    """The API version the request is for (v4 outside every API)."""
    found = prefix_of(request.path)
    return found[1] if found else V4


def api_base_url(version: ApiVersion | None = None) -> str:
    """The public API root of the request's version (or of ``version``), without trailing
    slash, for hrefs."""
    prefix = api_prefix() if version is None else version.prefix
    public = settings().public_url
    if public:
        return strip_prefix(public.rstrip("/")) + prefix
    # request.host_url already reflects X-Forwarded-Proto/Host (ProxyFix), which rewrote
    # the environ this key is read from. Werkzeug derives it anew on every request (IRI
    # decoding and all): kept per key, a bounded few (the Host header is the client's).
    environ = request.environ
    key = (environ.get("wsgi.url_scheme"), environ.get("HTTP_HOST"),
           environ.get("SERVER_NAME"), environ.get("SERVER_PORT"), environ.get("SCRIPT_NAME"))
    found = _BASE_URLS.get(key)
    if found is None:
        found = request.host_url.rstrip("/") + request.script_root
        if len(_BASE_URLS) < 64:
            _BASE_URLS[key] = found
    return found + prefix


_BASE_URLS: dict[tuple[object, ...], str] = {}


def check_query(raw: bytes, config: Config) -> None:
    """Refuse an oversized query before anything parses it (414, or 400 for too many
    parameters): 25,000 filters would otherwise cost seconds of CPU."""
    if len(raw) > config.max_query_bytes:
        raise ApiError(414, f"The query string has {len(raw)} bytes; at most "
                       f"{config.max_query_bytes} are accepted", reason="URI Too Long")
    count = raw.count(b"&") + 1 if raw else 0
    if count > config.max_query_params:
        raise ApiError(400, f"The query has {count} parameters; at most "
                       f"{config.max_query_params} are accepted", reason="Too many parameters")


def _error_response(error: ApiError) -> Response:
    response = json_response(error.to_json(), error.status, error.headers)
    return response


def _from_http_exception(exc: HTTPException) -> ApiError:
    status = exc.code or 500
    messages = {
        404: f"No resource at {request.path}",
        405: f"Method {request.method} is not allowed on {request.path}",
        414: "The request URI is longer than the server accepts",
        413: "The request body is larger than the server accepts "
        f"({current_app.config.get('MAX_CONTENT_LENGTH')} bytes at most)",
    }
    headers = {}
    if status == 405:
        valid = getattr(exc, "valid_methods", None) or []
        headers["Allow"] = ", ".join(valid)
    return ApiError(status, messages.get(status, exc.description or exc.name), headers=headers)


def register(app: Flask) -> None:
    app.register_error_handler(ApiError, _error_response)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return _error_response(_from_http_exception(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        error_log.exception("unhandled error on %s %s", request.method, request.path)
        return _error_response(ApiError(500, "The server failed to handle the request"))

    @app.after_request
    def _label(response: Response) -> Response:
        if response.status_code == 200 and request.method == "OPTIONS" and not response.data:
            # Flask's automatic OPTIONS answer is an empty text/html 200.
            response.status_code = 204
        if response.status_code == 204:
            # An empty answer has no media type; Flask would label it text/html.
            del response.headers["Content-Type"]
        return response

    app.wsgi_app = Edge(app.wsgi_app, settings=app.config["SANDBOX"])  # type: ignore[method-assign]


#: The environ key of the time a request reached the app (``time.perf_counter``).
STARTED = "sandbox.started"
#: The environ key that makes the edge drop the connection instead of answering.
DROP = "sandbox.drop"
#: Answers are data, never to be sniffed into HTML nor kept by caches.
_EVERY_ANSWER = [("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store")]
_OWN = frozenset(name.lower() for name, _ in _EVERY_ANSWER)


class Edge:
    """WSGI middleware at the app's edge: when each request started, the headers every
    answer carries, the access log line, and no answer at all for a request marked
    :data:`DROP` (a fault rule's dropped connection).

    Waitress closes the socket without writing when the app raises
    ``ClientDisconnected`` before the status line: the client sees the connection go
    away, as with a crashed upstream.

    Done on the WSGI environ and header list rather than in Flask hooks: a hook and
    each ``request`` attribute it reads go through Flask's machinery on every request.
    """

    def __init__(self, app: WSGIApplication, settings: Config) -> None:
        self.app = app
        self.settings = settings

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        environ[STARTED] = started = time.perf_counter()
        answer: list[Any] = []

        def respond(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            if any(name.lower() in _OWN for name, _ in headers):  # send_from_directory's
                headers[:] = [(n, v) for n, v in headers if n.lower() not in _OWN]
            headers.extend(_EVERY_ANSWER)
            answer[:] = status, headers, exc_info
            return _ignore

        try:
            # Refused before Flask parses any of it (and before a tenant is resolved for it).
            check_query(environ.get("QUERY_STRING", "").encode("latin-1"), self.settings)
        except ApiError as error:
            body: Iterable[bytes] = _error_response(error)(environ, respond)
        else:
            body = self.app(environ, respond)
        if answer and access_log.isEnabledFor(logging.INFO):
            _log(environ, answer[0], answer[1], started)
        if environ.get(DROP):
            if hasattr(body, "close"):
                body.close()
            raise ClientDisconnected("dropped by a fault rule")
        start_response(*answer[:2], *answer[2])
        return body


def _ignore(data: bytes) -> None:
    """The ``write`` callable of a held answer: Flask never calls it."""


class AccessRecord(logging.LogRecord):
    """The access log's record: what is the same on every line is a class attribute.

    ``LogRecord.__init__`` looks up the thread, process and source file anew for each
    record, which cost as much as the rest of a GET's own work; a line shows none of it.
    """

    name, levelno, levelname = access_log.name, logging.INFO, "INFO"
    pathname, filename, module, lineno, funcName = __file__, "http.py", "http", 0, "_log"
    exc_info = exc_text = stack_info = None
    thread = threadName = processName = process = taskName = None
    msg = '%s "%s %s%s" %s %s %.1fms'

    def __init__(self, args: tuple[object, ...]) -> None:  # noqa: D107 - no super(): see above
        self.args = args
        self.created = now = time.time()
        self.msecs = int((now - int(now)) * 1000) + 0.0
        self.relativeCreated = (now - logging._startTime) * 1000  # type: ignore[attr-defined]


def _log(environ: WSGIEnvironment, status: str, headers: list[tuple[str, str]],
         started: float) -> None:
    elapsed_ms = (time.perf_counter() - started) * 1000
    # A key sent as ?api_key=... is refused, but must not stay readable in the log.
    raw = environ.get("QUERY_STRING", "")
    query = f"?{masked_query(raw)}" if raw else ""
    # The path as Flask reads it: WSGI carries its bytes as latin-1 text.
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    length = next((value for name, value in headers if name == "Content-Length"), 0)
    access_log.handle(AccessRecord((environ.get("REMOTE_ADDR"), environ.get("REQUEST_METHOD"),
                                    path, query, status[:3], length, elapsed_ms)))
