"""``/admin/tenants``: the operator lists, creates and deletes tenants (admin token)."""

from __future__ import annotations

from flask import Blueprint, Response

from sandbox import tenancy
from sandbox.errors import ApiError
from sandbox.http import json_response, read_json, settings

bp = Blueprint("tenants", __name__)


@bp.before_request
def _operator_only() -> None:
    tenancy.check_admin(settings())


@bp.get("/", strict_slashes=False)
def list_tenants() -> Response:
    return json_response(tenancy.summaries())


@bp.post("/", strict_slashes=False)
def create_tenant() -> Response:
    tenant, keys = tenancy.registry().create(read_json())
    # The keys are shown this once; the journal masks them and no list repeats them.
    return json_response({**tenant.summary(), "apiKeys": keys}, 201)


@bp.get("/<name>", strict_slashes=False)
def get_tenant(name: str) -> Response:
    found = tenancy.registry().get(name)
    if found is None:
        raise ApiError(404, f"No tenant {name}", reason="Resource not found")
    return json_response(found.summary())


@bp.delete("/<name>", strict_slashes=False)
def delete_tenant(name: str) -> Response:
    tenancy.registry().delete(name)
    return Response(status=204)
