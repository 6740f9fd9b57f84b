"""The four TMF629 v5.0.1 Customer events: the v4.0.0 events in the v5 envelope.

Which events a change produces, and in what order, is :func:`model.events_for`'s
rule; here each one gets the v5 ``Event`` members: ``correlationId`` (shared by
the events of one change, so a consumer pairs an attribute change with its state
change), ``domain``, ``title``, ``priority``, ``timeOccurred``, ``source`` (the
customer, an ``EntityRef``) and ``reportingSystem`` (this sandbox). v5 has no
``fieldPath``: the changed attributes stay named in ``description``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sandbox.domain.customers import Change
from sandbox.events import EventFlavour
from sandbox.events.model import events_for

Document = dict[str, Any]

DOMAIN = "customerManagement"
REPORTING_SYSTEM: Document = {"@type": "EntityRef", "id": "tmf629-sandbox",
                              "name": "TMF629 Customer Management sandbox"}
#: v5 subscriptions are kept apart from v4's: each hears its own version's events.
HUB_COLLECTION = "hub_v5"


def _source(customer: Document) -> Document:
    source: Document = {"@type": "EntityRef", "id": str(customer.get("id", ""))}
    if isinstance(customer.get("href"), str):
        source["href"] = customer["href"]
    if isinstance(customer.get("name"), str):
        source["name"] = customer["name"]
    source["@referredType"] = str(customer.get("@type", "Customer"))
    return source


def envelope(event: Document, correlation_id: str) -> Document:
    """A v4 event as the v5 ``Event`` of the same type."""
    customer: Document = event["event"]["customer"]
    return {
        "@type": event["@type"],
        "eventId": event["eventId"],
        "eventTime": event["eventTime"],
        "eventType": event["eventType"],
        "correlationId": correlation_id,
        "domain": DOMAIN,
        "title": event["eventType"],
        "description": event["description"],
        "priority": "normal",
        "timeOccurred": event["eventTime"],
        "source": _source(customer),
        "reportingSystem": dict(REPORTING_SYSTEM),
        "event": {"customer": customer},
    }


def events_for_v5(
    change: Change,
    *,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> list[Document]:
    """The v5 events one stored change produces, in the order they are to be sent."""
    events = events_for(change, new_id=new_id, now=now)
    correlation = new_id() if events else ""
    return [envelope(event, correlation) for event in events]


V5_EVENTS = EventFlavour(hub_collection=HUB_COLLECTION, build=events_for_v5)
