"""The API description: each version's published document at ``<api root>/api-docs``
and an interactive page at ``<api root>/docs/``.

The v4.0.0 document is the published swagger with ``host``, ``basePath`` and
``schemes`` set to where this sandbox answers, the v5.0.1 one the published OAS
with ``servers`` set so, so "Try it out" reaches it.
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
from sandbox.http import api_base_url, api_version, json_response
from sandbox.versions import V4, ApiVersion

bp = Blueprint("docs", __name__)
SPEC = "TMF629-Customer-v4.0.0.swagger.json"
#: The Swagger UI files the page uses (nothing else of the package is served).
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
          "favicon-32x32.png")


@cache
def published(spec: str = SPEC) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        files("sandbox").joinpath("openapi", spec).read_text(encoding="utf-8"))
    return document


#: The security scheme a hosted sandbox's document declares (the header tenancy reads).
KEY_SCHEME = "tenantKey"
KEY_HEADER = "X-API-Key"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch"})


def served(base_url: str, version: ApiVersion = V4, keyed: bool = False) -> dict[str, Any]:
    """The version's published document pointed at ``base_url`` (the API root);
    ``keyed``: every operation needs a tenant's key (a hosted sandbox)."""
    document = copy.deepcopy(published(version.spec))
    if "openapi" in document:  # OpenAPI 3: servers, and components.securitySchemes
        document["servers"] = [{"url": f"{base_url}/"}]
        if keyed:
            document.setdefault("components", {})["securitySchemes"] = {KEY_SCHEME: {
                "type": "apiKey", "in": "header", "name": KEY_HEADER,
                "description": "Your tenant's API key ('Authorization: Bearer <key>' "
                               "works too)."}}
            _secure_operations(document)
        return document
    parts = urlsplit(base_url)
    document.update(host=parts.netloc, basePath=parts.path or "/", schemes=[parts.scheme])
    if keyed:
        document["securityDefinitions"] = {KEY_SCHEME: {
            "type": "apiKey", "in": "header", "name": KEY_HEADER,
            "description": "Your tenant's API key ('Authorization: Bearer <key>' works too)."}}
        _secure_operations(document)
    return document


def _secure_operations(document: dict[str, Any]) -> None:
    """Every operation needs the key (Swagger UI's "Try it out" then sends it)."""
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            if method in HTTP_METHODS:
                operation["security"] = [{KEY_SCHEME: []}]


@bp.get("/api-docs", strict_slashes=False)
def api_docs() -> Response:
    return json_response(served(api_base_url(), api_version(),
                                keyed=not tenancy.registry().open))


@bp.get("/docs/")
def docs_page() -> str:
    return render_template("docs.html", spec_url=f"{api_base_url()}/api-docs",
                           version=api_version().number)


@bp.get("/docs/static/<name>")
def docs_asset(name: str) -> Response:
    if name not in ASSETS:
        raise ApiError(404, f"No documentation asset {name}", reason="Resource not found")
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, name, max_age=3600)
