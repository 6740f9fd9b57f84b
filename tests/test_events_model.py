"""Building the four Customer events from stored changes, as tables."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from typing import Any

import pytest

import schemas
from sandbox.domain.customers import Change
from sandbox.events.model import (
    EVENT_TYPES,
    changed_attributes,
    event_type_for_listener,
    events_for,
    listener_name,
    timestamp,
)

HREF = "http://h/tmf-api/customerManagement/v4/customer/42"
BASE: dict[str, Any] = {
    "id": "42", "href": HREF, "name": "Moon", "status": "Initialized", "@type": "Customer",
    "engagedParty": {"@referredType": "Organization", "id": "500"},
}
NOW = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)


def build(change: Change) -> list[dict[str, Any]]:
    counter = itertools.count(1)
    return events_for(change, new_id=lambda: f"e{next(counter)}", now=lambda: NOW)


@pytest.mark.parametrize(
    ("change", "types", "field_paths"),
    [
        (Change("create", None, BASE), ["CustomerCreateEvent"], [None]),
        (Change("delete", BASE, None), ["CustomerDeleteEvent"], [None]),
        (Change("update", BASE, {**BASE, "name": "Sun"}),
         ["CustomerAttributeValueChangeEvent"], ["name"]),
        (Change("update", BASE, {**BASE, "status": "Approved"}),
         ["CustomerAttributeValueChangeEvent", "CustomerStateChangeEvent"], ["status", None]),
        (Change("update", BASE, {**BASE, "status": "Approved", "name": "Sun"}),
         ["CustomerAttributeValueChangeEvent", "CustomerStateChangeEvent"],
         ["name,status", None]),
        (Change("update", BASE, {k: v for k, v in BASE.items() if k != "status"}),
         ["CustomerAttributeValueChangeEvent", "CustomerStateChangeEvent"], ["status", None]),
        # Only the href differs (another host name): nothing changed.
        (Change("update", BASE, {**BASE, "href": "http://other/customer/42"}), [], []),
        (Change("update", BASE, dict(BASE)), [], []),
    ],
    ids=["create", "delete", "name", "status", "name-and-status", "status-removed",
         "href-only", "no-change"],
)
def test_events_for_a_change(change: Change, types: list[str],
                             field_paths: list[str | None]) -> None:
    events = build(change)
    assert [e["eventType"] for e in events] == types
    assert [e.get("fieldPath") for e in events] == field_paths
    for event in events:
        assert event["@type"] == event["eventType"]
        assert event["eventTime"] == "2024-05-01T12:30:15.123Z"
        customer = change.after if change.after is not None else change.before
        assert event["event"] == {"customer": customer}
        assert list(schemas.validator(event["eventType"]).iter_errors(event)) == []


def test_event_ids_are_unique_within_a_change() -> None:
    events = events_for(Change("update", BASE, {**BASE, "status": "Approved"}))
    assert len({e["eventId"] for e in events}) == 2


def test_delete_event_carries_the_customer_as_it_was() -> None:
    (event,) = build(Change("delete", BASE, None))
    assert event["event"]["customer"]["status"] == "Initialized"
    assert event["event"]["customer"]["href"] == HREF


@pytest.mark.parametrize(
    ("before", "after", "changed"),
    [
        ({"a": 1}, {"a": 1}, []),
        ({"a": 1}, {"a": 2}, ["a"]),
        ({"a": 1}, {}, ["a"]),
        ({}, {"b": None}, ["b"]),
        ({"a": [1]}, {"a": [1, 2], "c": {}}, ["a", "c"]),
        ({"href": "x"}, {"href": "y"}, []),
    ],
)
def test_changed_attributes(before: dict[str, Any], after: dict[str, Any],
                            changed: list[str]) -> None:
    assert changed_attributes(before, after) == changed


@pytest.mark.parametrize(
    ("event_type", "name"),
    [
        ("CustomerCreateEvent", "customerCreateEvent"),
        ("CustomerAttributeValueChangeEvent", "customerAttributeValueChangeEvent"),
        ("CustomerStateChangeEvent", "customerStateChangeEvent"),
        ("CustomerDeleteEvent", "customerDeleteEvent"),
    ],
)
def test_listener_names_are_the_spec_paths(event_type: str, name: str) -> None:
    assert listener_name(event_type) == name
    assert event_type_for_listener(name) == event_type
    assert event_type in EVENT_TYPES


@pytest.mark.parametrize("name", ["CustomerCreateEvent", "customerUpdateEvent", "", "x"])
def test_unknown_listener_names(name: str) -> None:
    assert event_type_for_listener(name) is None


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (NOW, "2024-05-01T12:30:15.123Z"),
        (datetime(2024, 1, 1, tzinfo=timezone.utc), "2024-01-01T00:00:00.000Z"),
    ],
)
def test_timestamp_is_rfc3339_utc(moment: datetime, text: str) -> None:
    assert timestamp(moment) == text
