"""The strict profile's checks: what the spec requires beyond the kit.

The kit's own tests live in :mod:`ctk_runner.kit.script` (they follow its
scripts, quirks included). These checks (``kind="strict"``) cover what no
build of the kit checks or checks only loosely: the body is JSON of the right
shape (a retrieve returns an object, a list an array), Location equals href,
a filter returns what matches, a PATCH applies, the body is a valid Customer,
an error is a TMF Error.

No function here sends a request or raises on a bad target: a check only
looks at what it is given and says what it found.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urljoin

from ctk_runner.client import Reply, decode_json
from ctk_runner.kit.js import describe
from ctk_runner.model import Assertion, summarize

# Strict check names, chosen to read as statements in the report.
LOCATION_EQUALS_HREF = "Location header equals href"
SAME_CUSTOMER_ON_HREF = "GET on href returns the same customer"
FILTER_NOT_EMPTY = "Filtered list is not empty"
FILTER_ONLY_MATCHING = "Filtered list holds only matching customers"
ONLY_REQUESTED_FIELDS = "Response has only the requested fields"
VALID_CUSTOMER = "Response body is a valid Customer"
TMF_ERROR = "Error body is a TMF Error"
BODY_IS_OBJECT = "Response body is a JSON object"
BODY_IS_ARRAY = "Response body is a JSON array"
PATCH_APPLIED = "PATCH response holds the change"

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


# -- shared --------------------------------------------------------------------


def status_code(reply: Reply, expected: int) -> Assertion:
    name = f"Status code is {expected}"
    if reply.status is None:
        return Assertion(name, False, f"no response: {reply.error}")
    message = "" if reply.status == expected else (
        f"expected {expected}, got {reply.status} {reply.reason}".rstrip()
    )
    return Assertion(name, reply.status == expected, message)


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


def body_shape(reply: Reply, expected: type) -> tuple[Any, Assertion | None]:
    """The decoded body, and a failing check when it is not the JSON the spec says."""
    name = BODY_IS_OBJECT if expected is dict else BODY_IS_ARRAY
    value, problem = decode_json(reply.text)
    if problem is not None:
        return None, Assertion(name, False, problem, "strict")
    if not isinstance(value, expected):
        wanted = "a JSON object" if expected is dict else "a JSON array"
        return value, Assertion(name, False, f"expected {wanted}, got {describe(value)}",
                                "strict")
    return value, None


def patch_applied(instance: Mapping[str, Any], change: Mapping[str, Any]) -> Assertion:
    differing = [k for k, v in change.items() if instance.get(k) != v]
    why = "" if not differing else "; ".join(
        f"{k} is {summarize(display(instance.get(k)), 80)}, the PATCH sent "
        f"{summarize(display(change[k]), 80)}" for k in differing)
    return Assertion(PATCH_APPLIED, not differing, why, "strict")
