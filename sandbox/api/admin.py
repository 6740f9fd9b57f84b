"""Operator endpoints of one tenant: deliveries, listener inbox, subscriptions, journal,
fault rules, and reset / empty / snapshot / restore.

The blueprint is registered twice: at ``/admin`` (the open sandbox's only
tenant) and at ``/admin/tenants/<tenant>``. Every route needs the admin token
when :func:`sandbox.tenancy.check_admin` says so. Lists take the filter syntax
of ``GET /customer`` (``?outcome=failed``); the journal takes ``method``,
``path``, ``status``, ``since`` and ``fault``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, request

from sandbox import tenancy
from sandbox.api import notifications, tenants
from sandbox.domain import query
from sandbox.domain.validation import schema_errors
from sandbox.errors import ApiError
from sandbox.hosting import journal
from sandbox.http import json_response, read_json, settings

bp = Blueprint("admin", __name__)


@bp.url_value_preprocessor
def _pick_tenant(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # First the token: no answer may tell a stranger which tenants exist.
    tenancy.check_admin(settings())
    name = (values or {}).pop("tenant", None)
    if name is None and not tenancy.registry().open:
        raise ApiError(404, f"This sandbox hosts tenants: use /admin/tenants/<name>"
                       f"{request.path.removeprefix('/admin')}", reason="Name a tenant")
    if tenancy.by_name(name) is None:
        raise ApiError(404, f"No tenant {name}", reason="Resource not found")


def listing(records: list[dict[str, Any]]) -> Response:
    filters = query.parse_filters(request.args.items(multi=True))
    with query.regex_slot(query.uses_regex(filters)):
        found = [record for record in records if query.matches(record, filters)]
    headers = {"X-Total-Count": str(len(found)), "X-Result-Count": str(len(found))}
    return json_response(found, 200, headers)


@bp.get("/deliveries", strict_slashes=False)
def list_deliveries() -> Response:
    return listing(notifications().deliveries.all())


@bp.delete("/deliveries", strict_slashes=False)
def clear_deliveries() -> Response:
    notifications().deliveries.clear()
    return Response(status=204)


@bp.get("/received-events", strict_slashes=False)
def list_received_events() -> Response:
    return listing(notifications().received.all())


@bp.delete("/received-events", strict_slashes=False)
def clear_received_events() -> Response:
    notifications().received.clear()
    return Response(status=204)


@bp.get("/subscriptions", strict_slashes=False)
def list_subscriptions() -> Response:
    return listing(notifications().hub.subscriptions())


@bp.delete("/subscriptions/<ident>", strict_slashes=False)
def delete_subscription(ident: str) -> Response:
    notifications().hub.unregister(ident)
    return Response(status=204)


@bp.get("/journal", strict_slashes=False)
def read_journal() -> Response:
    found = tenancy.current().journal.entries(journal.parse_query(request.args.to_dict()))
    return json_response(found, 200, {"X-Total-Count": str(len(found))})


@bp.delete("/journal", strict_slashes=False)
def clear_journal() -> Response:
    tenancy.current().journal.clear()
    return Response(status=204)


@bp.get("/faults", strict_slashes=False)
def list_faults() -> Response:
    return json_response([rule.to_json() for rule in tenancy.current().faults.all()])


@bp.post("/faults", strict_slashes=False)
def add_fault() -> Response:
    return json_response(tenancy.current().faults.add(read_json()).to_json(), 201)


@bp.delete("/faults/<ident>", strict_slashes=False)
def delete_fault(ident: str) -> Response:
    if not tenancy.current().faults.remove(ident):
        raise ApiError(404, f"No fault rule {ident}", reason="Resource not found")
    return Response(status=204)


@bp.delete("/faults", strict_slashes=False)
def clear_faults() -> Response:
    tenancy.current().faults.clear()
    return Response(status=204)


@bp.post("/reset", strict_slashes=False)
def reset() -> Response:
    return json_response({"customers": tenancy.current().reset()})


@bp.post("/empty", strict_slashes=False)
def empty() -> Response:
    tenancy.current().empty()
    return Response(status=204)


@bp.get("/snapshot", strict_slashes=False)
def snapshot() -> Response:
    return json_response(tenancy.current().snapshot())


@bp.post("/restore", strict_slashes=False)
def restore() -> Response:
    restored = tenancy.current().restore(read_json(),
                                         lambda doc: schema_errors("Customer", doc))
    return json_response(restored)


def register(app: Flask) -> None:
    app.register_blueprint(tenants.bp, url_prefix="/admin/tenants")
    app.register_blueprint(bp, url_prefix="/admin")
    app.register_blueprint(bp, url_prefix="/admin/tenants/<tenant>", name="tenant_admin")
