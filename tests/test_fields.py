"""TMF630 attribute selection from a table: ``none``, nested names, unknown names."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.domain.fields import parse_fields, select_fields

DOC: dict[str, Any] = {
    "id": "1", "href": "http://h/customer/1", "@type": "Customer", "name": "Moon",
    "status": "Approved",
    "engagedParty": {"id": "500", "name": "Moon Ltd", "@referredType": "Organization"},
    "contactMedium": [
        {"mediumType": "email", "preferred": True, "characteristic": {"emailAddress": "a@b"}},
        {"mediumType": "phone", "characteristic": {"phoneNumber": "+1"}},
    ],
}
ALWAYS = {"id": "1", "href": "http://h/customer/1", "@type": "Customer"}

CASES: list[tuple[str | None, dict[str, Any]]] = [
    (None, DOC),
    ("none", ALWAYS),
    ("", ALWAYS),
    ("name", {**ALWAYS, "name": "Moon"}),
    ("name,status", {**ALWAYS, "name": "Moon", "status": "Approved"}),
    (" name , status ", {**ALWAYS, "name": "Moon", "status": "Approved"}),
    ("none,name", {**ALWAYS, "name": "Moon"}),
    ("engagedParty.id", {**ALWAYS, "engagedParty": {"id": "500"}}),
    ("engagedParty.id,engagedParty.name",
     {**ALWAYS, "engagedParty": {"id": "500", "name": "Moon Ltd"}}),
    ("engagedParty.id,engagedParty", {**ALWAYS, "engagedParty": DOC["engagedParty"]}),
    ("engagedParty,engagedParty.id", {**ALWAYS, "engagedParty": DOC["engagedParty"]}),
    ("contactMedium.mediumType",
     {**ALWAYS, "contactMedium": [{"mediumType": "email"}, {"mediumType": "phone"}]}),
    ("contactMedium.characteristic.phoneNumber",
     {**ALWAYS, "contactMedium": [{"characteristic": {}},
                                  {"characteristic": {"phoneNumber": "+1"}}]}),
    ("name.first", {**ALWAYS, "name": "Moon"}),  # a string cannot be narrowed
    # unknown names are ignored: a selection never fails
    ("shoeSize", ALWAYS),
    ("shoeSize,name", {**ALWAYS, "name": "Moon"}),
    ("engagedParty.shoeSize", {**ALWAYS, "engagedParty": {}}),
]


@pytest.mark.parametrize(("raw", "expected"), CASES, ids=[repr(c[0]) for c in CASES])
def test_selection(raw: str | None, expected: dict[str, Any]) -> None:
    assert select_fields(DOC, parse_fields(raw)) == expected


def test_selection_keeps_the_document_order_and_leaves_it_alone() -> None:
    selected = select_fields(DOC, parse_fields("status,name"))
    assert list(selected) == ["id", "href", "@type", "name", "status"]
    assert DOC["engagedParty"]["name"] == "Moon Ltd"
