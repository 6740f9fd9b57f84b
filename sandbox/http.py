"""The HTTP edge shared by all blueprints: JSON in, JSON out, errors as TMF.

``register`` installs the one handler that maps :class:`ApiError` (and any
Werkzeug or unexpected exception) to the TMF ``Error`` JSON, plus a one-line
access log per request (credential query values masked).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, current_app, g, request
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
# ensure_ascii=False keeps names like "Zoë" readable, and json never escapes "/", so an
# href appears verbatim in the raw text. One encoder: json.dumps with options builds one
# per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = _ENCODER.encode(data)
    return Response(body, status=status, headers=headers, content_type=JSON_MEDIA_TYPE)


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

    @app.before_request
    def _start_clock() -> None:
        g.started = time.perf_counter()
        check_query(request.query_string, settings())

    # One after-request hook (each hook is a call through Flask's machinery per request).
    @app.after_request
    def _finish(response: Response) -> Response:
        _label(response)
        if access_log.isEnabledFor(logging.INFO):
            _log(response)
        return response


def _label(response: Response) -> None:
    status = response.status_code
    if status == 200 and request.method == "OPTIONS" and not response.data:
        # Flask's automatic OPTIONS answer is an empty text/html 200.
        response.status_code = status = 204
    headers = response.headers
    if status == 204:
        # An empty answer has no media type; Flask would label it text/html.
        del headers["Content-Type"]
    # Answers are data, never to be sniffed into HTML nor kept by caches.
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Cache-Control"] = "no-store"


def _log(response: Response) -> None:
    elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    # A key sent as ?api_key=... is refused, but must not stay readable in the log.
    raw = request.query_string
    query = f"?{masked_query(raw.decode('latin-1'))}" if raw else ""
    # The record is made directly: Logger.info would walk the stack for the caller's
    # file and line, which this line never shows, on every request.
    access_log.handle(access_log.makeRecord(
        access_log.name, logging.INFO, __file__, 0, '%s "%s %s%s" %s %s %.1fms',
        (request.remote_addr, request.method, request.path, query, response.status_code,
         response.calculate_content_length() or 0, elapsed_ms), None))
