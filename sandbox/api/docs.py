"""The API description: the v4.0.0 swagger document at ``<api root>/api-docs`` and an
interactive page at ``<api root>/docs/``.

The document is the published one with ``host``, ``basePath`` and
``schemes`` set to where this sandbox answers, so "Try it out" reaches it.
The page is Swagger UI from the ``swagger-ui-bundle`` package, served by the
app itself: it works offline and loads nothing from a CDN.

A hosted sandbox (tenants with keys) answers no request without a key, so its
document declares the key (an ``apiKey`` security scheme in the ``X-API-Key``
header, applied to every operation): Swagger UI then offers "Authorize", and
"Try it out" sends the partner's key. An open sandbox declares none.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

import swagger_ui_bundle
from flask import Blueprint, Response, render_template, send_from_directory

from sandbox import tenancy
from sandbox.errors import ApiError
from sandbox.http import api_base_url, json_response

bp = Blueprint("docs", __name__)
SPEC = "TMF629-Customer-v4.0.0.swagger.json"
#: The Swagger UI files the page uses (nothing else of the package is served).
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
          "favicon-32x32.png")


@cache
def published() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        files("sandbox").joinpath("openapi", SPEC).read_text(encoding="utf-8"))
    return document


#: The security scheme a hosted sandbox's document declares (the header tenancy reads).
KEY_SCHEME = "tenantKey"
KEY_HEADER = "X-API-Key"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch"})


def served(base_url: str, keyed: bool = False) -> dict[str, Any]:
    """The published document pointed at ``base_url`` (the API root); ``keyed``: every
    operation needs a tenant's key (a hosted sandbox)."""
    parts = urlsplit(base_url)
    document = copy.deepcopy(published())
    document.update(host=parts.netloc, basePath=parts.path or "/", schemes=[parts.scheme])
    if keyed:
        document["securityDefinitions"] = {KEY_SCHEME: {
            "type": "apiKey", "in": "header", "name": KEY_HEADER,
            "description": "Your tenant's API key ('Authorization: Bearer <key>' works too)."}}
        for operations in document.get("paths", {}).values():
            for method, operation in operations.items():
                if method in HTTP_METHODS:
                    operation["security"] = [{KEY_SCHEME: []}]
    return document


@bp.get("/api-docs", strict_slashes=False)
def api_docs() -> Response:
    return json_response(served(api_base_url(), keyed=not tenancy.registry().open))


@bp.get("/docs/")
def docs_page() -> str:
    return render_template("docs.html", spec_url=f"{api_base_url()}/api-docs")


@bp.get("/docs/static/<name>")
def docs_asset(name: str) -> Response:
    if name not in ASSETS:
        raise ApiError(404, f"No documentation asset {name}", reason="Resource not found")
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, name, max_age=3600)
