"""Validation of request bodies against the TMF629 schemas.

Schema violations become one 400 ``ApiError`` whose message names the JSON
path and the rule that failed, so a partner can fix the payload without
reading the schema. Unknown first-level attributes are refused unless the body
declares ``@schemaLocation``: that is TMF's way to announce an extension.
"""

from __future__ import annotations

from typing import Any

import schemas
from sandbox.errors import ApiError

MAX_REPORTED = 5


def schema_errors(name: str, instance: Any) -> list[str]:
    """Return one readable line per violation of schema ``name``."""
    validator = schemas.validator(name)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{error.json_path}: {error.message} (rule: {error.validator})" for error in errors]


def validate(name: str, instance: Any, *, what: str = "body") -> None:
    """Raise a 400 when ``instance`` is not a valid ``name``."""
    refuse(name, schema_errors(name, instance), what=what)


def refuse(name: str, errors: list[str], *, what: str = "body") -> None:
    """Raise the 400 that names ``errors`` (readable lines) of an invalid ``name``."""
    if errors:
        shown = "; ".join(errors[:MAX_REPORTED])
        more = len(errors) - MAX_REPORTED
        if more > 0:
            shown += f"; and {more} more"
        raise ApiError(400, f"Invalid {what} for {name}: {shown}", reason="Schema violation")


def unknown_attributes(name: str, document: dict[str, Any]) -> list[str]:
    """First-level members of ``document`` that schema ``name`` does not define."""
    if "@schemaLocation" in document:
        return []
    known = schemas.load(name).get("properties", {})
    return sorted(key for key in document if key not in known)


def reject_unknown_attributes(name: str, document: dict[str, Any]) -> None:
    unknown = unknown_attributes(name, document)
    if unknown:
        raise ApiError(
            400,
            f"Unknown attribute(s) for {name}: {', '.join(unknown)}. "
            "Declare @schemaLocation to send extension attributes.",
            reason="Unknown attribute",
        )
