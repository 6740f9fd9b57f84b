"""The web console at ``/console/``: a partner (their key) or the operator (admin token)
sees customers, the request journal, events sent and events received.

Server-rendered pages (Jinja, no script, no CDN). The key is given once on
the sign-in form and starts a server-side session (``hosting/sessions``); the
HttpOnly, SameSite=Strict cookie scoped to ``/console`` holds only its random
id, never the key. A session ends at sign-out, after an idle period, and
with its tenant or key. The pages only read, so the cookie authorises no
change. An open loopback sandbox needs no sign-in.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from werkzeug.wrappers import Response

from sandbox import tenancy
from sandbox.config import Config
from sandbox.domain import query
from sandbox.domain.customers import CustomerService
from sandbox.errors import ApiError
from sandbox.hosting.sessions import MemorySessions, Session, SessionStore
from sandbox.hosting.tenant import Tenant
from sandbox.hosting.tenants_file import key_digest
from sandbox.http import api_base_url, settings
from sandbox.versions import V4, V5, ApiVersion

bp = Blueprint("console", __name__)
COOKIE = "tmf629_console"
SESSIONS = "sandbox.console_sessions"
PAGE = 50


@bp.record_once
def _keep_sessions(state: BlueprintSetupState) -> None:
    config: Config = state.app.config["SANDBOX"]
    state.app.extensions[SESSIONS] = MemorySessions(config.console_idle_hours * 3600,
                                                    config.max_console_sessions)


def sessions() -> SessionStore:
    found: SessionStore = current_app.extensions[SESSIONS]
    return found


@dataclass(frozen=True)
class Viewer:
    tenant: Tenant
    operator: bool
    tenants: list[str]
    #: An open sandbox: nobody signed in, so the pages offer no sign-out and name no role.
    open: bool = False


def viewer() -> Viewer | None:
    """Who is looking, from the console cookie's session; None: sign in first."""
    config, hosted = settings(), tenancy.registry()
    if hosted.open and not tenancy.admin_required(config, hosted) and not config.admin_token:
        return Viewer(hosted.default, True, [], open=True)
    ident = request.cookies.get(COOKIE, "")
    session = sessions().find(ident) if ident else None
    if session is None:
        return None
    if session.operator:
        names = hosted.names()
        # Counted in like an API request: deleting the tenant waits for this page.
        chosen = tenancy.by_name(request.args.get("tenant", "")) or (
            tenancy.by_name(names[0]) if names else None)
        return Viewer(chosen, True, names) if chosen else None
    tenant = tenancy.by_name(session.tenant or "")
    if tenant is None or not _holds(tenant, session.key_digest):
        sessions().end(ident)  # the tenant or the key is gone: so is the session
        return None
    return Viewer(tenant, False, [])


def _holds(tenant: Tenant, digest: str | None) -> bool:
    return digest is not None and any(hmac.compare_digest(candidate, digest)
                                      for candidate in tenant.spec.digests)


def page(template: str, who: Viewer, **context: object) -> str:
    version = chosen_version(who)
    tenant_arg = {"tenant": who.tenant.name} if who.tenants else {}
    return render_template(template, who=who, tenant_arg=tenant_arg, api=version.key,
                           api_arg={**tenant_arg, **({"api": "v5"} if version is V5 else {})},
                           versions=[v.key for v in (V4, V5) if _service(who, v)],
                           **context)


def chosen_version(who: Viewer) -> ApiVersion:
    """The API version whose customers the page shows (``?api=v5``; v4 by default)."""
    return V5 if request.args.get("api") == "v5" and _service(who, V5) else V4


def _service(who: Viewer, version: ApiVersion) -> CustomerService | None:
    return who.tenant.customers_v5 if version is V5 else who.tenant.customers


def _signed_in_as(key: str, config: Config) -> Session | None:
    """The session a sign-in with ``key`` starts; None: the key is not known here."""
    if config.admin_token and hmac.compare_digest(key.encode(), config.admin_token.encode()):
        return Session()
    hosted = tenancy.registry()
    tenant = None if hosted.open or not key else hosted.for_key(key)
    return Session(tenant.name, key_digest(key)) if tenant else None


def _secure(config: Config) -> bool:
    """Whether the cookie is for HTTPS only: served over it, or published as https."""
    return request.is_secure or (config.public_url or "").lower().startswith("https:")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    if request.method == "GET":
        return render_template("console_login.html", failed=False)
    config = settings()
    session = _signed_in_as(request.form.get("key", "").strip(), config)
    if session is None:
        return render_template("console_login.html", failed=True), 401
    previous = request.cookies.get(COOKIE)
    if previous:  # a new sign-in never inherits an old id
        sessions().end(previous)
    response = redirect(url_for("console.customers"))
    response.set_cookie(COOKIE, sessions().start(session), httponly=True, samesite="Strict",
                        path="/console", secure=_secure(config))
    return response


@bp.post("/logout")
def logout() -> Response:
    ident = request.cookies.get(COOKIE)
    if ident:
        sessions().end(ident)
    response = redirect(url_for("console.login"))
    response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="Strict",
                           secure=_secure(settings()))
    return response


@bp.get("/")
def customers() -> Response | str:
    who = viewer()
    if who is None:
        return redirect(url_for("console.login"))
    given = [(k, v) for k, v in request.args.items(multi=True)
             if v and k not in ("tenant", "api")]
    filters = query.parse_filters(given)
    version = chosen_version(who)
    service = _service(who, version) or who.tenant.customers
    with query.regex_slot(query.uses_regex(filters)):
        found = service.list(filters, api_base_url(version), offset=0, limit=PAGE)
    return page("console_customers.html", who, customers=found.items, total=found.total,
                filters=given)


@bp.get("/customers/<ident>")
def customer(ident: str) -> Response | str:
    who = viewer()
    if who is None:
        return redirect(url_for("console.login"))
    version = chosen_version(who)
    service = _service(who, version) or who.tenant.customers
    found = service.get(ident, api_base_url(version))
    return page("console_customer.html", who, customer=found,
                text=json.dumps(found, indent=2, ensure_ascii=False))


@bp.get("/journal")
def journal() -> Response | str:
    who = viewer()
    if who is None:
        return redirect(url_for("console.login"))
    entries = list(reversed(who.tenant.journal.entries()))
    return page("console_journal.html", who, entries=entries)


@bp.get("/events")
def events() -> Response | str:
    who = viewer()
    if who is None:
        return redirect(url_for("console.login"))
    parts, v5 = who.tenant.notifications, who.tenant.notifications_v5
    # Both versions' subscriptions; deliveries and received events are one log each.
    subscriptions = [("v4", s) for s in parts.hub.subscriptions()] + (
        [("v5", s) for s in v5.hub.subscriptions()] if v5 is not None else [])
    return page("console_events.html", who, subscriptions=subscriptions,
                deliveries=list(reversed(parts.deliveries.all())),
                received=list(reversed(parts.received.all())))


@bp.errorhandler(ApiError)
def _error(error: ApiError) -> tuple[str, int]:
    return render_template("console_error.html", error=error), error.status
