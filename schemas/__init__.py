"""JSON Schemas (draft 2020-12) for the TMF629 Customer Management API v4.0.0.

Each ``<Name>.schema.json`` file in this package mirrors one definition of the
TMF629 v4.0.0 Swagger contract; those files are the source of truth. Schemas
reference each other with relative ``$ref``s (``"RelatedParty.schema.json"``),
resolved against their ``$id`` through an in-memory registry, so validation
never touches the network.

Typical use::

    import schemas

    errors = list(schemas.validator("Customer_Create").iter_errors(body))
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = ["BASE_URI", "load", "names", "registry", "validator"]

#: Every schema's ``$id`` is ``BASE_URI + "<Name>.schema.json"``.
BASE_URI = "https://schemas.tmf629.example/v4/"
_SUFFIX = ".schema.json"


@cache
def _index() -> dict[str, str]:
    """Map definition name -> file name, discovered from the package data."""
    # importlib.resources (not __file__) so this also works from a wheel or zip.
    root = resources.files(__name__)
    return {
        entry.name.removesuffix(_SUFFIX): entry.name
        for entry in root.iterdir()
        if entry.name.endswith(_SUFFIX)
    }


def names() -> list[str]:
    """Return the sorted names of all available schema definitions."""
    return sorted(_index())


def load(name: str) -> dict[str, Any]:
    """Return the parsed schema document for definition ``name``.

    A fresh dict is returned on every call, so callers may mutate it without
    corrupting the shared registry or cached validators.

    Raises:
        KeyError: if ``name`` is not a known definition.
    """
    try:
        filename = _index()[name]
    except KeyError:
        raise KeyError(f"unknown schema {name!r}; known schemas: {', '.join(names())}") from None
    text = resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@cache
def registry() -> Registry:
    """Return a registry holding every schema under its ``$id`` (built once)."""
    resources_by_uri = []
    for name in names():
        document = load(name)
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        resources_by_uri.append((document["$id"], resource))
    # Registry is immutable; with_resources returns the populated copy.
    return Registry().with_resources(resources_by_uri)


@cache
def validator(name: str) -> Validator:
    """Return a cached draft 2020-12 validator for definition ``name``.

    ``$ref``s resolve through :func:`registry`, and ``date-time``/``uri``
    formats are enforced (plain jsonschema only annotates formats).

    Raises:
        KeyError: if ``name`` is not a known definition.
    """
    uri = load(name)["$id"]
    # Use the registry's own copy so the validator and the $ref targets are the
    # same documents (and the rest of the registry is not re-parsed).
    schema = registry().contents(uri)
    return Draft202012Validator(
        schema,
        registry=registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
