"""A subscription's query on event documents, as a table (the list filter syntax)."""

from __future__ import annotations

import pytest

from sandbox.domain.customers import Change
from sandbox.errors import ApiError
from sandbox.events.hub import event_matches, parse_query
from sandbox.events.model import events_for

CUSTOMER = {"id": "42", "href": "http://h/customer/42", "name": "Moon", "status": "Approved",
            "engagedParty": {"@referredType": "Organization", "id": "500"}}
CREATE, = events_for(Change("create", None, CUSTOMER))
CHANGE, STATE = events_for(Change("update", {**CUSTOMER, "status": "Initialized"}, CUSTOMER))
DELETE, = events_for(Change("delete", {**CUSTOMER, "status": "Closed"}, None))


@pytest.mark.parametrize(
    ("query", "received"),
    [
        (None, [CREATE, CHANGE, STATE, DELETE]),
        ("", [CREATE, CHANGE, STATE, DELETE]),
        ("?", [CREATE, CHANGE, STATE, DELETE]),
        ("eventType=CustomerCreateEvent", [CREATE]),
        ("?eventType=CustomerDeleteEvent", [DELETE]),
        ("eventType=CustomerCreateEvent,CustomerDeleteEvent", [CREATE, DELETE]),
        ("event.customer.status=Approved", [CREATE, CHANGE, STATE]),
        ("event.customer.status=Approved&eventType=CustomerStateChangeEvent", [STATE]),
        ("event.customer.engagedParty.id=500", [CREATE, CHANGE, STATE, DELETE]),
        ("event.customer.id=43", []),
        ("fieldPath=status", [CHANGE]),
        ("eventType.ne=CustomerAttributeValueChangeEvent", [CREATE, STATE, DELETE]),
        ("event.customer.name.regex=^Mo", [CREATE, CHANGE, STATE, DELETE]),
        ("limit=1", [CREATE, CHANGE, STATE, DELETE]),  # reserved names are no filters
    ],
)
def test_query_selects_events(query: str | None, received: list[dict[str, object]]) -> None:
    events = [CREATE, CHANGE, STATE, DELETE]
    assert [e for e in events if event_matches(e, query)] == received


@pytest.mark.parametrize("query", ["eventType", "a=1&b", "event..customer=1",
                                   "event.customer.name.regex=("])
def test_unusable_queries_are_400(query: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_query(query)
    assert caught.value.status == 400
