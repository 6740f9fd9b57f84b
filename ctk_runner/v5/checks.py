"""The v5 suite's checks: statuses the v5.0.1 OAS allows, bodies judged by its schemas.

Like :mod:`ctk_runner.strict.checks`, nothing here sends a request: each function
looks at what it is given and returns assertions from the one rule registry
(:mod:`ctk_runner.strict.rules`). A body is judged twice: against the OAS as
written, each polymorphic item by its ``@type`` (:func:`valid`), and for
attributes no schema of its ``@type`` defines (:func:`declared`). A check whose
subject is absent (an empty list, an error answer) is skipped, never passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ctk_runner.client import Reply, decode_json
from ctk_runner.kit.js import describe
from ctk_runner.model import Assertion, summarize
from ctk_runner.notifications.listener import Received
from ctk_runner.strict.checks import ALWAYS_ALLOWED_FIELDS, label
from ctk_runner.strict.rules import judge, skip
from ctk_runner.strict.x1_checks import answered
from ctk_runner.v5 import oas

VALID_CUSTOMER = "v5 body is a valid Customer"
DECLARED = "Every attribute is defined by its @type"
ERROR_BODY = "v5 error body is an Error"
LIST_ANSWERED = "v5 list answers 200 with an array of Customer"
RETRIEVED = "v5 retrieve answers 200 with the customer"
ONLY_FIELDS = "v5 response has only the requested fields"
CREATED = "v5 create answers 201 or 202"
PATCHED = "v5 PATCH answers 200 or 202"
DELETED = "v5 DELETE answers 202 or 204"
INVALID_PAYLOAD = "v5 invalid payload is 400"
UNKNOWN_ID = "v5 unknown id is 404"
QUERY_PATCH = "JSON Patch Query is applied"
HUB_CREATED = "v5 hub registration answers 201"
VALID_HUB = "Subscription is a valid v5 Hub"
HUB_READ = "GET /hub/{id} returns the subscription"
UNREGISTERED = "v5 unregistration answers 204"
ENVELOPE = "v5 event carries the envelope"

#: What a v5 event carries besides ``event.customer`` (the issue's list, the OAS's Event).
ENVELOPE_MEMBERS = ("@type", "eventId", "eventTime", "eventType", "correlationId", "domain",
                    "title", "description", "priority", "timeOccurred", "source",
                    "reportingSystem")


def _joined(problems: Sequence[str]) -> str:
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return "; ".join(summarize(p, 160) for p in problems[:3]) + more


def status_in(name: str, reply: Reply, allowed: Sequence[int], what: str) -> Assertion:
    """``what`` must be answered with one of the ``allowed`` statuses."""
    expected = " or ".join(map(str, allowed))
    return judge(name, reply.status in allowed, f"{what} {answered(reply)}, not {expected}")


def valid(instances: Iterable[Any], schema: str = "Customer", *, partial: bool = False,
          name: str = VALID_CUSTOMER) -> Assertion:
    """Each instance validates against ``schema`` of the OAS, its items by their ``@type``."""
    judged = list(instances)
    if not judged:
        return skip(name, "nothing to validate: the list is empty")
    found = [f"{label(i)}: {p}" for i in judged for p in oas.problems(i, schema, partial=partial)]
    return judge(name, not found, _joined(found))


def declared(instances: Iterable[Any], schema: str = "Customer") -> Assertion:
    """No attribute beyond what each object's ``@type`` defines, unless ``@schemaLocation``."""
    judged = list(instances)
    if not judged:
        return skip(DECLARED, "nothing to judge: the list is empty")
    found = [f"{label(i)}: {p}" for i in judged for p in oas.undeclared(i, schema)]
    return judge(DECLARED, not found, _joined(found))


def error_body(reply: Reply) -> Assertion:
    """A 4xx/5xx answer carries a v5 ``Error`` (``code``, ``reason`` and ``@type``)."""
    if reply.status is None:
        return skip(ERROR_BODY, f"no response to judge ({reply.error})")
    if reply.status < 400:
        return skip(ERROR_BODY, f"{answered(reply)}, not an error: no error body to judge")
    body, problem = decode_json(reply.text)
    if problem is not None:
        return judge(ERROR_BODY, False, problem)
    return judge(ERROR_BODY, not (found := oas.problems(body, "Error")), _joined(found))


def body_of(reply: Reply, expected: type) -> tuple[Any, str | None]:
    """The decoded body, or why it is not the JSON object/array the OAS answers."""
    value, problem = decode_json(reply.text)
    if problem is not None:
        return None, problem
    if not isinstance(value, expected):
        wanted = "a JSON object" if expected is dict else "a JSON array"
        return value, f"expected {wanted}, got {describe(value)}"
    return value, None


def answered_with(name: str, reply: Reply, allowed: Sequence[int], expected: type,
                  what: str) -> tuple[Any, Assertion]:
    """Status and shape in one rule (a list, a retrieve): the body when both hold."""
    if reply.status not in allowed:
        return None, status_in(name, reply, allowed, what)
    body, problem = body_of(reply, expected)
    return (body if problem is None else None), judge(name, problem is None,
                                                      f"{what}: {problem}")


def only_fields(instances: Sequence[Any], fields: Sequence[str]) -> Assertion:
    """A ``fields=`` answer holds the requested attributes, ``id``, ``href``, ``@type`` only."""
    if not instances:
        return skip(ONLY_FIELDS, "nothing to judge: the list is empty")
    allowed = ALWAYS_ALLOWED_FIELDS | set(fields)
    extra = sorted({k for i in instances if isinstance(i, Mapping) for k in i} - allowed)
    return judge(ONLY_FIELDS, not extra,
                 f"unrequested attributes: {', '.join(extra[:8])} (fields={','.join(fields)})")


def same_subscription(reply: Reply, ident: str, callback: str) -> Assertion:
    """``GET /hub/{id}`` answers 200 with the registered subscription, a valid Hub."""
    hub, problem = body_of(reply, dict) if reply.status == 200 else (None, answered(reply))
    if problem is not None or not isinstance(hub, dict):
        return judge(HUB_READ, False, f"GET hub/{ident}: {problem}")
    wrong = [k for k, v in (("id", ident), ("callback", callback)) if str(hub.get(k)) != v]
    found = oas.problems(hub, "Hub")
    why = f"the subscription's {', '.join(wrong)} differ" if wrong else _joined(found)
    return judge(HUB_READ, not wrong and not found, why)


def envelope(item: Received) -> Assertion:
    """The event carries every member of the v5 envelope, and ``event.customer``."""
    body = item.body if isinstance(item.body, Mapping) else {}
    missing = [m for m in ENVELOPE_MEMBERS if body.get(m) in (None, "")]
    event = body.get("event")
    if not (isinstance(event, Mapping) and isinstance(event.get("customer"), Mapping)):
        missing.append("event.customer")
    return judge(ENVELOPE, not missing, f"the {item.event_type or 'event'} lacks "
                 f"{', '.join(missing)}")


def valid_event(item: Received, event_type: str) -> list[Assertion]:
    """The event, as the OAS's ``event_type`` and with no undeclared attribute."""
    name = f"Event is a valid v5 {event_type}"
    if not isinstance(item.body, Mapping):
        return [judge(name, False, f"the {event_type} body is not a JSON object")]
    return [valid([item.body], event_type, name=name), declared([item.body], event_type),
            envelope(item)]
