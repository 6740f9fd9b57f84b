"""The listener sink (``/listener/...``) and the admin listings, through the test client."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from sandbox.domain.customers import Change
from sandbox.errors import ApiError
from sandbox.events.model import events_for, listener_name
from tests.conftest import API

CUSTOMER = {
    "id": "42", "href": f"http://partner{API}/customer/42", "name": "Moon", "status": "Approved",
    "engagedParty": {"@referredType": "Organization", "id": "500"}, "@type": "Customer",
}
RECEIVED = "/admin/received-events"
DELIVERIES = "/admin/deliveries"


def sample_events() -> list[dict[str, Any]]:
    """One valid event of each type, as a partner's server would send them."""
    return [
        *events_for(Change("create", None, CUSTOMER)),
        *events_for(Change("update", {**CUSTOMER, "status": "Initialized"}, CUSTOMER)),
        *events_for(Change("delete", CUSTOMER, None)),
    ]


def post(client: FlaskClient, event: dict[str, Any], name: str | None = None) -> Any:
    return client.post(f"{API}/listener/{name or listener_name(event['eventType'])}",
                       json=event)


def test_each_listener_accepts_its_event_and_records_it(client: FlaskClient) -> None:
    events = sample_events()
    assert [e["eventType"] for e in events] == [
        "CustomerCreateEvent", "CustomerAttributeValueChangeEvent",
        "CustomerStateChangeEvent", "CustomerDeleteEvent"]
    for event in events:
        response = post(client, event)
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        assert set(body) == {"id", "listener", "eventType", "eventId", "receivedAt", "notes"}
        assert body["eventId"] == event["eventId"] and body["notes"] == []
    listed = client.get(RECEIVED)
    assert listed.headers["X-Total-Count"] == "4"
    records = listed.get_json()
    assert [r["event"] for r in records] == events
    assert all(r["accepted"] and r["problems"] == [] for r in records)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"eventTime": "yesterday"}, "$.eventTime: 'yesterday' is not a 'date-time'"),
        ({"eventId": 7}, "$.eventId: 7 is not of type 'string'"),
        ({"event": {"customer": {"name": "No party"}}}, "'engagedParty' is a required property"),
        ({"event": {"customer": {**CUSTOMER, "validFor": {"startDateTime": "soon"}}}},
         "$.event.customer.validFor.startDateTime"),
        ({"eventType": "CustomerDeleteEvent"}, "'CustomerDeleteEvent' was posted to the "
         "CustomerCreateEvent listener"),
    ],
    ids=["event-time", "event-id", "customer-invalid", "nested-date", "wrong-type"],
)
def test_an_invalid_event_is_400_with_the_reason_and_recorded(
        client: FlaskClient, change: dict[str, Any], fragment: str) -> None:
    event = {**sample_events()[0], **change}
    response = post(client, event, "customerCreateEvent")
    assert response.status_code == 400
    body = response.get_json()
    assert body["@type"] == "Error" and body["reason"] == "Schema violation"
    assert fragment in body["message"], body["message"]
    (record,) = client.get(f"{RECEIVED}?accepted=false").get_json()
    assert record["accepted"] is False and fragment in "; ".join(record["problems"])


def test_a_bare_event_is_accepted_with_notes(client: FlaskClient) -> None:
    response = client.post(f"{API}/listener/customerDeleteEvent", json={"title": "gone"})
    assert response.status_code == 201
    assert response.get_json()["notes"] == [
        "no eventId", "no eventTime", "no eventType", "no event.customer"]


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": []}, 400),
        ({"data": "{oops", "content_type": "application/json"}, 400),
        ({"data": "", "content_type": "application/json"}, 400),
        ({"data": "x=1", "content_type": "text/plain"}, 415),
    ],
    ids=["array", "malformed", "empty", "not-json"],
)
def test_bad_bodies_are_tmf_errors(client: FlaskClient, kwargs: dict[str, Any],
                                   status: int) -> None:
    response = client.post(f"{API}/listener/customerCreateEvent", **kwargs)
    assert response.status_code == status
    assert response.get_json()["@type"] == "Error"


def test_an_unknown_listener_is_404(client: FlaskClient) -> None:
    response = client.post(f"{API}/listener/customerUpdateEvent", json={})
    assert response.status_code == 404
    assert "customerCreateEvent" in response.get_json()["message"]


def test_admin_listings_filter_and_clear(client: FlaskClient) -> None:
    for event in sample_events():
        post(client, event)
    deletes = client.get(f"{RECEIVED}?eventType=CustomerDeleteEvent").get_json()
    assert [r["listener"] for r in deletes] == ["customerDeleteEvent"]
    assert client.get(f"{RECEIVED}?listener=customerCreateEvent,customerDeleteEvent"
                      ).headers["X-Total-Count"] == "2"
    assert client.delete(RECEIVED).status_code == 204
    assert client.get(RECEIVED).get_json() == []
    assert client.get(DELIVERIES).get_json() == []
    assert client.delete(DELIVERIES).status_code == 204


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("POST", RECEIVED, 405), ("PUT", DELIVERIES, 405), ("GET", "/admin/nothing", 404),
     ("GET", f"{API}/listener/customerCreateEvent", 405)],
)
def test_admin_and_listener_errors_are_tmf_errors(client: FlaskClient, method: str, path: str,
                                                  status: int) -> None:
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.get_json()["@type"] == "Error"


def test_the_sink_is_bounded_in_bytes_and_keeps_refused_bodies_as_summaries() -> None:
    from sandbox.events.sink import ReceivedEvents

    sink = ReceivedEvents(max_bytes=50_000)
    big = {**sample_events()[0], "title": "x" * 20_000}
    for n in range(5):
        sink.receive("customerCreateEvent", {**big, "eventId": f"big{n}"})
    assert sink.size <= 50_000
    assert [r["eventId"] for r in sink.all()] == ["big3", "big4"]  # the oldest went first
    with pytest.raises(ApiError):
        sink.receive("customerCreateEvent", {"eventId": 7, "junk": "y" * 40_000})
    refused = sink.all()[-1]
    assert refused["event"] is None
    assert refused["summary"]["members"] == ["eventId", "junk"]
    assert refused["summary"]["bytes"] > 40_000
    assert sink.size <= 50_000
