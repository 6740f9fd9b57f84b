"""The NT1 checks on received events, as tables (no network)."""

from __future__ import annotations

from typing import Any

import pytest

from ctk_runner.notifications.checks import (
    CHANGE,
    CREATE,
    DELETE,
    STATE,
    carries,
    customer_id,
    in_order,
    valid_event,
    valid_subscription,
)
from ctk_runner.notifications.listener import Received

CUSTOMER = {"id": "7", "name": "Moon", "status": "Approved",
            "engagedParty": {"@referredType": "Organization", "id": "500"}}
GOOD = {"eventId": "e1", "eventTime": "2024-05-01T12:00:00Z", "eventType": CREATE,
        "event": {"customer": CUSTOMER}}


def received(body: Any, seq: int = 1, path: str = "/listener/customerCreateEvent") -> Received:
    return Received(seq, "POST", path, {}, "", body)


@pytest.mark.parametrize(
    ("body", "schema_ok", "members_ok", "fragment"),
    [
        (GOOD, True, True, ""),
        ({**GOOD, "eventTime": "noon"}, False, True, "/eventTime: 'noon' is not a 'date-time'"),
        ({k: v for k, v in GOOD.items() if k != "eventId"}, True, False, "no eventId"),
        ({**GOOD, "eventType": DELETE}, True, False, "eventType is 'CustomerDeleteEvent'"),
        ({**GOOD, "event": {}}, True, False, "no event.customer"),
        ({**GOOD, "event": {"customer": {"name": "x"}}}, False, True,
         "'engagedParty' is a required property"),
        ([GOOD], False, False, "is not a JSON object"),
        (None, False, False, "is not a JSON object"),
    ],
    ids=["good", "event-time", "no-event-id", "wrong-type", "no-customer", "bad-customer",
         "array", "not-json"],
)
def test_valid_event(body: Any, schema_ok: bool, members_ok: bool, fragment: str) -> None:
    schema, members = valid_event(received(body), CREATE)
    # The schema is the swagger's rule; the members a consumer needs are the harness's.
    assert schema.name == "Event is a valid CustomerCreateEvent" and schema.source == "swagger"
    assert members.source == "harness" and members.severity == "warning"
    assert (schema.passed, members.passed) == (schema_ok, members_ok)
    assert fragment in schema.message + members.message
    assert schema.kind == members.kind == "strict"


@pytest.mark.parametrize(
    ("expected", "passed", "fragment"),
    [
        ({"id": "7", "status": "Approved"}, True, ""),
        ({"id": "7", "status": "Closed"}, False, "status = Approved, expected Closed"),
        ({"id": "8"}, False, "id = 7, expected 8"),
    ],
)
def test_carries(expected: dict[str, Any], passed: bool, fragment: str) -> None:
    result = carries(received(GOOD), expected, "patched")
    assert result.name == "Event carries the patched customer"
    assert result.passed is passed and fragment in result.message


@pytest.mark.parametrize(
    ("order", "passed", "fragment"),
    [
        ([CREATE, CHANGE, STATE, DELETE], True, ""),
        ([CREATE, STATE, CHANGE, DELETE], True, ""),  # the spec orders no patch events
        ([CHANGE, CREATE, STATE, DELETE], False, "they arrived as "
         "CustomerAttributeValueChangeEvent, CustomerCreateEvent"),
        ([CREATE, CHANGE, DELETE, STATE], False, "CustomerDeleteEvent, CustomerStateChangeEvent"),
    ],
)
def test_in_order(order: list[str], passed: bool, fragment: str) -> None:
    found: dict[str, Received | None] = {t: received({}, order.index(t) + 1)
                                         for t in (CREATE, CHANGE, STATE, DELETE)}
    result = in_order(found)
    assert result.passed is passed and fragment in result.message


def test_in_order_names_what_never_came() -> None:
    found: dict[str, Received | None] = {CREATE: received({}, 1), CHANGE: received({}, 2),
                                         STATE: received({}, 3), DELETE: None}
    assert in_order(found).message == "cannot tell: CustomerDeleteEvent never arrived"


@pytest.mark.parametrize(
    ("body", "passed", "fragment"),
    [
        ({"id": "1", "callback": "http://me/"}, True, ""),
        ({"id": "1", "callback": "http://me/", "query": ""}, True, ""),
        ({"callback": "http://me/"}, False, "'id' is a required property"),
        ({"id": 1, "callback": "http://me/"}, False, "1 is not of type 'string'"),
        ({"id": "1", "callback": "http://other/"}, False, "registered http://me/"),
        ("created", False, "not a JSON object"),
    ],
)
def test_valid_subscription(body: Any, passed: bool, fragment: str) -> None:
    result = valid_subscription(body, "http://me/")
    assert result.passed is passed and fragment in result.message


@pytest.mark.parametrize(
    ("body", "path", "event_type", "ident"),
    [
        (GOOD, "/listener/customerCreateEvent", CREATE, "7"),
        ({"@type": DELETE}, "/hooks", DELETE, None),
        ({}, "/listener/customerStateChangeEvent", STATE, None),
        (None, "/hooks", None, None),
    ],
)
def test_what_a_received_event_is(body: Any, path: str, event_type: str | None,
                                  ident: str | None) -> None:
    item = received(body, path=path)
    assert item.event_type == event_type
    assert customer_id(item) == ident
