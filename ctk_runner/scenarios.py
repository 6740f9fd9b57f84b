"""The CTK-Customer-4.0.0 requests, as data.

The TM Forum conformance kit for TMF629 v4.0.0 is a Postman collection of 15
requests in three folders (N1: create and read back, N2: ``fields=`` and
attribute filters, E1: an unknown id). This module carries their names,
descriptions, methods, URL templates and expected status codes exactly as the
kit's Newman report prints them, plus the attribute lists its test scripts
use, so the harness never needs the kit itself.

URL templates use the kit's own ``{{VARIABLE}}`` syntax; the variables are the
values the kit holds from the two create responses (``IDCU01``,
``HREFCU01``, ``NAMECU01``, ...). A variable that was never held stays in the
URL literally, as it does in Postman, so a broken create does not stop the run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from ctk_runner.kit import js

COLLECTION_NAME = "CTK-Customer-4.0.0"

#: The id the kit reads back expecting a 404 (request 15).
NOT_FOUND_ID = "f0425514-22ec-4937-a579-563c575142f5"

#: Attributes the kit's "Instance has all mandatory attributes" test requires.
MANDATORY_ATTRIBUTES: tuple[str, ...] = ("engagedParty", "@type", "href", "id", "name")

#: Attributes whose presence and type ("is a string") the kit tests one by one.
STRING_ATTRIBUTES: tuple[str, ...] = ("@type", "href", "id", "name")

#: Attributes whose value must appear verbatim in the response text.
BODY_INCLUDES_ATTRIBUTES: tuple[str, ...] = ("href", "id", "name")

#: First-level attributes the kit holds from a create response and checks back,
#: in the order its test script checks them (and the report lists them).
VALUE_ATTRIBUTES: tuple[str, ...] = (
    "@baseType",
    "@schemaLocation",
    "href",
    "id",
    "name",
    "status",
    "statusReason",
    "validFor",
    "engagedParty",
    "relatedParty",
    "account",
    "paymentMethod",
    "contactMedium",
    "characteristic",
    "creditProfile",
)

#: The two customers the kit creates; ``SUBJECTS[0]`` is the "one", the other is
#: the "other one" in the kit's descriptions.
SUBJECTS: tuple[str, str] = ("CU01", "CU02")

#: ``notification``: a request of the NT1 folder (:mod:`ctk_runner.notifications`);
#: ``tmf630``: a request of the X1 folder (:mod:`ctk_runner.x1`).
Kind = Literal["create", "list", "read", "fields", "filter", "patch", "not_found",
               "notification", "tmf630"]

_VARIABLE = re.compile(r"\{\{([A-Za-z0-9_]+)\}\}")

# Which held attribute each variable prefix stands for.
_VARIABLE_ATTRIBUTE = {"ID": "id", "HREF": "href", "NAME": "name"}


def other_subject(subject: str) -> str:
    """Return the label of the other created customer (CU01 <-> CU02)."""
    return SUBJECTS[1] if subject == SUBJECTS[0] else SUBJECTS[0]


def variable_for(attribute: str, subject: str) -> str:
    """Return the kit's variable name for a held attribute, e.g. ``IDCU01``."""
    prefix = {v: k for k, v in _VARIABLE_ATTRIBUTE.items()}[attribute]
    return f"{prefix}{subject}"


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


def _filter(number: int, attribute: str, subject: str) -> Scenario:
    variable = variable_for(attribute, subject)
    return Scenario(
        number=number,
        folder="N2",
        name=f"/customer?{attribute}={{{{{variable}}}}}",
        description="This operation filter a customer",
        method="GET",
        kind="filter",
        expected_status=200,
        template=f"customer?{attribute}={{{{{variable}}}}}",
        subject=subject,
        attribute=attribute,
    )


def _fields(number: int, attribute: str) -> Scenario:
    return Scenario(
        number=number,
        folder="N2",
        name=f"/customer?fields={attribute}",
        description="This operation filter a customer",
        method="GET",
        kind="fields",
        expected_status=200,
        template=f"customer?fields={attribute}",
        attribute=attribute,
        kit_tests=False,
    )


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(1, "N1", "/customer", "This operation creates a customer",
             "POST", "create", 201, "customer", subject="CU01"),
    Scenario(2, "N1", "/customer", "This operation creates another customer",
             "POST", "create", 201, "customer", subject="CU02"),
    Scenario(3, "N1", "/customer", "This operation search for the created customer",
             "GET", "list", 200, "customer"),
    Scenario(4, "N1", "/customer/{{IDCU01}}",
             "This operation search for one of the created customer",
             "GET", "read", 200, "customer/{{IDCU01}}", subject="CU01"),
    Scenario(5, "N1", "/customer/{{IDCU02}}",
             "This operation search for the other one of the created customer",
             "GET", "read", 200, "customer/{{IDCU02}}", subject="CU02"),
    _fields(6, "href"),
    _filter(7, "href", "CU01"),
    _filter(8, "href", "CU02"),
    _fields(9, "id"),
    _filter(10, "id", "CU01"),
    _filter(11, "id", "CU02"),
    _fields(12, "name"),
    _filter(13, "name", "CU01"),
    _filter(14, "name", "CU02"),
    Scenario(15, "E1", "/customer/404ID",
             "This operation search for one of the created customer",
             "GET", "not_found", 404, f"customer/{NOT_FOUND_ID}"),
)

FOLDERS: tuple[str, ...] = ("N1", "N2", "E1")


def scenario(number: int) -> Scenario:
    """Return request ``number`` (1-based, as numbered in the kit)."""
    return SCENARIOS[number - 1]


def held_variables(held: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Turn held create responses into the kit's ``{{VARIABLE}}`` values."""
    variables: dict[str, Any] = {}
    for subject, values in held.items():
        for prefix, attribute in _VARIABLE_ATTRIBUTE.items():
            if attribute in values:
                variables[f"{prefix}{subject}"] = values[attribute]
    return variables
