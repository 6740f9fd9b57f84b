"""The strict profile's checks: what the spec requires beyond the kit.

The kit's own tests live in :mod:`ctk_runner.kit.script` (they follow its
scripts, quirks included). These checks (``kind="strict"``) cover what no
build of the kit checks or checks only loosely: the body is JSON of the right
shape (a retrieve returns an object, a list an array), Location equals href,
a filter returns what matches, a PATCH applies, the body is a valid Customer,
an error is a TMF Error.

No function here sends a request or raises on a bad target: a check only
looks at what it is given and says what it found. Each assertion comes from
:mod:`ctk_runner.strict.rules` (its source and severity); one whose subject is
absent (an empty list to judge) is skipped, never passed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urljoin

from ctk_runner.client import Reply, decode_json, same_origin
from ctk_runner.kit.js import describe
from ctk_runner.model import Assertion, summarize
from ctk_runner.strict.rules import judge, skip

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
NO_BOM = "JSON body has no byte order mark"
HREF_AT_TARGET = "href points at the target"

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
    """``Status code is <expected>``, a strict rule (the kit's own is in kit/script)."""
    name = f"Status code is {expected}"
    if reply.status is None:
        return judge(name, False, f"no response: {reply.error}")
    why = f"expected {expected}, got {reply.status} {reply.reason}".rstrip()
    return judge(name, reply.status == expected, why)


def matches(instance: Mapping[str, Any], attribute: str, value: Any) -> bool:
    actual = instance.get(attribute)
    return actual is not None and str(actual) == str(value)


# -- strict checks -------------------------------------------------------------


def location_equals_href(reply: Reply, instance: Any) -> Assertion:
    location = reply.header("Location")
    href = instance.get("href") if isinstance(instance, Mapping) else None
    if not location:
        return judge(LOCATION_EQUALS_HREF, False, "the response has no Location header")
    if not isinstance(href, str):
        return judge(LOCATION_EQUALS_HREF, False, "the response has no string href")
    # A relative Location is legal HTTP; compare what both resolve to.
    ok = urljoin(reply.url, location) == urljoin(reply.url, href)
    return judge(LOCATION_EQUALS_HREF, ok, f"Location is {location}, href is {href}")


def href_at_target(href: str, target: str) -> Assertion:
    """An ``href`` (resolved) must name the target's origin, or it is not followed."""
    return judge(HREF_AT_TARGET, same_origin(href, target),
                 f"href points outside the target: {summarize(href, 200)} is not on {target}")


def same_customer(reply: Reply | None, instance: Any) -> Assertion:
    """Judge the reply to ``GET href`` against the customer that was created."""
    if reply is None:
        return judge(SAME_CUSTOMER_ON_HREF, False, "the create response has no string href")
    if reply.status != 200:
        got = reply.error or f"HTTP {reply.status} {reply.reason}".rstrip()
        return judge(SAME_CUSTOMER_ON_HREF, False, f"GET {reply.url} answered {got}")
    fetched, problem = decode_json(reply.text)
    if problem is not None:
        return judge(SAME_CUSTOMER_ON_HREF, False, f"GET {reply.url} did not answer JSON")
    created: Mapping[str, Any] = instance if isinstance(instance, Mapping) else {}
    fetched_obj: Mapping[str, Any] = fetched if isinstance(fetched, Mapping) else {}
    differing = [a for a in ("id", "href", "name") if fetched_obj.get(a) != created.get(a)]
    why = f"GET {reply.url} returned a customer whose {', '.join(differing)} differ"
    return judge(SAME_CUSTOMER_ON_HREF, not differing, why)


def filtered_not_empty(instances: Sequence[Any], attribute: str, value: Any) -> Assertion:
    return judge(FILTER_NOT_EMPTY, len(instances) > 0,
                 f"no customer returned for {attribute}={summarize(display(value))}")


def filtered_only_matching(instances: Sequence[Any], attribute: str, value: Any) -> Assertion:
    if not instances:
        return skip(FILTER_ONLY_MATCHING, "the filtered list is empty: nothing to judge")
    strays = [
        i for i in instances if not (isinstance(i, Mapping) and matches(i, attribute, value))
    ]
    why = "" if not strays else (
        f"{len(strays)} of {len(instances)} returned customers do not have "
        f"{attribute} = {summarize(display(value))} (first: {label(strays[0])})"
    )
    return judge(FILTER_ONLY_MATCHING, not strays, why)


def only_requested_fields(instances: Sequence[Any], attribute: str) -> Assertion:
    if not instances:
        return skip(ONLY_REQUESTED_FIELDS, "the list is empty: no customer to judge")
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
    return judge(ONLY_REQUESTED_FIELDS, not extras, why)


def valid_customer(instances: Iterable[Any], *, partial: bool = False) -> Assertion:
    """Validate each instance against the Customer schema.

    ``partial`` is for ``fields=`` responses, which legitimately omit required
    attributes: only the types and formats of what is present are checked.
    """
    import schemas  # imported here so a run without strict checks never needs it

    validator = schemas.validator("Customer")
    problems: list[str] = []
    judged = list(instances)
    if not judged:
        return skip(VALID_CUSTOMER, "the list is empty: no customer to validate")
    for instance in judged:
        for error in validator.iter_errors(instance):
            if partial and error.validator == "required" and not error.path:
                continue
            where = "/" + "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{label(instance)}: {where}: {summarize(error.message, 120)}")
    why = "" if not problems else "; ".join(problems[:3]) + (
        f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    )
    return judge(VALID_CUSTOMER, not problems, why)


def tmf_error(reply: Reply) -> Assertion:
    import schemas

    if reply.status is None:
        return skip(TMF_ERROR, f"no response to judge ({reply.error})")
    body, problem = decode_json(reply.text)
    if problem is not None:
        return judge(TMF_ERROR, False, problem)
    problems = [
        f"/{'/'.join(str(p) for p in e.absolute_path)}: {summarize(e.message, 120)}"
        for e in schemas.validator("Error").iter_errors(body)
    ]
    return judge(TMF_ERROR, not problems, "; ".join(problems[:3]))


def no_byte_order_mark(reply: Reply) -> Assertion:
    """The JSON text starts without U+FEFF (the kit's Postman strips one and reads on)."""
    return judge(NO_BOM, not reply.bom,
                 "the response body starts with a UTF-8 byte order mark (EF BB BF)")


def body_shape(reply: Reply, expected: type) -> tuple[Any, Assertion | None]:
    """The decoded body, and a failing check when it is not the JSON the spec says."""
    name = BODY_IS_OBJECT if expected is dict else BODY_IS_ARRAY
    value, problem = decode_json(reply.text)
    if problem is not None:
        return None, judge(name, False, problem)
    if not isinstance(value, expected):
        wanted = "a JSON object" if expected is dict else "a JSON array"
        return value, judge(name, False, f"expected {wanted}, got {describe(value)}")
    return value, None


def patch_applied(instance: Mapping[str, Any], change: Mapping[str, Any]) -> Assertion:
    differing = [k for k, v in change.items() if instance.get(k) != v]
    why = "" if not differing else "; ".join(
        f"{k} is {summarize(display(instance.get(k)), 80)}, the PATCH sent "
        f"{summarize(display(change[k]), 80)}" for k in differing)
    return judge(PATCH_APPLIED, not differing, why)
