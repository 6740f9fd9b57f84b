"""TMF629 v5.0.1 beside v4: where each blueprint answers, and the v5 hub and listeners.

The customer resource is v4's blueprint registered again under each v5 prefix
(``/tmf-api/customerManagement/v5`` and the OAS's ``servers`` alias
``/tmf-api/customer/v5``): its views ask :mod:`sandbox.api` for the request's
version's service, whose rules (:mod:`sandbox.domain.v5.rules`) make it v5.
What v5 answers differently lives here:

* ``/hub``: bodies are ``Hub_FVO`` (``@type`` required), answers ``Hub`` (with
  ``@type`` and ``href``); the subscription itself is stored as on v4, in the
  v5 hub's own collection;
* ``/listener/<event>``: the event is checked against the v5 schemas and kept in
  the tenant's one listener sink (marked ``"api": "v5"``); the answer is 204.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response

from sandbox.api import customer, docs, notifications
from sandbox.domain.v5.validation import schema_errors, validate
from sandbox.http import api_base_url, json_response, read_json
from sandbox.repository import Document
from sandbox.versions import V5

bp = Blueprint("v5", __name__)
#: What of a ``Hub_FVO`` the hub stores (the rest is ``@type`` and its kin).
HUB_MEMBERS = ("callback", "query")


def register(app: Flask) -> None:
    """Every v5 route, under each v5 prefix."""
    for number, prefix in enumerate(V5.prefixes):
        suffix = "" if number == 0 else f"_alias{number}"
        app.register_blueprint(customer.bp, url_prefix=prefix, name=f"customer_v5{suffix}")
        app.register_blueprint(bp, url_prefix=prefix, name=f"v5{suffix}")
        app.register_blueprint(docs.bp, url_prefix=prefix, name=f"docs_v5{suffix}")


def present_hub(subscription: Document) -> Document:
    """A stored subscription as the v5 ``Hub``."""
    ident = subscription["id"]
    shown: Document = {"@type": "Hub", "id": ident, "href": f"{api_base_url()}/hub/{ident}",
                       "callback": subscription["callback"]}
    if subscription.get("query"):
        shown["query"] = subscription["query"]
    return shown


@bp.get("/", strict_slashes=False)
def api_root() -> Response:
    base = api_base_url()
    return json_response({"name": "TMF629 Customer Management", "version": V5.number,
                          "resources": {"customer": f"{base}/customer", "hub": f"{base}/hub"}})


@bp.post("/hub", strict_slashes=False)
def register_listener() -> Response:
    body = read_json()
    validate("Hub_FVO", body)
    subscription = notifications().hub.register(
        {key: body[key] for key in HUB_MEMBERS if key in body})
    shown = present_hub(subscription)
    return json_response(shown, 201, {"Location": shown["href"]})


@bp.get("/hub/<ident>", strict_slashes=False)
def retrieve_listener(ident: str) -> Response:
    return json_response(present_hub(notifications().hub.get(ident)))


@bp.delete("/hub/<ident>", strict_slashes=False)
def unregister_listener(ident: str) -> Response:
    notifications().hub.unregister(ident)
    return Response(status=204)


@bp.post("/listener/<name>", strict_slashes=False)
def receive_event(name: str) -> Response:
    notifications().received.receive(name, read_json(), errors=schema_errors, api="v5")
    return Response(status=204)
