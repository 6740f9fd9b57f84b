"""The ``/hub`` resource (TMF630 event subscriptions): thin views over :class:`Hub`."""

from __future__ import annotations

from flask import Blueprint, Response

from sandbox.api import notifications
from sandbox.http import api_base_url, json_response, read_json

bp = Blueprint("hub", __name__)



@bp.post("/hub", strict_slashes=False)
def register_listener() -> Response:
    subscription = notifications().hub.register(read_json())
    location = f"{api_base_url()}/hub/{subscription['id']}"
    return json_response(subscription, 201, {"Location": location})


@bp.get("/hub/<ident>", strict_slashes=False)
def retrieve_listener(ident: str) -> Response:
    return json_response(notifications().hub.get(ident))


@bp.delete("/hub/<ident>", strict_slashes=False)
def unregister_listener(ident: str) -> Response:
    notifications().hub.unregister(ident)
    return Response(status=204)
