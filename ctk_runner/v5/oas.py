"""The TMF629 v5.0.1 OAS schemas as JSON Schema, with ``@type`` deciding each object's schema.

``oas_schemas.json`` (next to this module) holds the OAS's ``components.schemas``
as TM Forum publishes them (descriptions and examples left out; see its
``x-notice``). OpenAPI's ``discriminator`` has no JSON Schema counterpart, so
:func:`document` renders every definition ``N`` twice:

- ``N.open``: the definition as written, its ``allOf`` parents as their own
  ``.open`` bodies (inheritance never dispatches again);
- ``N``: the entry every other ``$ref`` points at. When ``N`` or an ancestor
  carries a discriminator, the instance's ``@type`` picks the body: ``N`` itself,
  a subclass (a definition inheriting from ``N``) or a mapping entry of ``N``.
  An ``@type`` that is none of them is refused unless ``@schemaLocation``
  declares the extension (the TMF630 extension pattern); it is then judged as ``N``.
  Where the OAS contradicts itself, its examples are accepted too
  (:data:`EXAMPLE_TYPES`: ``relatedParty`` items are ``RelatedPartyOrPartyRole`` in
  the schemas, ``RelatedPartyRefOrPartyRoleRef`` in every example).

Closed mode (``closed=True``) adds what the OAS leaves open: an object carries
only the attributes its ``@type``'s schema defines, unless it names a
``@schemaLocation``. That is how a v4-shaped ``contactMedium`` (``mediumType``,
``characteristic``) or a ``PhoneContactMedium`` with an ``emailAddress`` is told
apart from a conformant one. Plain functions; no HTTP.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE_URI = "https://schemas.tmf629.example/v5/oas.json"
_OAS_REF = "#/components/schemas/"
#: ``@type`` values the OAS's examples use where its schemas name another definition.
EXAMPLE_TYPES: dict[str, dict[str, str]] = {
    "RelatedPartyOrPartyRole": {"RelatedPartyRefOrPartyRoleRef": "RelatedPartyRefOrPartyRoleRef"},
}
#: Where an unknown ``@type`` is refused; :func:`problems` words that error itself.
_KNOWN = "x-known-types"


@cache
def oas() -> dict[str, Any]:
    """The shipped rendering of the OAS (``schemas``, ``servers``, ``info``, ``x-notice``)."""
    text = resources.files(__package__).joinpath("oas_schemas.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def definitions() -> dict[str, Any]:
    schemas: dict[str, Any] = oas()["schemas"]
    return schemas


def _ref_name(node: Any) -> str | None:
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref: str = node["$ref"]
        if ref.startswith(_OAS_REF):
            return ref[len(_OAS_REF):]
    return None


def parents(name: str) -> list[str]:
    """The definitions ``name`` inherits from (its top-level ``allOf`` references)."""
    found = [_ref_name(part) for part in definitions()[name].get("allOf", [])]
    return [p for p in found if p is not None]


@cache
def ancestors(name: str) -> frozenset[str]:
    seen: set[str] = set()
    stack = parents(name)
    while stack:
        parent = stack.pop()
        if parent not in seen:
            seen.add(parent)
            stack += parents(parent)
    return frozenset(seen)


def discriminated(name: str) -> bool:
    return any("discriminator" in definitions()[n] for n in (name, *ancestors(name)))


@cache
def known_types(name: str) -> dict[str, str]:
    """``@type`` value -> the definition it selects, for an instance expected to be ``name``."""
    schemas = definitions()
    found = {type_value(name): name}
    found.update({type_value(sub): sub for sub in schemas if name in ancestors(sub)})
    mapping = schemas[name].get("discriminator", {}).get("mapping", {})
    found.update({key: target for key, value in mapping.items()
                  if (target := _ref_name({"$ref": value})) in schemas})
    found.update(EXAMPLE_TYPES.get(name, {}))
    return dict(sorted(found.items()))


def type_value(name: str) -> str:
    """The ``@type`` an instance of definition ``name`` carries (``Customer_FVO``: Customer)."""
    return name.removesuffix("_FVO").removesuffix("_MVO")


def _rewrite(node: Any, inherited: bool = False) -> Any:
    """OAS references to ``$defs``: parents to their body, everything else to the entry."""
    if isinstance(node, list):
        return [_rewrite(item, inherited) for item in node]
    if not isinstance(node, dict):
        return node
    name = _ref_name(node)
    if name is not None:
        return {**node, "$ref": f"#/$defs/{name}{'.open' if inherited else ''}"}
    return {key: (_rewrite(value, key == "allOf") if key == "allOf"
                  else _rewrite(value))
            for key, value in node.items() if key != "discriminator"}


def _concrete(name: str, closed: bool) -> dict[str, Any]:
    body = {"$ref": f"#/$defs/{name}.open"}
    if not closed:
        return body
    # unevaluatedProperties sees through $ref and allOf, so a parent's attributes count.
    return {"if": {"required": ["@schemaLocation"]}, "then": body,
            "else": {**body, "unevaluatedProperties": False}}


def _entry(name: str, closed: bool) -> dict[str, Any]:
    if not discriminated(name):
        return _concrete(name, closed)
    types = known_types(name)
    branches: list[dict[str, Any]] = [
        {"if": {"required": ["@type"], "properties": {"@type": {"const": value}}},
         "then": _concrete(target, closed)} for value, target in types.items()]
    unknown = {"$ref": f"#/$defs/{name}.open", "required": ["@schemaLocation"],
               _KNOWN: sorted(types)}
    branches.append({"if": {"required": ["@type"],
                            "not": {"properties": {"@type": {"enum": sorted(types)}}}},
                     "then": unknown})
    # No @type at all: the body says what is missing (Extensible requires it).
    branches.append({"if": {"not": {"required": ["@type"]}}, "then": _concrete(name, closed)})
    return {"allOf": branches}


@cache
def document(closed: bool) -> dict[str, Any]:
    """One JSON Schema document: every definition's entry and body under ``$defs``."""
    defs: dict[str, Any] = {}
    for name, schema in definitions().items():
        defs[f"{name}.open"] = _rewrite(schema)
        defs[name] = _entry(name, closed)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": BASE_URI + ("#closed" if closed else ""), "$defs": defs}


@cache
def validator(name: str, closed: bool = False) -> Validator:
    """A draft 2020-12 validator of definition ``name`` (a KeyError when there is none)."""
    if name not in definitions():
        raise KeyError(f"the v5 OAS defines no {name!r}")
    uri = f"{BASE_URI}?closed={int(closed)}"
    contents = {**document(closed), "$id": uri}
    registry: Registry = Registry().with_resource(
        uri, Resource.from_contents(contents, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{uri}#/$defs/{name}"}, registry=registry,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def _message(error: ValidationError) -> str:
    if error.validator == "required" and isinstance(error.schema, dict) \
            and _KNOWN in error.schema and isinstance(error.instance, dict):
        return (f"@type {error.instance.get('@type')!r} is none of "
                f"{', '.join(error.schema[_KNOWN])} and no @schemaLocation declares it")
    if error.validator == "unevaluatedProperties":
        names = error.message.split("(", 1)[-1].rsplit(" was", 1)[0].rsplit(" were", 1)[0]
        kind = error.instance.get("@type") if isinstance(error.instance, dict) else None
        return f"{names} not defined by {kind or 'its schema'}, and no @schemaLocation"
    return str(error.message)


def _errors(instance: Any, name: str, closed: bool, partial: bool) -> dict[str, str]:
    found: dict[str, str] = {}
    for error in validator(name, closed).iter_errors(instance):
        if partial and error.validator == "required" and not error.absolute_path:
            continue
        where = "/" + "/".join(str(p) for p in error.absolute_path)
        found.setdefault(f"{where}: {_message(error)}", where)
    return found


def problems(instance: Any, name: str, *, partial: bool = False) -> list[str]:
    """``/path: message`` for each way ``instance`` is not a valid ``name`` (the OAS as written).

    ``partial``: a ``fields=`` selection, which may leave out required top-level attributes.
    """
    return sorted(_errors(instance, name, False, partial))


def undeclared(instance: Any, name: str) -> list[str]:
    """``/path: message`` for each attribute no schema of its ``@type`` defines (closed mode).

    An object with an invalid part loses its parts' annotations in JSON Schema, so all its
    attributes would look undeclared: those echoes of a :func:`problems` finding are left out.
    """
    invalid = set(_errors(instance, name, False, False).values())
    closed = {text: where for text, where in _errors(instance, name, True, True).items()
              if "not defined by" in text}

    def inside(path: str, where: str) -> bool:
        return path != where and path.startswith(where.rstrip("/") + "/")

    # A closed part that fails makes its parents fail too: only the innermost are causes.
    return sorted(text for text, where in closed.items()
                  if not any(w == where or inside(w, where) for w in invalid)
                  and not any(inside(w, where) for w in closed.values()))
