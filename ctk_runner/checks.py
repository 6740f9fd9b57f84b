"""The checks, as small named functions returning :class:`Assertion` records.

Kit checks carry the names the CTK prints in its Newman report, so a run of
this harness and a run of the kit can be compared row by row. Value checks
and the "not expected" checks are ``kind="value"``: the Postman kit writes
them so they can never fail, here they are evaluated for real and the profile
decides whether a mismatch is a warning (``ctk``) or a failure (``strict``).
Strict checks (``kind="strict"``) cover what no build of the kit checks.

No function here sends a request or raises on a bad target: a check only
looks at what it is given and says what it found.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urljoin

from ctk_runner.client import Reply
from ctk_runner.model import Assertion, summarize
from ctk_runner.scenarios import (
    BODY_INCLUDES_ATTRIBUTES,
    MANDATORY_ATTRIBUTES,
    STRING_ATTRIBUTES,
    VALUE_ATTRIBUTES,
)

# Strict check names, chosen to read as statements in the report.
LOCATION_EQUALS_HREF = "Location header equals href"
SAME_CUSTOMER_ON_HREF = "GET on href returns the same customer"
FILTER_NOT_EMPTY = "Filtered list is not empty"
FILTER_ONLY_MATCHING = "Filtered list holds only matching customers"
ONLY_REQUESTED_FIELDS = "Response has only the requested fields"
VALID_CUSTOMER = "Response body is a valid Customer"
TMF_ERROR = "Error body is a TMF Error"

#: Attributes a ``fields=`` response may carry besides the requested one.
ALWAYS_ALLOWED_FIELDS = frozenset({"id", "href", "@type"})


def display(value: Any) -> str:
    """Render a held value the way it appears in a value check's name."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def label(instance: Any) -> str:
    """Name an instance in a message by its id, when it has one."""
    if isinstance(instance, Mapping) and isinstance(instance.get("id"), (str, int)):
        return f"customer {instance['id']}"
    return "the instance"


# -- kit checks -----------------------------------------------------------------


def status_code(reply: Reply, expected: int) -> Assertion:
    name = f"Status code is {expected}"
    if reply.status is None:
        return Assertion(name, False, f"no response: {reply.error}")
    message = "" if reply.status == expected else (
        f"expected {expected}, got {reply.status} {reply.reason}".rstrip()
    )
    return Assertion(name, reply.status == expected, message)


def json_shape(value: Any, parse_error: str | None, expected: type) -> Assertion | None:
    """A failing assertion when the body is not the JSON the kit's script reads.

    The kit's script would throw there; recording it as an assertion keeps the
    reason in the per-request table. Nothing is recorded when the shape is right,
    so conformant runs keep the kit's counts.
    """
    kind = "object" if expected is dict else "array"
    if parse_error is None and isinstance(value, expected):
        return None
    reason = parse_error or f"the response body is a JSON {type(value).__name__}, not an {kind}"
    return Assertion(f"Response body is a JSON {kind}", False, reason)


def mandatory_block(instance: Any, text: str) -> list[Assertion]:
    """The kit's eight attribute tests, run once per returned instance."""
    obj: Mapping[str, Any] = instance if isinstance(instance, Mapping) else {}
    who = label(instance)
    missing = [a for a in MANDATORY_ATTRIBUTES if a not in obj]
    results = [
        Assertion(
            "Instance has all mandatory attributes",
            not missing,
            f"{who} lacks {', '.join(missing)}" if missing else "",
        )
    ]
    for attribute in STRING_ATTRIBUTES:
        value = obj.get(attribute)
        ok = isinstance(value, str)
        if attribute not in obj:
            why = f"{who} has no {attribute}"
        else:
            why = f"{who} has {attribute} = {summarize(display(value))}, not a string"
        results.append(Assertion(f"Response has {attribute} attribute", ok, "" if ok else why))
    for attribute in BODY_INCLUDES_ATTRIBUTES:
        value = obj.get(attribute)
        ok = value is not None and body_includes(text, value)
        why = (
            f"{who} has no {attribute}" if value is None
            else f"the response text does not contain {summarize(display(value))}"
        )
        results.append(
            Assertion(f"Body includes value held on {attribute}", ok, "" if ok else why)
        )
    return results


def body_includes(text: str, value: Any) -> bool:
    """Whether the raw response text contains a value.

    Strings are searched as they are and in their JSON-escaped form, since a
    server may legitimately escape ``/`` or non-ASCII letters.
    """
    if isinstance(value, str):
        escaped = json.dumps(value)[1:-1]
        return value in text or escaped in text or escaped.replace("/", "\\/") in text
    return json.dumps(value) in text or display(value) in text


def value_checks(instance: Any, held: Mapping[str, Any]) -> list[Assertion]:
    """The 15 "<attribute> is <held value>" checks for one created customer."""
    obj: Mapping[str, Any] = instance if isinstance(instance, Mapping) else {}
    results = []
    for attribute in VALUE_ATTRIBUTES:
        expected, actual = held.get(attribute), obj.get(attribute)
        ok = actual == expected
        why = "" if ok else (
            f"{label(instance)} has {attribute} = {summarize(display(actual))}, "
            f"but the create response held {summarize(display(expected))}"
        )
        results.append(Assertion(f"{attribute} is {display(expected)}", ok, why, kind="value"))
    return results


def not_expected(other: str, instance: Any, attribute: str, value: Any) -> Assertion:
    """``IDCUnn not expected on this test``: the other created customer showed up.

    Its presence is only legitimate when it matches the filter too (both
    customers may share a name, or a server may use one href for all).
    """
    obj: Mapping[str, Any] = instance if isinstance(instance, Mapping) else {}
    ok = matches(obj, attribute, value)
    if ok:
        why = ""
    elif attribute == "id":
        why = f"{label(instance)} (ID{other}) is in the result of the filter id={value}"
    else:
        why = (
            f"{label(instance)} (ID{other}) is in the result although its {attribute} "
            f"is {summarize(display(obj.get(attribute)))}, not {summarize(display(value))}"
        )
    return Assertion(f"ID{other} not expected on this test", ok, why, kind="value")


def matches(instance: Mapping[str, Any], attribute: str, value: Any) -> bool:
    actual = instance.get(attribute)
    return actual is not None and str(actual) == str(value)


# -- strict checks -------------------------------------------------------------


def location_equals_href(reply: Reply, instance: Any) -> Assertion:
    location = reply.header("Location")
    href = instance.get("href") if isinstance(instance, Mapping) else None
    if not location:
        return Assertion(LOCATION_EQUALS_HREF, False, "the response has no Location header",
                         "strict")
    if not isinstance(href, str):
        return Assertion(LOCATION_EQUALS_HREF, False, "the response has no string href",
                         "strict")
    # A relative Location is legal HTTP; compare what both resolve to.
    ok = urljoin(reply.url, location) == urljoin(reply.url, href)
    why = "" if ok else f"Location is {location}, href is {href}"
    return Assertion(LOCATION_EQUALS_HREF, ok, why, "strict")


def same_customer(reply: Reply | None, instance: Any) -> Assertion:
    """Judge the reply to ``GET href`` against the customer that was created."""
    if reply is None:
        return Assertion(SAME_CUSTOMER_ON_HREF, False, "the create response has no string href",
                         "strict")
    if reply.status != 200:
        got = reply.error or f"HTTP {reply.status} {reply.reason}".rstrip()
        return Assertion(SAME_CUSTOMER_ON_HREF, False, f"GET {reply.url} answered {got}",
                         "strict")
    try:
        fetched = json.loads(reply.text)
    except ValueError:
        return Assertion(SAME_CUSTOMER_ON_HREF, False, f"GET {reply.url} did not answer JSON",
                         "strict")
    created: Mapping[str, Any] = instance if isinstance(instance, Mapping) else {}
    fetched_obj: Mapping[str, Any] = fetched if isinstance(fetched, Mapping) else {}
    differing = [a for a in ("id", "href", "name") if fetched_obj.get(a) != created.get(a)]
    why = "" if not differing else (
        f"GET {reply.url} returned a customer whose {', '.join(differing)} differ"
    )
    return Assertion(SAME_CUSTOMER_ON_HREF, not differing, why, "strict")


def filtered_not_empty(instances: Sequence[Any], attribute: str, value: Any) -> Assertion:
    ok = len(instances) > 0
    why = "" if ok else f"no customer returned for {attribute}={summarize(display(value))}"
    return Assertion(FILTER_NOT_EMPTY, ok, why, "strict")


def filtered_only_matching(instances: Sequence[Any], attribute: str, value: Any) -> Assertion:
    strays = [
        i for i in instances if not (isinstance(i, Mapping) and matches(i, attribute, value))
    ]
    why = "" if not strays else (
        f"{len(strays)} of {len(instances)} returned customers do not have "
        f"{attribute} = {summarize(display(value))} (first: {label(strays[0])})"
    )
    return Assertion(FILTER_ONLY_MATCHING, not strays, why, "strict")


def only_requested_fields(instances: Sequence[Any], attribute: str) -> Assertion:
    allowed = ALWAYS_ALLOWED_FIELDS | {attribute}
    extras: set[str] = set()
    offenders = 0
    for instance in instances:
        if isinstance(instance, Mapping):
            extra = set(instance) - allowed
            if extra:
                offenders += 1
                extras |= extra
    why = "" if not extras else (
        f"{offenders} of {len(instances)} customers carry unrequested attributes "
        f"({', '.join(sorted(extras)[:8])})"
    )
    return Assertion(ONLY_REQUESTED_FIELDS, not extras, why, "strict")


def valid_customer(instances: Iterable[Any], *, partial: bool = False) -> Assertion:
    """Validate each instance against the Customer schema.

    ``partial`` is for ``fields=`` responses, which legitimately omit required
    attributes: only the types and formats of what is present are checked.
    """
    import schemas  # imported here so a run without strict checks never needs it

    validator = schemas.validator("Customer")
    problems: list[str] = []
    for instance in instances:
        for error in validator.iter_errors(instance):
            if partial and error.validator == "required" and not error.path:
                continue
            where = "/" + "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{label(instance)}: {where}: {summarize(error.message, 120)}")
    why = "" if not problems else "; ".join(problems[:3]) + (
        f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    )
    return Assertion(VALID_CUSTOMER, not problems, why, "strict")


def tmf_error(reply: Reply) -> Assertion:
    import schemas

    try:
        body = json.loads(reply.text)
    except ValueError:
        return Assertion(TMF_ERROR, False, "the response body is not JSON", "strict")
    problems = [
        f"/{'/'.join(str(p) for p in e.absolute_path)}: {summarize(e.message, 120)}"
        for e in schemas.validator("Error").iter_errors(body)
    ]
    return Assertion(TMF_ERROR, not problems, "; ".join(problems[:3]), "strict")
