"""The web console at ``/console/``: a partner (their key) or the operator (admin token)
sees customers, the request journal, events sent and events received.

Server-rendered pages (Jinja, no script, no CDN). The key is given once on
the sign-in form and kept in an HttpOnly, SameSite=Strict cookie scoped to
``/console``; the pages only read, so the cookie authorises no change.
An open loopback sandbox needs no sign-in.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from sandbox import tenancy
from sandbox.domain import query
from sandbox.errors import ApiError
from sandbox.hosting.tenant import Tenant
from sandbox.http import api_base_url, settings

bp = Blueprint("console", __name__)
COOKIE = "tmf629_console"
PAGE = 50


@dataclass(frozen=True)
class Viewer:
    tenant: Tenant
    operator: bool
    tenants: list[str]


def viewer() -> Viewer | None:
    """Who is looking, from the console cookie; None: sign in first."""
    config, hosted = settings(), tenancy.registry()
    if hosted.open and not tenancy.admin_required(config, hosted) and not config.admin_token:
        return Viewer(hosted.default, True, [])
    key = request.cookies.get(COOKIE, "")
    if config.admin_token and key and hmac.compare_digest(key.encode(),
                                                          config.admin_token.encode()):
        names = hosted.names()
        # Counted in like an API request: deleting the tenant waits for this page.
        chosen = tenancy.by_name(request.args.get("tenant", "")) or (
            tenancy.by_name(names[0]) if names else None)
        return Viewer(chosen, True, names) if chosen else None
    found = tenancy.by_key(key) if key and not hosted.open else None
    return Viewer(found, False, []) if found else None


def page(template: str, who: Viewer, **context: object) -> str:
    return render_template(template, who=who, tenant_arg=(
        {"tenant": who.tenant.name} if who.tenants else {}), **context)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    if request.method == "GET":
        return render_template("console_login.html", failed=False)
    key = request.form.get("key", "").strip()
    config, hosted = settings(), tenancy.registry()
    admin = bool(config.admin_token) and hmac.compare_digest(
        key.encode(), (config.admin_token or "").encode())
    if not admin and (hosted.open or tenancy.by_key(key) is None):
        return render_template("console_login.html", failed=True), 401
    response = redirect(url_for("console.customers"))
    response.set_cookie(COOKIE, key, httponly=True, samesite="Strict", path="/console",
                        secure=request.is_secure)
    return response


@bp.post("/logout")
def logout() -> Response:
    response = redirect(url_for("console.login"))
    response.delete_cookie(COOKIE, path="/console")
    return response


@bp.get("/")
def customers() -> Response | str:
    who = viewer()
    if who is None:
        return redirect(url_for("console.login"))
    given = [(k, v) for k, v in request.args.items(multi=True) if v and k != "tenant"]
    filters = query.parse_filters(given)
    with query.regex_slot(query.uses_regex(filters)):
        found = who.tenant.customers.list(filters, api_base_url(), offset=0, limit=PAGE)
    return page("console_customers.html", who, customers=found.items, total=found.total,
                filters=given)


@bp.get("/customers/<ident>")
def customer(ident: str) -> Response | str:
    who = viewer()
    if who is None:
        return redirect(url_for("console.login"))
    found = who.tenant.customers.get(ident, api_base_url())
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
    parts = who.tenant.notifications
    return page("console_events.html", who, subscriptions=parts.hub.subscriptions(),
                deliveries=list(reversed(parts.deliveries.all())),
                received=list(reversed(parts.received.all())))


@bp.errorhandler(ApiError)
def _error(error: ApiError) -> tuple[str, int]:
    return render_template("console_error.html", error=error), error.status
