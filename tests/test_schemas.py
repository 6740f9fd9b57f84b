"""Tests for the ``schemas`` package: schema files, registry and validators."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import pytest
from jsonschema import Draft202012Validator

import schemas

EXPECTED_NAMES = sorted(
    [
        "Customer",
        "Customer_Create",
        "Customer_Update",
        "AccountRef",
        "AgreementRef",
        "Any",
        "Characteristic",
        "ContactMedium",
        "CreditProfile",
        "MediumCharacteristic",
        "PaymentMethodRef",
        "RelatedParty",
        "TimePeriod",
        "EntityRef",
        "EventSubscription",
        "EventSubscriptionInput",
        "CustomerCreateEvent",
        "CustomerCreateEventPayload",
        "CustomerAttributeValueChangeEvent",
        "CustomerAttributeValueChangeEventPayload",
        "CustomerStateChangeEvent",
        "CustomerStateChangeEventPayload",
        "CustomerDeleteEvent",
        "CustomerDeleteEventPayload",
        "Error",
    ]
)

MINIMAL_CUSTOMER_CREATE: dict[str, Any] = {
    "name": "Moon Football Club",
    "engagedParty": {"@referredType": "Organization", "id": "500"},
}

_ALL_NAMES = schemas.names()


def _refs(node: Any) -> Iterator[str]:
    """Yield every ``$ref`` value found anywhere in a schema document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _customer_create(**overrides: Any) -> dict[str, Any]:
    body = copy.deepcopy(MINIMAL_CUSTOMER_CREATE)
    body.update(overrides)
    return body


def test_definition_set_matches_spec() -> None:
    assert schemas.names() == EXPECTED_NAMES


@pytest.mark.parametrize("name", _ALL_NAMES)
def test_schema_is_valid_against_metaschema(name: str) -> None:
    Draft202012Validator.check_schema(schemas.load(name))


@pytest.mark.parametrize("name", _ALL_NAMES)
def test_schema_header(name: str) -> None:
    document = schemas.load(name)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == f"https://schemas.tmf629.example/v4/{name}.schema.json"
    assert document["title"] == name
    # The contract is open: extra attributes are allowed everywhere.
    assert "additionalProperties" not in document


@pytest.mark.parametrize("name", _ALL_NAMES)
def test_every_ref_resolves_through_registry(name: str) -> None:
    document = schemas.load(name)
    resolver = schemas.registry().resolver(base_uri=document["$id"])
    for ref in _refs(document):
        resolved = resolver.lookup(ref)
        target = urljoin(document["$id"], ref)
        assert resolved.contents["$id"] == target


def test_any_accepts_everything() -> None:
    for value in (None, 1, "x", [1], {"a": 1}):
        assert schemas.validator("Any").is_valid(value)


def test_unknown_name_raises_key_error() -> None:
    with pytest.raises(KeyError, match="NoSuchThing"):
        schemas.load("NoSuchThing")
    with pytest.raises(KeyError, match="NoSuchThing"):
        schemas.validator("NoSuchThing")


def test_load_returns_independent_copies() -> None:
    schemas.load("Error")["required"].append("mutated")
    assert schemas.load("Error")["required"] == ["code", "reason"]


def test_validator_is_cached() -> None:
    assert schemas.validator("Customer") is schemas.validator("Customer")


@pytest.mark.parametrize(
    ("name", "instance", "valid"),
    [
        pytest.param("Customer_Create", _customer_create(), True, id="create-minimal"),
        pytest.param(
            "Customer_Create",
            {"name": "Moon Football Club"},
            False,
            id="create-missing-engagedParty",
        ),
        pytest.param(
            "Customer_Create",
            _customer_create(engagedParty={"@referredType": "Organization"}),
            False,
            id="create-engagedParty-without-id",
        ),
        pytest.param(
            "Customer_Create",
            _customer_create(validFor={"startDateTime": "2024-01-01T00:00:00Z"}),
            True,
            id="create-validFor-rfc3339",
        ),
        pytest.param(
            "Customer_Create",
            _customer_create(validFor={"startDateTime": "yesterday"}),
            False,
            id="create-validFor-not-date-time",
        ),
        pytest.param(
            "Customer_Create",
            _customer_create(**{"@schemaLocation": "not a uri"}),
            False,
            id="create-schemaLocation-not-uri",
        ),
        pytest.param(
            "Customer_Create",
            _customer_create(contactMedium=[{"mediumType": "email"}]),
            False,
            id="create-contactMedium-missing-characteristic",
        ),
        pytest.param(
            "CreditProfile",
            {"creditProfileDate": "2024-01-01T00:00:00Z", "validFor": {}, "creditScore": 720},
            True,
            id="creditProfile-integer-score",
        ),
        pytest.param(
            "CreditProfile",
            {"creditProfileDate": "2024-01-01T00:00:00Z", "validFor": {}, "creditScore": "high"},
            False,
            id="creditProfile-string-score",
        ),
        pytest.param("Error", {"code": "404", "reason": "Not found"}, True, id="error-ok"),
        pytest.param("Error", {"code": "404"}, False, id="error-missing-reason"),
        pytest.param(
            "Characteristic", {"name": "colour", "value": None}, True, id="characteristic-any"
        ),
        pytest.param("Characteristic", {"name": "colour"}, False, id="characteristic-no-value"),
    ],
)
def test_validation(name: str, instance: dict[str, Any], valid: bool) -> None:
    errors = list(schemas.validator(name).iter_errors(instance))
    assert (not errors) is valid, [error.message for error in errors]


COMMON = ["@baseType", "@schemaLocation", "@type"]


@pytest.mark.parametrize(
    ("name", "properties", "required"),
    [
        pytest.param(
            "Customer",
            [
                "id",
                "href",
                "name",
                "status",
                "statusReason",
                "account",
                "agreement",
                "characteristic",
                "contactMedium",
                "creditProfile",
                "engagedParty",
                "paymentMethod",
                "relatedParty",
                "validFor",
                *COMMON,
            ],
            ["engagedParty"],
            id="Customer",
        ),
        pytest.param(
            "ContactMedium",
            ["mediumType", "preferred", "characteristic", "validFor", *COMMON],
            ["mediumType", "characteristic"],
            id="ContactMedium",
        ),
        pytest.param(
            "CreditProfile",
            ["creditProfileDate", "creditRiskRating", "creditScore", "validFor", *COMMON],
            ["creditProfileDate", "validFor"],
            id="CreditProfile",
        ),
        pytest.param(
            "RelatedParty",
            ["id", "href", "name", "role", *COMMON, "@referredType"],
            ["@referredType", "id"],
            id="RelatedParty",
        ),
        pytest.param(
            "Error",
            ["code", "reason", "message", "status", "referenceError", *COMMON],
            ["code", "reason"],
            id="Error",
        ),
        pytest.param(
            "EventSubscription",
            ["id", "callback", "query"],
            ["id", "callback"],
            id="EventSubscription",
        ),
    ],
)
def test_key_definitions_do_not_drift(
    name: str, properties: list[str], required: list[str]
) -> None:
    document = schemas.load(name)
    assert list(document["properties"]) == properties
    assert document["required"] == required
