"""JSON Schema (draft 2020-12) of TMF629 Customer Management v5.0.1.

``customer.schema.json`` is rendered from the OAS by :mod:`schemas.v5.render`:
one document whose ``$defs`` hold every OAS definition, its ``@type``
discriminators as dispatchers, and closed (``unevaluatedProperties: false``)
forms for objects without ``@schemaLocation``. Validate against
``<Name>.entry`` for a resource a server receives or answers (``Customer_FVO``,
``Customer``, ``Hub``, an event, ``Error``), ``<Name>.closed`` for any other.

Typical use::

    from schemas import v5

    errors = list(v5.validator("Customer_FVO").iter_errors(body))
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator

__all__ = ["ENTRY_NAMES", "document", "names", "validator"]

FILE = "customer.schema.json"
#: The resources with an ``.entry`` form (a fixed ``@type``).
ENTRY_NAMES = ("Customer", "Customer_FVO", "Customer_MVO", "Hub", "Hub_FVO", "Error",
               "CustomerCreateEvent", "CustomerAttributeValueChangeEvent",
               "CustomerStateChangeEvent", "CustomerDeleteEvent")


@cache
def document() -> dict[str, Any]:
    """The rendered schema document (shared: do not modify)."""
    text = resources.files(__name__).joinpath(FILE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def names() -> list[str]:
    """The OAS definition names (without the rendered ``.own``/``.closed``/``.entry`` forms)."""
    return sorted(name for name in document()["$defs"] if "." not in name)


@cache
def validator(name: str) -> Validator:
    """A validator of ``name``: its ``.entry`` form when it has one, else ``.closed``.

    Raises:
        KeyError: if ``name`` is not a definition of the v5 document.
    """
    defs = document()["$defs"]
    if name not in defs:
        raise KeyError(f"unknown v5 schema {name!r}")
    form = f"{name}.entry" if f"{name}.entry" in defs else f"{name}.closed"
    schema = {**document(), "$ref": f"#/$defs/{form}"}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
