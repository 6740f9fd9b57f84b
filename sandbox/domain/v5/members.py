"""Unknown members of a v5 body, found in one linear walk.

The rendered schema closes every object with ``unevaluatedProperties: false``;
a JSON Schema validator evaluates that by validating each subtree again at
every closed level, which costs minutes on a body of thousands of nested
items. This walk gives the same answer for the shapes the rendering produces
(``$ref``, ``allOf``, ``if``/``then``/``else`` whose conditions are small,
``properties``, ``items``): which members of each object no applicable
``properties`` names, unless that object declares ``@schemaLocation``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from schemas import v5 as schemas_v5

Schema = dict[str, Any]
_PREFIX = "#/$defs/"


def _closing(node: Schema) -> bool:
    """Whether ``node`` refers to a closed form (``X.closed``, ``X.entry``)."""
    ref = node.get("$ref", "")
    return isinstance(ref, str) and ref.endswith((".closed", ".entry"))


def _resolve(node: Schema) -> Schema:
    while "$ref" in node and len(node) == 1:
        node = schemas_v5.open_document()["$defs"][node["$ref"].removeprefix(_PREFIX)]
    return node


@cache
def _condition(text: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(text))


def _holds(condition: Schema, instance: Any) -> bool:
    # The rendering's conditions are a few bytes each (required, @type const/enum).
    return bool(_condition(json.dumps(condition, sort_keys=True)).is_valid(instance))


def _applicable(node: Schema, instance: Any) -> Iterator[Schema]:
    """Every schema object that applies to ``instance`` through ``node``."""
    node = _resolve(node)
    yield node
    if "$ref" in node:
        yield from _applicable({"$ref": node["$ref"]}, instance)
    for sub in node.get("allOf", []):
        yield from _applicable(sub, instance)
    if "if" in node:
        branch = node.get("then") if _holds(node["if"], instance) else node.get("else")
        if isinstance(branch, dict):
            yield from _applicable(branch, instance)


def unknown_members(name: str, instance: Any, limit: int = 50) -> list[str]:
    """``$.path: 'member' is not an attribute of this object`` lines, at most ``limit``.

    Every schema reaching one value is applied together: an object is closed when one
    of them is a closed form, and a member is known when any of them names it (``event``
    is a free object in ``Event`` and a closed payload in ``CustomerCreateEvent``)."""
    entry = f"{name}.entry" if f"{name}.entry" in schemas_v5.open_document()["$defs"] else name
    found: list[str] = []
    stack: list[tuple[list[Schema], Any, str]] = [([{"$ref": _PREFIX + entry}], instance, "$")]
    while stack and len(found) < limit:
        nodes, value, path = stack.pop()
        closed = any(_closing(node) for node in nodes)
        schemas = [schema for node in nodes for schema in _applicable(node, value)]
        if isinstance(value, dict):
            known: dict[str, list[Schema]] = {}
            for schema in schemas:
                for member, sub in (schema.get("properties") or {}).items():
                    known.setdefault(member, []).append(sub)
            for member, item in value.items():
                if closed and member not in known and "@schemaLocation" not in value:
                    found.append(f"{path}: {member!r} is not an attribute of this object "
                                 "(declare @schemaLocation to send extension attributes)")
                if member in known:
                    stack.append((known[member], item, f"{path}.{member}"))
        elif isinstance(value, list):
            items = [schema["items"] for schema in schemas if isinstance(schema.get("items"), dict)]
            if items:
                stack.extend((items, item, f"{path}[{index}]") for index, item in enumerate(value))
    return sorted(set(found))[:limit]
