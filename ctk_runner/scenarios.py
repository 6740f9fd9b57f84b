"""One request of a suite (:class:`Scenario`) and the kit's ``{{VARIABLE}}`` URLs.

The kit's requests come from a build's description (:mod:`ctk_runner.kit.builds`);
the strict profile's X1 folder and the notifications folder NT1 build their
own. A scenario carries what the reports print (number, folder, name,
description, method) and, for the kit, its test script as data.

URL templates use the kit's own ``{{VARIABLE}}`` syntax; the variables are the
values the kit holds from the create responses (``IDCU01``, ``HREFCU01``,
``NAMECU01``, ...). In the ``ctk`` profile a variable that was never held
stays in the URL literally, as it does in Postman, so a broken create does not
stop the run; one held as ``undefined`` is sent as ``null``, as Postman stores
it. Everywhere else a request with an :func:`unresolved` variable is not sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from ctk_runner.kit import js

COLLECTION_NAME = "CTK-Customer-4.0.0"

#: The id the certified build reads back expecting a 404 (its request 15).
NOT_FOUND_ID = "f0425514-22ec-4937-a579-563c575142f5"

#: ``notification``: a request of the NT1 folder (:mod:`ctk_runner.notifications`);
#: ``tmf630``: a request of the X1 folder (:mod:`ctk_runner.strict.x1`).
Kind = Literal["create", "list", "read", "fields", "filter", "patch", "not_found",
               "notification", "tmf630"]

_VARIABLE = re.compile(r"\{\{([A-Za-z0-9_]+)\}\}")

# Which held attribute each variable prefix stands for.
_VARIABLE_ATTRIBUTE = {"ID": "id", "HREF": "href", "NAME": "name"}


@dataclass(frozen=True)
class Scenario:
    """One request of the kit, with what its test script checks."""

    number: int
    folder: str
    name: str
    description: str
    method: str
    kind: Kind
    expected_status: int
    #: URL relative to the API root, with ``{{VARIABLE}}`` placeholders.
    template: str
    #: The created customer the request is about (create, read, filter).
    subject: str | None = None
    #: The attribute of a ``fields=`` or filter request.
    attribute: str | None = None
    #: False for the certified build's ``fields=`` requests, which have no test script.
    kit_tests: bool = True
    #: The kit's test script as data (:mod:`ctk_runner.kit.script` runs it).
    script: tuple[Mapping[str, Any], ...] = ()
    #: ``{"payload": "CU01"}`` (the create body of a subject) or ``{"json": {...}}``.
    body: Mapping[str, Any] | None = None

    def unresolved(self, variables: Mapping[str, Any]) -> list[str]:
        """The template's variables that hold no value (never held, or undefined/null)."""
        return unresolved(self.template, variables)

    def url(self, root: str, variables: Mapping[str, Any]) -> str:
        """Resolve the template against the API root and the held variables."""
        path, _, query = self.template.partition("?")
        # Path segments must not be able to change the path; query values may
        # keep ':' and '/' (an href) the way Postman sends them.
        resolved = _substitute(path, variables, safe="")
        if query:
            resolved += "?" + _substitute(query, variables, safe=":/@")
        return root + resolved


def _substitute(text: str, variables: Mapping[str, Any], *, safe: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            # Postman leaves an unresolved variable in the URL as typed.
            return quote(match.group(0), safe="")
        # A variable set to undefined is stored as null, and sent as "null".
        return quote(js.to_string(variables[name]), safe=safe)

    return _VARIABLE.sub(replace, text)


def unresolved(template: str, variables: Mapping[str, Any]) -> list[str]:
    """The ``{{VARIABLE}}`` names of ``template`` without a value in ``variables``."""
    names = dict.fromkeys(_VARIABLE.findall(template))
    return [name for name in names if js.is_nullish(variables.get(name, js.UNDEFINED))]


def held_variables(held: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Turn held create responses into the kit's ``{{VARIABLE}}`` values."""
    variables: dict[str, Any] = {}
    for subject, values in held.items():
        for prefix, attribute in _VARIABLE_ATTRIBUTE.items():
            if attribute in values:
                variables[f"{prefix}{subject}"] = values[attribute]
    return variables
