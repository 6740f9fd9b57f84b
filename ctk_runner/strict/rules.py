"""Every strict rule, as data: its name, where it comes from, how much it weighs.

A strict check (:mod:`ctk_runner.strict.checks`, :mod:`~ctk_runner.strict.x1_checks`,
:mod:`ctk_runner.notifications.checks`) never builds its :class:`Assertion` by
hand: :func:`judge` and :func:`skip` look the rule up here, so every finding
carries its ``source`` and ``severity`` and a rule without an entry cannot be
reported at all. ``--rules`` selects sources (:func:`parse_sources`); the
list of strict rules in docs/harness/index.md is :func:`markdown_table` (a test
compares them).

Sources: ``swagger`` (the API's contract states it: the TMF629 v4.0.0 swagger, or for
``--api v5`` the v5.0.1 OAS, named in each rule's ``where``), ``tmf630`` (the
REST API design guidelines), ``rfc`` (an IETF RFC), ``harness`` (the harness's
own judgement, stated nowhere). Severity ``warning``: a failure is reported
but never fails the verdict (a SHOULD, an example, an opinion).
"""

from __future__ import annotations

from dataclasses import dataclass

from ctk_runner.model import RULE_SOURCES, Assertion, Severity, Source

CREATE_EVENT = "CustomerCreateEvent"
CHANGE_EVENT = "CustomerAttributeValueChangeEvent"
STATE_EVENT = "CustomerStateChangeEvent"
DELETE_EVENT = "CustomerDeleteEvent"
EVENTS = (CREATE_EVENT, CHANGE_EVENT, STATE_EVENT, DELETE_EVENT)


@dataclass(frozen=True)
class Rule:
    name: str
    source: Source
    severity: Severity
    #: Where the source states it (or why the harness holds it).
    where: str


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {rule.name: rule for rule in rules}


_SWAGGER = "TMF629 v4.0.0 swagger"
_OAS = "TMF629 v5.0.1 OAS"

RULES: dict[str, Rule] = _rules(
    # -- the kit's own requests, judged further (strict/checks) --
    Rule("Status code is 200", "swagger", "error", f"{_SWAGGER}: 200 on GET and PATCH"),
    Rule("Status code is 201", "swagger", "error", f"{_SWAGGER}: 201 on POST /customer"),
    Rule("Status code is 204", "swagger", "error", f"{_SWAGGER}: 204 on DELETE"),
    Rule("Response body is a JSON object", "swagger", "error",
         f"{_SWAGGER}: create, retrieve and PATCH answer a Customer"),
    Rule("Response body is a JSON array", "swagger", "error",
         f"{_SWAGGER}: GET /customer answers an array of Customer"),
    Rule("JSON body has no byte order mark", "rfc", "error",
         "RFC 8259 section 8.1: senders MUST NOT add a byte order mark"),
    Rule("Response body is a valid Customer", "swagger", "error",
         f"{_SWAGGER}: the Customer definition"),
    Rule("Error body is a TMF Error", "swagger", "error",
         f"{_SWAGGER}: every 4xx/5xx answer is an Error"),
    Rule("Location header equals href", "tmf630", "warning",
         "TMF630 Part 1: 201 Created with a Location header (RFC 9110 makes it optional)"),
    Rule("href points at the target", "harness", "warning",
         "the harness: an href naming another host is not followed with your credentials"),
    Rule("GET on href returns the same customer", "swagger", "error",
         f"{_SWAGGER}: href is the customer's URL"),
    Rule("Filtered list is not empty", "tmf630", "error",
         "TMF630 Part 1: attribute filtering (?name=value)"),
    Rule("Filtered list holds only matching customers", "tmf630", "error",
         "TMF630 Part 1: attribute filtering (?name=value)"),
    Rule("Response has only the requested fields", "swagger", "error",
         f"{_SWAGGER}: fields, comma-separated properties to be provided in response"),
    Rule("PATCH response holds the change", "swagger", "error",
         f"{_SWAGGER}: PATCH updates partially and answers the Customer"),
    # -- folder X1 (strict/x1_checks) --
    Rule("A list answers 200 or 206 with a JSON array", "swagger", "error",
         f"{_SWAGGER}: 200 with an array of Customer (206: TMF630's partial page)"),
    Rule("A partial page is 206 Partial Content", "tmf630", "error",
         "TMF630 Part 1, pagination: 206 when only part of the collection is returned"),
    Rule("A complete page is 200 OK", "swagger", "error",
         f"{_SWAGGER}: 200 on GET /customer (206 is not documented there)"),
    Rule("A page holds at most limit customers", "swagger", "error",
         f"{_SWAGGER}: limit, requested number of resources"),
    Rule("X-Total-Count and X-Result-Count are present", "swagger", "error",
         f"{_SWAGGER}: both headers on the 200 of GET /customer"),
    Rule("X-Result-Count is the number returned", "swagger", "error",
         f"{_SWAGGER}: X-Result-Count, actual number of items returned"),
    Rule("X-Total-Count counts only the filtered customers", "swagger", "error",
         f"{_SWAGGER}: X-Total-Count, total number of items matching criteria"),
    Rule("Count headers are present and 0 for an empty result", "swagger", "error",
         f"{_SWAGGER}: both headers on the 200 of GET /customer"),
    Rule("Link header has first, next and last", "tmf630", "warning",
         "TMF630 Part 1, pagination example (RFC 8288 links)"),
    Rule("Link URLs keep the other query parameters", "harness", "warning",
         "the harness: a next page of a filtered list is of the same filter"),
    Rule("Operator filter .gte compares numbers", "tmf630", "error",
         "TMF630 Part 1: filter operators (.gt, .gte, .lt, .lte)"),
    Rule("Descending sort puts the newest first", "tmf630", "error",
         "TMF630 Part 1: sorting (?sort=-attribute)"),
    Rule("fields=none returns only id, href and @type", "tmf630", "error",
         "TMF630 Part 1: attribute selection, fields=none"),
    Rule("Merge patch is applied", "tmf630", "error",
         "TMF630 Part 1: PATCH in application/merge-patch+json (RFC 7386) is mandatory"),
    Rule("Merge patch is stored", "tmf630", "error",
         "TMF630 Part 1: PATCH in application/merge-patch+json (RFC 7386) is mandatory"),
    Rule("JSON Patch is applied", "tmf630", "warning",
         "TMF630 Part 1: PATCH in application/json-patch+json (RFC 6902) is optional"),
    Rule("JSON Patch is stored", "tmf630", "warning",
         "TMF630 Part 1: PATCH in application/json-patch+json (RFC 6902) is optional"),
    Rule("Unsupported PATCH media type is 415", "rfc", "warning",
         "RFC 5789 section 2.2: 415 for an unsupported patch document"),
    Rule("Invalid payload is 400", "swagger", "error",
         f"{_SWAGGER}: 400 Bad Request on POST /customer"),
    Rule("DELETE answers 204", "swagger", "error", f"{_SWAGGER}: 204 on DELETE /customer/{{id}}"),
    Rule("Deleted customer is 404", "swagger", "error",
         f"{_SWAGGER}: 404 on GET /customer/{{id}}"),
    # -- folder NT1 (notifications/checks) --
    Rule("Hub registration answers 201", "swagger", "error", f"{_SWAGGER}: 201 on POST /hub"),
    Rule("Subscription is a valid EventSubscription", "swagger", "error",
         f"{_SWAGGER}: the EventSubscription definition"),
    *(Rule(f"{event} received", "swagger", "error",
           f"{_SWAGGER}: the hub and the {event} listener") for event in EVENTS),
    *(Rule(f"Event is a valid {event}", "swagger", "error",
           f"{_SWAGGER}: the {event} definition") for event in EVENTS),
    Rule("Event carries eventId, eventTime, eventType and event.customer", "harness",
         "warning", "the harness: the event schemas require none of them; a consumer needs all"),
    *(Rule(f"Event carries the {what} customer", "harness", "error",
           "the harness: an event is about the customer that changed")
      for what in ("created", "patched", "deleted")),
    Rule("Events arrived in order", "harness", "warning",
         "the harness: no spec orders deliveries; consumers expect it"),
    Rule("Unregistration answers 204", "swagger", "error",
         f"{_SWAGGER}: 204 on DELETE /hub/{{id}}"),
    Rule("No event after unregistering", "swagger", "error",
         f"{_SWAGGER}: DELETE /hub/{{id}} unregisters the listener"),
    # -- --api v5: folders V5 and NT5 (v5/checks) --
    Rule("v5 create answers 201 or 202", "swagger", "error",
         f"{_OAS}: 201 (or 202 Accepted) on POST /customer"),
    Rule("v5 body is a valid Customer", "swagger", "error",
         f"{_OAS}: the Customer schema, each polymorphic item by its @type"),
    Rule("Every attribute is defined by its @type", "tmf630", "error",
         "TMF630 Part 2, extension pattern: attributes beyond the @type's schema come with "
         "a @schemaLocation"),
    Rule("v5 error body is an Error", "swagger", "error",
         f"{_OAS}: every 4xx/5xx answer is an Error (code, reason and @type required)"),
    Rule("v5 list answers 200 with an array of Customer", "swagger", "error",
         f"{_OAS}: 200 with an array of Customer on GET /customer"),
    Rule("v5 retrieve answers 200 with the customer", "swagger", "error",
         f"{_OAS}: 200 with the Customer on GET /customer/{{id}}"),
    Rule("v5 response has only the requested fields", "swagger", "error",
         f"{_OAS}: fields, comma-separated properties to be provided in response"),
    Rule("v5 PATCH answers 200 or 202", "swagger", "error",
         f"{_OAS}: 200 (or 202 Accepted) on PATCH /customer/{{id}}"),
    Rule("JSON Patch Query is applied", "tmf630", "warning",
         "TMF630 Part 5: PATCH in application/json-patch-query+json is optional"),
    Rule("v5 invalid payload is 400", "swagger", "error",
         f"{_OAS}: 400 Bad Request on POST /customer (Customer_FVO)"),
    Rule("v5 unknown id is 404", "swagger", "error", f"{_OAS}: 404 on GET /customer/{{id}}"),
    Rule("v5 DELETE answers 202 or 204", "swagger", "error",
         f"{_OAS}: 204 (or 202 Accepted) on DELETE /customer/{{id}}"),
    Rule("v5 hub registration answers 201", "swagger", "error", f"{_OAS}: 201 on POST /hub"),
    Rule("Subscription is a valid v5 Hub", "swagger", "error", f"{_OAS}: the Hub schema"),
    Rule("GET /hub/{id} returns the subscription", "swagger", "error",
         f"{_OAS}: 200 with the Hub on GET /hub/{{id}} (new in v5)"),
    *(Rule(f"v5 {event} received", "swagger", "error",
           f"{_OAS}: the hub and the {event} listener") for event in EVENTS),
    *(Rule(f"Event is a valid v5 {event}", "swagger", "error",
           f"{_OAS}: the {event} schema, each polymorphic item by its @type")
      for event in EVENTS),
    Rule("v5 event carries the envelope", "harness", "warning",
         "the harness: the v5 Event schema requires only @type; a consumer needs eventId, "
         "eventTime, eventType, event.customer, correlationId, domain, title, description, "
         "priority, timeOccurred, source and reportingSystem"),
    Rule("v5 unregistration answers 204", "swagger", "error",
         f"{_OAS}: 204 on DELETE /hub/{{id}}"),
)


def rule(name: str) -> Rule:
    """The rule called ``name``; a KeyError for a check that has no rule."""
    return RULES[name]


def judge(name: str, ok: bool, why: str = "") -> Assertion:
    """The strict assertion of rule ``name``; ``why`` is kept only when it failed."""
    found = RULES[name]
    return Assertion(name, ok, "" if ok else why, "strict", found.source, found.severity)


def skip(name: str, why: str) -> Assertion:
    """Rule ``name`` could not be judged: its subject is absent (never a pass)."""
    found = RULES[name]
    return Assertion(name, False, why, "strict", found.source, found.severity, skipped=True)


def parse_sources(text: str) -> tuple[Source, ...]:
    """``--rules swagger,rfc`` → the sources, in :data:`RULE_SOURCES` order."""
    wanted = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(wanted - set(RULE_SOURCES))
    if unknown or not wanted:
        raise ValueError(f"--rules takes a comma-separated list of {', '.join(RULE_SOURCES)}"
                         f"{'; unknown: ' + ', '.join(unknown) if unknown else ''}")
    return tuple(s for s in RULE_SOURCES if s in wanted)


def markdown_table() -> str:
    """The list of strict rules in docs/harness/index.md."""
    lines = ["| strict rule | source | severity | where |", "|---|---|---|---|"]
    lines += [f"| {r.name} | `{r.source}` | {r.severity} | {r.where} |" for r in RULES.values()]
    return "\n".join(lines)
