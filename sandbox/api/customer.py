"""The ``/customer`` resource: thin views over :class:`CustomerService`.

Query parsing, paging and patching are plain functions in
:mod:`sandbox.domain`; the views only hand them the request's parts.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from sandbox.api import customers
from sandbox.domain import fields, paging, query, sorting
from sandbox.domain.patch import PATCH_MEDIA_TYPES, selects_by_regex
from sandbox.http import api_base_url, json_response, media_type, read_json, settings

bp = Blueprint("customer", __name__)


@bp.after_request
def _advertise_patch(response: Response) -> Response:
    # Flask answers OPTIONS itself; RFC 5789 wants Accept-Patch on that answer.
    if request.method == "OPTIONS" and "ident" in (request.view_args or {}):
        response.headers["Accept-Patch"] = ", ".join(PATCH_MEDIA_TYPES)
    return response


@bp.get("/customer", strict_slashes=False)
def list_customers() -> Response:
    args = request.args
    params = list(args.items(multi=True))
    selection = fields.parse_fields(args.get("fields"))
    filters = query.parse_filters(params)
    keys = sorting.parse_sort(args.getlist("sort"))
    window = paging.window(args.get("offset"), args.get("limit"),
                           settings().max_limit)
    base = api_base_url()
    with query.regex_slot(query.uses_regex(filters)):
        page = customers().list(filters, base, sort=keys, offset=window.offset,
                                limit=window.limit)
    body = [fields.select_fields(item, selection) for item in page.items]
    status, headers = paging.response_meta(f"{base}/customer", params, window, page.total,
                                           len(body))
    return json_response(body, status, headers)


@bp.post("/customer", strict_slashes=False)
def create_customer() -> Response:
    created = customers().create(read_json(), api_base_url())
    return json_response(created, 201, {"Location": created["href"]})


@bp.get("/customer/<ident>", strict_slashes=False)
def retrieve_customer(ident: str) -> Response:
    # Without a query string there is nothing to parse (the common case: spared per GET).
    selection = fields.parse_fields(request.args.get("fields")) if request.query_string else None
    return json_response(fields.select_fields(customers().get(ident, api_base_url()), selection))


@bp.patch("/customer/<ident>", strict_slashes=False)
def patch_customer(ident: str) -> Response:
    body = read_json(PATCH_MEDIA_TYPES)
    with query.regex_slot(selects_by_regex(body)):
        patched = customers().patch(ident, body, api_base_url(), media_type())
    return json_response(patched)


@bp.delete("/customer/<ident>", strict_slashes=False)
def delete_customer(ident: str) -> Response:
    customers().delete(ident, api_base_url())
    return Response(status=204)
