"""Validation of bodies against the v5.0.1 schemas, with readable messages.

``schemas.v5`` closes every object (``unevaluatedProperties: false``), and a
JSON Schema validator reports a parent's unevaluated members again whenever a
child failed (a failed branch evaluates nothing). Those echoes are dropped when
a more precise error lies at or under the same place, so a message names what
is wrong, not everything around it.
"""

from __future__ import annotations

from typing import Any

from jsonschema.exceptions import ValidationError

from sandbox.domain.validation import refuse
from schemas import v5 as schemas_v5


def _place(error: ValidationError) -> tuple[str | int, ...]:
    return tuple(error.absolute_path)


def _echo(error: ValidationError, others: list[ValidationError]) -> bool:
    if error.validator != "unevaluatedProperties":
        return False
    place = _place(error)
    return any(other is not error and _place(other)[:len(place)] == place
               and (len(_place(other)) > len(place) or other.validator != error.validator)
               for other in others)


def schema_errors(name: str, instance: Any) -> list[str]:
    """One readable line per violation of v5 schema ``name`` (echoes dropped)."""
    found = sorted(schemas_v5.validator(name).iter_errors(instance),
                   key=lambda e: [str(part) for part in e.absolute_path])
    lines: list[str] = []
    for error in found:
        if _echo(error, found):
            continue
        line = f"{error.json_path}: {error.message} (rule: {error.validator})"
        if line not in lines:
            lines.append(line)
    return lines


def validate(name: str, instance: Any, *, what: str = "body") -> None:
    """Raise a 400 when ``instance`` is not a valid v5 ``name``."""
    refuse(name, schema_errors(name, instance), what=what)
