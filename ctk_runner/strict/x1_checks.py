"""The X1 folder's checks: TMF630 behaviours no build of the kit tests.

Real servers differ from the design guidelines in exactly these places:
pagination headers that ignore the filters, count headers dropped at zero,
operators and sorting silently ignored, PATCH that only knows
``application/json``. Each check is a small function that looks at one reply
and returns one ``kind="strict"`` :class:`Assertion` (its rule from
:mod:`ctk_runner.strict.rules`) whose message says what the target did. None
of them sends a request.

Paging is judged on the real numbers (:func:`page_is_partial`): 206 and a
``Link`` only for a page that holds part of the matching customers, 200 for
one that holds them all, and no verdict (skipped) when neither the total nor
the customers the run knows of can tell. A check whose subject is absent
(no list, fewer customers than it compares) is skipped or failed, never passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from requests.utils import parse_header_links

from ctk_runner.client import Reply
from ctk_runner.model import Assertion, summarize
from ctk_runner.strict.checks import ALWAYS_ALLOWED_FIELDS, display
from ctk_runner.strict.rules import judge, skip

PARTIAL_PAGE = "A partial page is 206 Partial Content"
COMPLETE_PAGE = "A complete page is 200 OK"
WITHIN_LIMIT = "A page holds at most limit customers"
COUNT_HEADERS = "X-Total-Count and X-Result-Count are present"
RESULT_COUNT = "X-Result-Count is the number returned"
LINK_HEADER = "Link header has first, next and last"
FILTERED_TOTAL = "X-Total-Count counts only the filtered customers"
LINK_KEEPS_QUERY = "Link URLs keep the other query parameters"
ZERO_COUNTS = "Count headers are present and 0 for an empty result"
OPERATOR_FILTER = "Operator filter .gte compares numbers"
SORT_ORDER = "Descending sort puts the newest first"
FIELDS_NONE = "fields=none returns only id, href and @type"
MERGE_PATCH_APPLIED = "Merge patch is applied"
JSON_PATCH_APPLIED = "JSON Patch is applied"
MERGE_PATCH_STORED = "Merge patch is stored"
JSON_PATCH_STORED = "JSON Patch is stored"
UNSUPPORTED_MEDIA_TYPE = "Unsupported PATCH media type is 415"
INVALID_PAYLOAD = "Invalid payload is 400"
DELETED = "DELETE answers 204"
GONE_AFTER_DELETE = "Deleted customer is 404"
#: The rule of a list request that did not answer a list (any page size).
LIST_ANSWERED = "A list answers 200 or 206 with a JSON array"


def _strict(name: str, ok: bool, why: str) -> Assertion:
    return judge(name, ok, why)


def answered(reply: Reply) -> str:
    """``answered 200 OK`` or why nothing came back, for messages."""
    if reply.status is None:
        return f"gave no response ({reply.error})"
    return f"answered {reply.status} {reply.reason}".rstrip()


def ids(items: Any) -> list[Any]:
    if not isinstance(items, list):
        return []
    return [item.get("id") if isinstance(item, Mapping) else None for item in items]


def count(reply: Reply, header: str) -> int | None:
    """A count header's value, when it is a non-negative integer."""
    value = reply.header(header)
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number >= 0 else None


def status_is(name: str, reply: Reply, expected: int, what: str) -> Assertion:
    """``what`` (e.g. "PATCH with text/plain") must be answered ``expected``."""
    return _strict(name, reply.status == expected, f"{what} {answered(reply)}, not {expected}")


def page_is_partial(total: int | None, returned: int, offset: int = 0,
                    known: int = 0) -> bool | None:
    """Whether a page holds only part of the matching customers; None: cannot tell.

    ``total`` is the target's X-Total-Count (None without a usable one); ``known``
    is how many matching customers the run knows exist (it created them).
    """
    if total is not None:
        return offset > 0 or offset + returned < max(total, known)
    if offset > 0 or known > offset + returned:
        return True
    return None


def not_a_list(reply: Reply, items: Any, what: str) -> str | None:
    """Why ``reply`` is not a list answer to judge (None: it is one)."""
    if reply.status is None or reply.status not in (200, 206):
        return f"{what} {answered(reply)}: there is no list to judge"
    if not isinstance(items, list):
        return f"{what} {answered(reply)} without a JSON array: there is no list to judge"
    return None


def list_refused(why: str, names: Sequence[str]) -> list[Assertion]:
    """A list request that did not answer a list: its status fails, the rest is skipped."""
    return [judge(LIST_ANSWERED, False, why), *(skip(name, why) for name in names)]


def page_status(reply: Reply, items: Any, partial: bool | None, what: str) -> Assertion:
    """206 for a partial page, 200 for a complete one; skipped when it cannot be told."""
    returned = len(ids(items))
    total = reply.header("X-Total-Count")
    if partial is None:
        return skip(PARTIAL_PAGE, f"{what} returned {returned} customers and no usable "
                    "X-Total-Count: whether the page is partial cannot be told")
    if partial:
        return _strict(PARTIAL_PAGE, reply.status == 206,
                       f"{what} {answered(reply)} with {returned} of "
                       f"{total if total is not None else 'more'} customers")
    return _strict(COMPLETE_PAGE, reply.status == 200,
                   f"{what} {answered(reply)} although its {returned} customers are all "
                   f"{total if total is not None else returned} that match")


def within_limit(items: Any, limit: int, what: str) -> Assertion:
    returned = len(ids(items))
    return _strict(WITHIN_LIMIT, returned <= limit,
                   f"{what} returned {returned} customers, more than limit={limit}")


def count_headers(reply: Reply) -> Assertion:
    problems = []
    for header in ("X-Total-Count", "X-Result-Count"):
        raw = reply.header(header)
        if raw is None:
            problems.append(f"no {header} header")
        elif count(reply, header) is None:
            problems.append(f"{header} is {summarize(raw, 40)!r}, not a count")
    return _strict(COUNT_HEADERS, not problems, "; ".join(problems))


def result_count(reply: Reply, items: Any) -> Assertion:
    if reply.header("X-Result-Count") is None:
        return skip(RESULT_COUNT, "the response has no X-Result-Count header")
    returned = len(ids(items))
    return _strict(RESULT_COUNT, count(reply, "X-Result-Count") == returned,
                   f"{_header_text(reply, 'X-Result-Count')}, "
                   f"the body holds {returned} customers")


def _header_text(reply: Reply, name: str) -> str:
    value = reply.header(name)
    return f"the response has no {name} header" if value is None else f"{name} is {value}"


def _links(reply: Reply) -> dict[str, str]:
    raw = reply.header("Link")
    if not raw:
        return {}
    return {str(link.get("rel")): link.get("url", "") for link in parse_header_links(raw)}


def link_header(reply: Reply, partial: bool | None,
                rels: Sequence[str] = ("first", "next", "last")) -> Assertion:
    if not partial:
        return skip(LINK_HEADER, _no_next_page(partial))
    found = _links(reply)
    missing = [rel for rel in rels if not found.get(rel)]
    why = "the response has no Link header" if not reply.header("Link") else (
        f"Link has {', '.join(sorted(found)) or 'no rel'} but no {', '.join(missing)}")
    return _strict(LINK_HEADER, not missing, why)


def _no_next_page(partial: bool | None) -> str:
    if partial is None:
        return "whether the page is partial cannot be told, so no Link is required"
    return "the page holds every matching customer: there is no next page to link"


def filtered_total(reply: Reply, expected: int, what: str) -> Assertion:
    """X-Total-Count of a filter that matches exactly the ``expected`` customers the run made."""
    if expected < 1:
        return skip(FILTERED_TOTAL, f"no customer matching {what} exists to count")
    total = count(reply, "X-Total-Count")
    noun = "customer" if expected == 1 else "customers"
    why = (f"{_header_text(reply, 'X-Total-Count')} for {what}, which "
           f"matches the {expected} {noun} this run created")
    return _strict(FILTERED_TOTAL, total == expected, why)


def link_keeps_query(reply: Reply, params: Mapping[str, str],
                     partial: bool | None) -> Assertion:
    if not partial:
        return skip(LINK_KEEPS_QUERY, _no_next_page(partial))
    links = _links(reply)
    if not links:
        return _strict(LINK_KEEPS_QUERY, False, "the response has no Link header")
    lost = []
    for rel, url in links.items():
        query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        lost += [f"{rel} lacks {k}={summarize(v, 40)}" for k, v in params.items()
                 if query.get(k) != v]
    return _strict(LINK_KEEPS_QUERY, not lost, "; ".join(lost[:3]))


def zero_counts(reply: Reply, items: Any) -> Assertion:
    problems = []
    if reply.status != 200:
        problems.append(answered(reply))
    if items != []:
        problems.append(f"the body is {summarize(display(items), 60)}, not []")
    for header in ("X-Total-Count", "X-Result-Count"):
        value = reply.header(header)
        if value != "0":
            problems.append(f"no {header} header" if value is None else f"{header} is {value}")
    return _strict(ZERO_COUNTS, not problems, "; ".join(problems))


def selects_exactly(name: str, reply: Reply, items: Any, expected: Sequence[Any],
                    what: str) -> Assertion:
    """``what`` must return exactly the customers ``expected`` (ids, any order)."""
    if not expected:
        return skip(name, f"no customer {what} should select exists")
    got = ids(items)
    ok = reply.status in (200, 206) and sorted(map(str, got)) == sorted(map(str, expected))
    why = (f"{what} {answered(reply)} with {len(got)} customers "
           f"({', '.join(map(str, got[:4]))}{'...' if len(got) > 4 else ''}), "
           f"expected only {', '.join(map(str, expected))}")
    return _strict(name, ok, why)


def in_order(name: str, reply: Reply, items: Any, expected: Sequence[Any],
             what: str) -> Assertion:
    """Among the returned customers, ``expected`` (ids) come in this order."""
    if len(expected) < 2:
        return skip(name, f"{what} needs two customers to order; {len(expected)} exist")
    returned = ids(items)
    missing = [str(i) for i in expected if i not in returned]
    if reply.status not in (200, 206) or missing:
        absent = f" without {', '.join(missing)}" if missing else ""
        return _strict(name, False, f"{what} {answered(reply)}{absent}")
    got = [i for i in returned if i in expected]
    why = (f"{what} returned them in the order {', '.join(map(str, got))}, "
           f"expected {', '.join(map(str, expected))}")
    return _strict(name, got == list(expected), why)


def fields_none(reply: Reply, instance: Any) -> Assertion:
    if not isinstance(instance, Mapping):
        return _strict(FIELDS_NONE, False, f"{answered(reply)} without a JSON object")
    extra = sorted(set(instance) - ALWAYS_ALLOWED_FIELDS)
    why = f"the customer carries {', '.join(extra[:8])}" if extra else "the customer has no id"
    return _strict(FIELDS_NONE, not extra and "id" in instance, why)


def has_value(name: str, reply: Reply, instance: Any, attribute: str, value: Any,
              what: str) -> Assertion:
    """``what`` must answer 200 with ``attribute`` = ``value`` in the customer."""
    if reply.status != 200:
        return _strict(name, False, f"{what} {answered(reply)}")
    actual = instance.get(attribute) if isinstance(instance, Mapping) else None
    why = (f"{what} answered a customer whose {attribute} is "
           f"{summarize(display(actual), 60)}, not {summarize(display(value), 60)}")
    return _strict(name, actual == value, why)
