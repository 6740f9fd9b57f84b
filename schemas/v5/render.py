"""Render the TMF629 v5.0.1 OpenAPI definitions as one strict JSON Schema (draft 2020-12).

The OAS says what a v5 body may hold but leaves two things to the reader that a
JSON Schema validator does not do by itself:

* **the ``@type`` discriminator.** A definition with a ``discriminator`` becomes a
  *dispatcher* ``X``: the instance's ``@type`` picks the mapped subclass' schema
  (``EmailContactMedium`` for ``"@type": "EmailContactMedium"``). Its own
  attributes become ``X.own``, which subclasses extend (their ``allOf`` points to
  ``X.own``, so a subclass never dispatches back to itself). An ``@type`` the
  mapping does not name is refused, unless the object declares
  ``@schemaLocation`` (TMF's way to announce an extension): then it is checked
  against ``X.own`` and may carry attributes of its own.
* **unknown attributes.** Every object in a value position (a property, an
  array item, a dispatch target) is ``X.closed``: ``unevaluatedProperties:
  false`` unless it declares ``@schemaLocation``. So a ``phoneNumber`` on an
  ``EmailContactMedium`` is refused where it is, at any depth.

``X.entry`` (for the resources a server receives or answers: customers, hubs,
events, errors) is ``X.closed`` whose ``@type``, when present and no
``@schemaLocation`` is declared, must be the resource's name (``Customer`` for
``Customer_FVO``).

Run ``python -m schemas.v5.render`` after changing the OAS copy; a test checks
that the committed file is this function's output.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

SCHEMA_ID = "https://schemas.tmf629.example/v5/customer.schema.json"
OAS_REF = "#/components/schemas/"
OAS_FILE = (Path(__file__).resolve().parents[2] / "sandbox" / "openapi"
            / "TMF629-Customer_Management-v5.0.1.oas.json")
OUTPUT = Path(__file__).with_name("customer.schema.json")
#: Resources whose ``@type`` is fixed when they are received or answered.
ENTRIES = ("Customer", "Customer_FVO", "Customer_MVO", "Hub", "Hub_FVO", "Error",
           "CustomerCreateEvent", "CustomerAttributeValueChangeEvent",
           "CustomerStateChangeEvent", "CustomerDeleteEvent")
#: Where the OAS contradicts itself, the reading the sandbox takes. Every example of the
#: OAS types a ``relatedParty`` item ``RelatedPartyRefOrPartyRoleRef`` (so does the issue
#: that introduced v5 here), while ``RelatedPartyOrPartyRole``'s discriminator maps only
#: its own name: both names are accepted, each checked against its own definition.
EXTRA_MAPPINGS: dict[str, dict[str, str]] = {
    name: {"RelatedPartyRefOrPartyRoleRef": OAS_REF + "RelatedPartyRefOrPartyRoleRef"}
    for name in ("RelatedPartyOrPartyRole", "RelatedPartyOrPartyRole_FVO",
                 "RelatedPartyOrPartyRole_MVO")
}
#: OAS-only keywords a JSON Schema validator has no use for.
DROPPED = ("discriminator", "example", "description")

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}


def _target(ref: str) -> str:
    if not ref.startswith(OAS_REF):
        raise ValueError(f"unsupported $ref {ref}")
    return ref.removeprefix(OAS_REF)


def _convert(node: Any, polymorphic: frozenset[str], *, in_all_of: bool = False) -> Any:
    """``node`` with OAS refs rewritten: a base in ``allOf`` is its ``.own`` part, a
    value position is ``.closed``; OAS-only keywords dropped."""
    if isinstance(node, list):
        return [_convert(item, polymorphic, in_all_of=in_all_of) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = _target(node["$ref"])
        if in_all_of:
            return _ref(f"{name}.own" if name in polymorphic else name)
        return _ref(f"{name}.closed")
    converted: Schema = {}
    for key, value in node.items():
        if key in DROPPED or key == "oneOf" and "discriminator" in node:
            continue  # the dispatcher replaces a discriminated oneOf
        if key == "properties":
            converted[key] = {name: _convert(sub, polymorphic) for name, sub in value.items()}
        elif key == "allOf":
            converted[key] = _convert(value, polymorphic, in_all_of=True)
        else:
            converted[key] = _convert(value, polymorphic)
    return converted


def _dispatcher(name: str, mapping: dict[str, str]) -> Schema:
    known = sorted(mapping)
    branches: list[Schema] = []
    for type_name in known:
        target = _target(mapping[type_name])
        schema = _ref(f"{name}.own") if target == name else _ref(target)
        branches.append({"if": {"required": ["@type"],
                                "properties": {"@type": {"const": type_name}}},
                         "then": schema})
    branches.append({"if": {"required": ["@type"],
                            "properties": {"@type": {"not": {"enum": known}}}},
                     "then": _ref(f"{name}.own")})
    return {
        "type": "object",
        "required": ["@type"],
        "properties": {"@type": {"type": "string"}},
        # Without @schemaLocation only the mapped subclasses are known.
        "if": {"not": {"required": ["@schemaLocation"]}},
        "then": {"properties": {"@type": {"enum": known}}},
        "allOf": branches,
    }


def _closed(name: str) -> Schema:
    return {"if": {"required": ["@schemaLocation"]}, "then": _ref(name),
            "else": {**_ref(name), "unevaluatedProperties": False}}


def _entry(name: str) -> Schema:
    resource = name.removesuffix("_FVO").removesuffix("_MVO")
    return {"allOf": [_ref(f"{name}.closed")],
            "if": {"not": {"required": ["@schemaLocation"]}},
            "then": {"properties": {"@type": {"const": resource}}}}


def render(oas: Schema) -> Schema:
    """The bundled JSON Schema of every ``components.schemas`` definition of ``oas``."""
    definitions: Schema = oas["components"]["schemas"]
    polymorphic = frozenset(name for name, schema in definitions.items()
                            if "discriminator" in schema)
    defs: Schema = {}
    for name, schema in definitions.items():
        own = _convert(copy.deepcopy(schema), polymorphic)
        if name in polymorphic:
            defs[f"{name}.own"] = own
            mapping = {**schema["discriminator"].get("mapping", {name: OAS_REF + name}),
                       **EXTRA_MAPPINGS.get(name, {})}
            defs[name] = _dispatcher(name, mapping)
        else:
            defs[name] = own
        defs[f"{name}.closed"] = _closed(name)
    for name in ENTRIES:
        defs[f"{name}.entry"] = _entry(name)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"TMF629 Customer Management {oas['info'].get('version', '')}",
        "$comment": "Rendered by schemas/v5/render.py from the TMF629 v5.0.1 OpenAPI document; "
                    "do not edit by hand.",
        "$defs": dict(sorted(defs.items())),
    }


def rendered_text(oas: Schema) -> str:
    return json.dumps(render(oas), indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    source = Path(args[0]) if args else OAS_FILE
    OUTPUT.write_text(rendered_text(json.loads(source.read_text(encoding="utf-8"))),
                      encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
