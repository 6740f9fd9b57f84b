"""Validation of bodies against the v5.0.1 schemas, with readable messages.

Two passes, both linear in the body: the schema without its closing
(``schemas.v5.open_validator``: types, required members, the ``@type``
dispatch), bounded to the first errors; then the unknown members
(:mod:`sandbox.domain.v5.members`), which the rendered schema's
``unevaluatedProperties`` describe but a validator evaluates far too slowly.
"""

from __future__ import annotations

import itertools
from typing import Any

from sandbox.domain.v5.members import unknown_members
from sandbox.domain.validation import refuse
from sandbox.errors import bad_request
from schemas import v5 as schemas_v5

#: Errors collected of one instance (a message shows the first few of them).
MAX_COLLECTED = 50
#: Items one array of a v5 body may hold: checking an item against the polymorphic schemas
#: costs about a millisecond, so the 1 MiB body limit alone would allow 20 s of CPU.
MAX_ARRAY_ITEMS = 1000


def check_arrays(instance: Any, path: str = "$") -> None:
    """Refuse (400) a body with an array longer than ``MAX_ARRAY_ITEMS``, naming it."""
    stack: list[tuple[Any, str]] = [(instance, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, list):
            if len(value) > MAX_ARRAY_ITEMS:
                raise bad_request(f"{where} has {len(value)} items; a v5 body may hold at most "
                                  f"{MAX_ARRAY_ITEMS} in one array", reason="Too many items")
            stack.extend((item, f"{where}[{n}]") for n, item in enumerate(value))
        elif isinstance(value, dict):
            stack.extend((item, f"{where}.{key}") for key, item in value.items())


def schema_errors(name: str, instance: Any) -> list[str]:
    """One readable line per violation of v5 schema ``name`` (at most ``MAX_COLLECTED``)."""
    found = sorted(itertools.islice(schemas_v5.open_validator(name).iter_errors(instance),
                                    MAX_COLLECTED),
                   key=lambda e: [str(part) for part in e.absolute_path])
    lines: list[str] = []
    for error in found:
        line = f"{error.json_path}: {error.message} (rule: {error.validator})"
        if line not in lines:
            lines.append(line)
    return lines + unknown_members(name, instance, MAX_COLLECTED - len(lines))


def validate(name: str, instance: Any, *, what: str = "body") -> None:
    """Raise a 400 when ``instance`` is not a valid v5 ``name``."""
    check_arrays(instance)
    refuse(name, schema_errors(name, instance), what=what)
