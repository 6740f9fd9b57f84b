"""The ``/customer`` resource: thin views over :class:`CustomerService`."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from sandbox.domain import query
from sandbox.domain.customers import CustomerService
from sandbox.http import api_base_url, json_response, read_json

bp = Blueprint("customer", __name__)

MERGE_PATCH_TYPES = ("application/merge-patch+json", "application/json")


def service() -> CustomerService:
    return current_app.extensions["sandbox.customers"]


@bp.get("/customer", strict_slashes=False)
def list_customers() -> Response:
    args = request.args
    fields = query.parse_fields(args.get("fields"))
    filters = query.parse_filters(args.items(multi=True))
    offset = query.parse_non_negative_int("offset", args.get("offset")) or 0
    limit = query.parse_non_negative_int("limit", args.get("limit"))
    page = service().list(filters, api_base_url(), offset=offset, limit=limit)
    body = [query.select_fields(item, fields) for item in page.items]
    headers = {"X-Total-Count": str(page.total), "X-Result-Count": str(len(body))}
    return json_response(body, 200, headers)


@bp.post("/customer", strict_slashes=False)
def create_customer() -> Response:
    created = service().create(read_json(), api_base_url())
    return json_response(created, 201, {"Location": created["href"]})


@bp.get("/customer/<ident>", strict_slashes=False)
def retrieve_customer(ident: str) -> Response:
    fields = query.parse_fields(request.args.get("fields"))
    return json_response(query.select_fields(service().get(ident, api_base_url()), fields))


@bp.patch("/customer/<ident>", strict_slashes=False)
def patch_customer(ident: str) -> Response:
    body = read_json(MERGE_PATCH_TYPES)
    return json_response(service().patch(ident, body, api_base_url()))


@bp.delete("/customer/<ident>", strict_slashes=False)
def delete_customer(ident: str) -> Response:
    service().delete(ident, api_base_url())
    return Response(status=204)
