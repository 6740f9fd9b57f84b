"""Seed customers and default payloads conform to the TMF629 v4.0.0 contract."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest

import schemas
from fixtures import load_json

CUSTOMERS: list[dict[str, Any]] = load_json("customers.json")
PAYLOADS = ["payloads/CU01.json", "payloads/CU02.json"]
HREF_PREFIX = "http://localhost:8629/tmf-api/customerManagement/v4/customer/"


def _errors(schema_name: str, instance: Any) -> list[str]:
    validator = schemas.validator(schema_name)
    return [
        f"{'/'.join(map(str, err.absolute_path)) or '<root>'}: {err.message}"
        for err in validator.iter_errors(instance)
    ]


def test_seed_count() -> None:
    assert isinstance(CUSTOMERS, list)
    assert len(CUSTOMERS) == 25


@pytest.mark.parametrize("customer", CUSTOMERS, ids=[c["name"] for c in CUSTOMERS])
def test_customer_validates_against_spec(customer: dict[str, Any]) -> None:
    assert _errors("Customer", customer) == []


@pytest.mark.parametrize("customer", CUSTOMERS, ids=[c["name"] for c in CUSTOMERS])
def test_customer_has_core_attributes(customer: dict[str, Any]) -> None:
    for key in ("id", "href", "name", "@type", "engagedParty", "status"):
        assert key in customer, key
    assert customer["@type"] == "Customer"
    assert customer["href"] == HREF_PREFIX + customer["id"]
    assert customer["href"].endswith(f"/customer/{customer['id']}")
    party = customer["engagedParty"]
    assert party["@referredType"] in {"Organization", "Individual"}
    assert party["id"]


@pytest.mark.parametrize("customer", CUSTOMERS, ids=[c["name"] for c in CUSTOMERS])
def test_at_most_one_preferred_contact_medium(customer: dict[str, Any]) -> None:
    media = customer.get("contactMedium", [])
    if media:
        assert sum(1 for m in media if m.get("preferred")) == 1


def test_ids_are_unique_uuid4() -> None:
    ids = [c["id"] for c in CUSTOMERS]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 4
        assert str(parsed) == value


def test_names_are_unique_and_not_reserved_for_the_kit() -> None:
    names = [c["name"] for c in CUSTOMERS]
    assert len(set(names)) == len(names)
    kit_names = {load_json(p)["name"] for p in PAYLOADS}
    assert kit_names.isdisjoint(names)


def test_organisation_individual_mix() -> None:
    kinds = Counter(c["engagedParty"]["@referredType"] for c in CUSTOMERS)
    assert kinds["Organization"] >= 10
    assert kinds["Individual"] >= 10


def test_status_variety() -> None:
    statuses = {c["status"] for c in CUSTOMERS}
    assert {"Approved", "Validated", "Pending"} <= statuses


def test_all_contact_medium_types_present() -> None:
    types = {m["mediumType"] for c in CUSTOMERS for m in c.get("contactMedium", [])}
    assert {"email", "phone", "postalAddress"} <= types


def test_credit_score_filter_is_selective() -> None:
    high = [
        c
        for c in CUSTOMERS
        if any(p.get("creditScore", 0) >= 700 for p in c.get("creditProfile", []))
    ]
    assert 0 < len(high) < len(CUSTOMERS)


@pytest.mark.parametrize("name", PAYLOADS)
def test_payload_is_valid_customer_create(name: str) -> None:
    body = load_json(name)
    assert _errors("Customer_Create", body) == []
    assert "id" not in body
    assert "href" not in body
