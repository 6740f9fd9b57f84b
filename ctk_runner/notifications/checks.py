"""The checks of the notifications folder NT1, as functions returning assertions.

Like :mod:`ctk_runner.strict.checks`, nothing here sends a request: each function
judges what the runner's listener received (a :class:`Received`) or what the
target answered. Every assertion is ``kind="strict"``, with its rule from
:mod:`ctk_runner.strict.rules`: the kit has no such checks, so NT1 fails on
them in any profile that runs it.

An event must validate against its v4.0.0 schema (a swagger rule) and carry
``eventId``, ``eventTime``, ``eventType`` (equal to its type) and
``event.customer``: the schemas require none of them, but a consumer cannot
work without them (the harness's own rule, of severity warning).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ctk_runner.client import Reply
from ctk_runner.model import Assertion, summarize
from ctk_runner.notifications.listener import Received
from ctk_runner.strict import checks as strict_checks
from ctk_runner.strict.rules import CHANGE_EVENT, CREATE_EVENT, DELETE_EVENT, STATE_EVENT, judge

CREATE = CREATE_EVENT
CHANGE = CHANGE_EVENT
STATE = STATE_EVENT
DELETE = DELETE_EVENT

#: Members a consumer needs, although the v4.0.0 event schemas require none.
EVENT_MEMBERS = ("eventId", "eventTime", "eventType")

HUB_ANSWERS_201 = "Hub registration answers 201"
VALID_SUBSCRIPTION = "Subscription is a valid EventSubscription"
IN_ORDER = "Events arrived in order"
UNREGISTERED = "Unregistration answers 204"
NOTHING_AFTER = "No event after unregistering"
EVENT_CARRIES_MEMBERS = "Event carries eventId, eventTime, eventType and event.customer"


def customer_id(item: Received) -> str | None:
    """The id of the customer an event is about, when it says."""
    ident = event_customer(item).get("id")
    return str(ident) if ident is not None else None


def event_customer(item: Received) -> Mapping[str, Any]:
    """``event.customer`` of a received event ({} when absent)."""
    body = item.body if isinstance(item.body, dict) else {}
    payload = body.get("event")
    customer = payload.get("customer") if isinstance(payload, dict) else None
    return customer if isinstance(customer, dict) else {}


def valid_event(item: Received, event_type: str) -> list[Assertion]:
    """The event validates against its v4.0.0 schema, and carries what a consumer needs."""
    import schemas

    name = f"Event is a valid {event_type}"
    if not isinstance(item.body, dict):
        why = f"the body posted to {item.path} is not a JSON object"
        return [judge(name, False, why), judge(EVENT_CARRIES_MEMBERS, False, why)]
    problems = [
        f"/{'/'.join(str(p) for p in e.absolute_path)}: {summarize(e.message, 120)}"
        for e in schemas.validator(event_type).iter_errors(item.body)
    ]
    missing = [f"no {member}" for member in EVENT_MEMBERS if member not in item.body]
    if item.body.get("eventType", event_type) != event_type:
        missing.append(f"eventType is {item.body['eventType']!r}")
    if not event_customer(item):
        missing.append("no event.customer")
    return [judge(name, not problems, "; ".join(problems[:3])),
            judge(EVENT_CARRIES_MEMBERS, not missing, "; ".join(missing[:4]))]


def carries(item: Received, expected: Mapping[str, Any], what: str) -> Assertion:
    """The event's customer is the one changed: same id, and ``expected``'s values."""
    customer = event_customer(item)
    differing = [key for key, value in expected.items() if customer.get(key) != value]
    why = "" if not differing else "the event's customer has " + ", ".join(
        f"{key} = {summarize(strict_checks.display(customer.get(key)), 60)}, expected "
        f"{summarize(strict_checks.display(expected[key]), 60)}" for key in differing)
    return judge(f"Event carries the {what} customer", not differing, why)


def in_order(found: Mapping[str, Received | None]) -> Assertion:
    """Create before the patch's events, the patch's events before the delete."""
    missing = [t for t, item in found.items() if item is None]
    if missing:
        return judge(IN_ORDER, False, f"cannot tell: {', '.join(missing)} never arrived")
    seq = {t: item.seq for t, item in found.items() if item is not None}
    ok = seq[CREATE] < min(seq[CHANGE], seq[STATE]) and max(seq[CHANGE], seq[STATE]) < seq[DELETE]
    arrived = ", ".join(t for t, _ in sorted(seq.items(), key=lambda kv: kv[1]))
    return judge(IN_ORDER, ok, f"they arrived as {arrived}")


def status_named(reply: Reply, expected: int, name: str) -> Assertion:
    found = strict_checks.status_code(reply, expected)
    return judge(name, found.passed, found.message)


def valid_subscription(body: Any, callback: str) -> Assertion:
    import schemas

    if not isinstance(body, dict):
        return judge(VALID_SUBSCRIPTION, False, "the response body is not a JSON object")
    problems = [
        f"/{'/'.join(str(p) for p in e.absolute_path)}: {summarize(e.message, 120)}"
        for e in schemas.validator("EventSubscription").iter_errors(body)
    ]
    if "callback" in body and body["callback"] != callback:
        problems.append(f"callback is {summarize(str(body['callback']), 80)}, "
                        f"registered {callback}")
    return judge(VALID_SUBSCRIPTION, not problems, "; ".join(problems[:3]))
