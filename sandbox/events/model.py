"""The four TMF629 v4.0.0 Customer events, built from a stored change.

An event is the JSON document the spec's ``Customer*Event`` schemas describe:
``eventId``, ``eventTime``, ``eventType`` (the schema's name, repeated in
``@type``), a human ``description`` and ``event: {"customer": ...}`` holding
the full customer as clients see it (for a delete: as it was). A change that
changes nothing yields no event. A patch that changes ``status`` yields the
attribute change event first, then the state change event.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from sandbox.domain.customers import Change

Document = dict[str, Any]

CREATE = "CustomerCreateEvent"
ATTRIBUTE_VALUE_CHANGE = "CustomerAttributeValueChangeEvent"
STATE_CHANGE = "CustomerStateChangeEvent"
DELETE = "CustomerDeleteEvent"

#: Every event type, in the order a customer's life produces them.
EVENT_TYPES: tuple[str, ...] = (CREATE, ATTRIBUTE_VALUE_CHANGE, STATE_CHANGE, DELETE)

#: Attributes whose change is not an attribute change of the customer: the
#: sandbox derives ``href`` from each request, so two hosts see two hrefs.
IGNORED_ATTRIBUTES = frozenset({"href"})


def listener_name(event_type: str) -> str:
    """The last path segment of the spec's client listener: ``customerCreateEvent``."""
    return event_type[:1].lower() + event_type[1:]


def event_type_for_listener(name: str) -> str | None:
    """The event type a ``/listener/<name>`` endpoint receives, or None if unknown."""
    for event_type in EVENT_TYPES:
        if listener_name(event_type) == name:
            return event_type
    return None


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as ``date-time`` wants it."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def changed_attributes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """First-level attributes added, removed or changed, sorted by name."""
    names = (set(before) | set(after)) - IGNORED_ATTRIBUTES
    missing = object()
    return sorted(n for n in names if before.get(n, missing) != after.get(n, missing))


def build_event(
    event_type: str,
    customer: Mapping[str, Any],
    *,
    event_id: str,
    event_time: str,
    description: str,
    field_path: str | None = None,
) -> Document:
    event: Document = {
        "eventId": event_id,
        "eventTime": event_time,
        "eventType": event_type,
        "@type": event_type,
        "description": description,
    }
    if field_path is not None:
        event["fieldPath"] = field_path
    event["event"] = {"customer": dict(customer)}
    return event


def events_for(
    change: Change,
    *,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> list[Document]:
    """The events one stored change produces, in the order they are to be sent."""
    when = timestamp(now())

    def make(event_type: str, customer: Mapping[str, Any], text: str,
             field_path: str | None = None) -> Document:
        return build_event(event_type, customer, event_id=new_id(), event_time=when,
                           description=text, field_path=field_path)

    if change.kind == "create" and change.after is not None:
        customer = change.after
        return [make(CREATE, customer, f"Customer {customer.get('id')} was created")]
    if change.kind == "delete" and change.before is not None:
        customer = change.before
        return [make(DELETE, customer, f"Customer {customer.get('id')} was deleted")]
    if change.kind == "update" and change.before is not None and change.after is not None:
        before, after = change.before, change.after
        changed = changed_attributes(before, after)
        if not changed:
            return []
        ident = after.get("id")
        events = [make(ATTRIBUTE_VALUE_CHANGE, after,
                       f"Customer {ident} changed: {', '.join(changed)}", ",".join(changed))]
        if "status" in changed:
            text = (f"Customer {ident} status changed from {before.get('status')!r} "
                    f"to {after.get('status')!r}")
            events.append(make(STATE_CHANGE, after, text))
        return events
    return []
