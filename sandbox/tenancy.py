"""The HTTP face of hosting: which tenant a request is for, admin tokens, faults, journal.

Tenant resolution lives here and only here: :func:`by_key` (a partner's key),
:func:`by_name` (an operator's choice), the open sandbox's default tenant, and
:func:`serve` / :func:`release`, which count the request in and out of its
tenant (deleting a tenant waits for the requests it counted). ``install`` adds
the hooks once for the whole app, so every view gets its services from
:func:`current` and never branches on tenancy itself:

- an API request (under ``API_PREFIX``) is resolved to its tenant by key
  (``Authorization: Bearer`` or ``X-API-Key``); an open sandbox has one
  default tenant and needs no key;
- the tenant's fault rules (and a ``Prefer`` header, where allowed) may then
  delay it, answer it with an error, or drop its connection;
- after the answer, the request goes into the tenant's journal.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
import time
from typing import Any

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from sandbox.config import Config
from sandbox.errors import ApiError
from sandbox.hosting.faults import Fault, parse_prefer
from sandbox.hosting.registry import Registry
from sandbox.hosting.tenant import Tenant
from sandbox.http import DROP, STARTED, json_response
from sandbox.repository import Document, StoreGone
from sandbox.versions import PREFIXES, prefix_of

EXTENSION = "sandbox.tenants"
DELAY_SLOTS = "sandbox.delay_slots"
#: Paths under the API root that describe the API rather than serve a tenant's data.
PUBLIC = tuple(f"{prefix}/{page}" for prefix, _ in PREFIXES for page in ("api-docs", "docs"))
CHALLENGE = 'Bearer realm="tmf629-sandbox"'


def registry() -> Registry:
    found: Registry = current_app.extensions[EXTENSION]
    return found


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def presented_key(headers: Any, header: str = "X-API-Key") -> str | None:
    """The credential of a request: a Bearer token or the named header."""
    scheme, _, token = (headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return str(token.strip())
    value = headers.get(header)
    return str(value) if value else None


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, reason="Unauthorized", headers={"WWW-Authenticate": CHALLENGE})


def by_key(key: str | None) -> Tenant | None:
    """The tenant ``key`` selects (any key: the open sandbox's), counted in as the
    request's; None when no tenant is, or it is being deleted."""
    tenants = registry()
    if tenants.open:
        found: Tenant | None = tenants.default
    else:
        found = tenants.for_key(key) if key else None
    return found if found is not None and serve(found) else None


def by_name(name: str | None) -> Tenant | None:
    """The tenant an operator names (None: the open sandbox's only one), counted in as
    the request's; None when there is no such tenant (or it is being deleted)."""
    tenants = registry()
    if name is None:
        found = tenants.default if tenants.open else None
    else:
        found = tenants.get(name)
    return found if found is not None and serve(found) else None


def current() -> Tenant:
    """The tenant the running request is for (resolved once, then kept in ``g``)."""
    found: Tenant | None = g.get("tenant")
    if found is not None:
        return found
    tenants = registry()
    if tenants.open:
        # An open sandbox's one tenant needs no key: the headers are not even read.
        found = tenants.default if serve(tenants.default) else None
    else:
        key = presented_key(request.headers)
        if not key:
            raise unauthorized("This sandbox hosts several tenants: send your key as "
                               "'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        found = by_key(key)
    if found is None:
        raise unauthorized("The key is not known here")
    return found


def serve(tenant: Tenant) -> bool:
    """Make ``tenant`` the request's, counted in until the request ends (so deleting it
    waits for this request); False when it is being deleted."""
    if g.get("tenant") is tenant:
        return True
    release()
    if not tenant.enter():
        return False
    g.tenant = tenant
    return True


def release() -> None:
    """The request is no longer the tenant's (it ended, or an operator chose another)."""
    tenant: Tenant | None = g.pop("tenant", None)
    if tenant is not None:
        tenant.leave()


def summaries() -> list[Document]:
    """Every tenant's summary; a tenant deleted meanwhile (by any process) is left out."""
    found = []
    for tenant in registry().all():
        try:
            found.append(tenant.summary())
        except StoreGone:
            registry().changed()
    return found


def _gone(_: StoreGone) -> Response:
    """A request that raced its tenant's deletion (through any process) met its dropped
    store: to a partner the key is no longer known, to an operator the tenant is gone."""
    registry().changed()
    error = (unauthorized("The key is not known here") if _is_api(request.path)
             else ApiError(404, "The tenant was deleted", reason="Resource not found"))
    return json_response(error.to_json(), error.status, error.headers)


def admin_required(config: Config, tenants: Registry) -> bool:
    """Whether ``/admin`` needs the admin token: when hosting tenants or reachable remotely."""
    return not tenants.open or not is_loopback(config.bind_host)


def check_admin(config: Config) -> None:
    """Let an operator request through, or refuse it with a TMF Error."""
    token = config.admin_token
    if token is None:
        if admin_required(config, registry()):
            raise ApiError(403, "The admin API is off: this sandbox is not loopback-only or "
                           "hosts tenants, and was started without --admin-token",
                           reason="Admin API off")
        return
    given = presented_key(request.headers, "X-Admin-Token") or ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise unauthorized("The admin API needs the admin token as 'Authorization: Bearer "
                           "<token>' or 'X-Admin-Token: <token>'")


def prefer_allowed(config: Config) -> bool:
    return config.prefer_faults if config.prefer_faults is not None else is_loopback(
        config.bind_host)


def _api_prefix(path: str) -> str | None:
    """The API prefix of a path that serves a tenant's data; None for any other path."""
    found = prefix_of(path)
    return None if found is None or path.startswith(PUBLIC) else found[0]


def _is_api(path: str) -> bool:
    return _api_prefix(path) is not None


def _apply_faults(tenant: Tenant, prefer: bool, api_prefix: str) -> None:
    fault: Fault | None = None
    if prefer and "HTTP_PREFER" in request.environ:
        fault = parse_prefer(request.headers.getlist("Prefer"), tenant.faults.max_delay_ms)
    if fault is None:
        # A rule's path is relative to the API root: it applies to every version.
        fault = tenant.faults.pick(request.method,
                                   request.path.removeprefix(api_prefix) or "/")
    if fault is None:
        return
    g.fault, g.preference = fault.describe(), fault.preference()
    if fault.action == "delay":
        # A sleeping request holds a server thread: only a few may sleep at once, so one
        # tenant's slow rules never stall the others. Past that the answer comes at once.
        slots: threading.BoundedSemaphore = current_app.extensions[DELAY_SLOTS]
        if not slots.acquire(blocking=False):
            g.fault += "; skipped: every delay slot is busy"
            return
        try:
            time.sleep(fault.delay_ms / 1000)
        finally:
            slots.release()
    elif fault.action == "drop":
        request.environ[DROP] = True  # the edge answers with nothing at all (http.Edge)
        raise ApiError(503, "Connection dropped by a fault rule", reason="Injected fault")
    else:
        raise ApiError(fault.status or 503, f"Injected fault: {g.fault}",
                       reason="Injected fault")


def _journal(response: Response) -> Response:
    if g.get("preference") and not g.get("fault", "").endswith("busy"):
        response.headers["Preference-Applied"] = g.preference
    tenant: Tenant | None = g.get("tenant")
    if tenant is None or not tenant.journal.recording or not _is_api(request.path):
        return response  # operators' requests are not journaled
    body = b"" if response.is_streamed else response.get_data()
    try:
        sent = request.get_data(cache=True)
    except HTTPException:  # a body over the size limit is not read at all
        sent = b""
    tenant.journal.record(
        method=request.method, url=request.url, path=request.path,
        headers=request.headers.items(), body=sent,
        status=response.status_code, response=body,
        latency_ms=(time.perf_counter() - request.environ.get(STARTED, time.perf_counter()))
        * 1000,
        fault=g.get("fault"))
    return response


def install(app: Flask, tenants: Registry) -> None:
    app.extensions[EXTENSION] = tenants
    app.extensions[DELAY_SLOTS] = threading.BoundedSemaphore(
        app.config["SANDBOX"].max_delayed_requests)

    prefer = prefer_allowed(app.config["SANDBOX"])  # the config never changes

    @app.before_request
    def _tenant_and_faults() -> None:
        api_prefix = _api_prefix(request.path)
        if api_prefix is not None:
            _apply_faults(current(), prefer, api_prefix)

    app.after_request(_journal)
    app.register_error_handler(StoreGone, _gone)

    @app.teardown_request
    def _done(_: BaseException | None) -> None:
        release()
