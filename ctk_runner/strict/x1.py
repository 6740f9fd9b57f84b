"""X1, the TMF630 folder: paging, totals, operators, sorting, fields, PATCH types, DELETE.

Runs in the ``strict`` profile only, after the kit's folders (N1, N2, E1) and
in a folder of its own, so the kit's part of the report stays comparable with
a Newman run of the kit. It creates two customers that share a run tag as
their name (so its queries see only them), works on them, and deletes them at
the end; a customer it could not delete in a recorded step is deleted,
unrecorded, before the folder ends.

Its requests are numbered 16 to 32, after the kit's 15; each is one
:class:`~ctk_runner.model.Execution` with ``kind="strict"`` assertions from
:mod:`ctk_runner.strict.x1_checks`. Each request is a :class:`Step` that declares
what it needs (a created customer, both of them, a deleted one) and which rules
it may report: when a prerequisite is missing it is not sent but recorded as
skipped with the reason, so no request carries an unresolved ``{{VARIABLE}}``
and no check judges an answer to a request that should not have been made; a
step none of whose rules ``--rules`` selected is not sent at all (creates and
deletes always are).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ctk_runner.client import Reply, decode_json
from ctk_runner.model import Assertion, Execution
from ctk_runner.runner import CtkSession
from ctk_runner.scenarios import NOT_FOUND_ID, Scenario
from ctk_runner.strict import checks
from ctk_runner.strict import x1_checks as x1
from ctk_runner.strict.rules import rule
from ctk_runner.strict.x1_checks import answered

FOLDER = "X1"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
UNSUPPORTED = "text/plain"

# Credit scores chosen so that comparing them as text gives the wrong answer
# ("95" >= "700"), and start dates so that the newer customer is created last.
OLDER = ("2023-01-01T00:00:00Z", 95)
NEWER = ("2024-06-01T00:00:00Z", 750)


def _step(number: int, name: str, description: str, method: str, status: int,
          template: str) -> Scenario:
    return Scenario(number, FOLDER, name, description, method, "tmf630", status, template)


_ONE = "/customer/{{IDX1A}}"
CREATE_A = _step(16, "/customer", "This operation creates a customer for the TMF630 checks "
                 "(credit score 95, valid from 2023)", "POST", 201, "customer")
CREATE_B = _step(17, "/customer", "This operation creates another one with the same name "
                 "(credit score 750, valid from 2024)", "POST", 201, "customer")
PAGE = _step(18, "/customer?limit=1", "A page of one customer: 206 with count headers and a "
             "Link header when the collection holds more, 200 when it is all", "GET", 206,
             "customer?limit=1")
FILTERED_PAGE = _step(19, "/customer?name={{NAMEX1}}&limit=1", "Totals count the filtered "
                      "customers and Link keeps the filter", "GET", 206,
                      "customer?name={{NAMEX1}}&limit=1")
FULL_PAGE = _step(20, "/customer?name={{NAMEX1}}&limit=50", "A page larger than the filtered "
                  "collection holds all of it: 200", "GET", 200,
                  "customer?name={{NAMEX1}}&limit=50")
EMPTY = _step(21, "/customer?id=404ID", "An empty result still carries both count headers",
              "GET", 200, f"customer?id={NOT_FOUND_ID}")
OPERATOR = _step(22, "/customer?name={{NAMEX1}}&creditProfile.creditScore.gte=700",
                 "An operator filter compares numbers as numbers", "GET", 200,
                 "customer?name={{NAMEX1}}&creditProfile.creditScore.gte=700")
SORT = _step(23, "/customer?name={{NAMEX1}}&sort=-validFor.startDateTime",
             "A descending sort on a date-time puts the newest first", "GET", 200,
             "customer?name={{NAMEX1}}&sort=-validFor.startDateTime")
FIELDS = _step(24, _ONE + "?fields=none", "fields=none keeps only id, href and @type", "GET",
               200, "customer/{{IDX1A}}?fields=none")
MERGE = _step(25, _ONE, f"This operation patches the customer in {MERGE_PATCH}", "PATCH", 200,
              "customer/{{IDX1A}}")
JSON = _step(26, _ONE, f"This operation patches the customer in {JSON_PATCH}", "PATCH", 200,
             "customer/{{IDX1A}}")
READ_BACK = _step(27, _ONE, "Both patches are stored", "GET", 200, "customer/{{IDX1A}}")
REFUSED = _step(28, _ONE, f"A PATCH in {UNSUPPORTED} is refused with 415", "PATCH", 415,
                "customer/{{IDX1A}}")
INVALID = _step(29, "/customer", "An invalid payload is refused with 400 and a TMF Error",
                "POST", 400, "customer")
DELETE_A = _step(30, _ONE, "This operation deletes the customer", "DELETE", 204,
                 "customer/{{IDX1A}}")
GONE = _step(31, _ONE, "The deleted customer is 404", "GET", 404, "customer/{{IDX1A}}")
DELETE_B = _step(32, "/customer/{{IDX1B}}", "This operation deletes the other customer",
                 "DELETE", 204, "customer/{{IDX1B}}")

SCENARIOS: tuple[Scenario, ...] = (CREATE_A, CREATE_B, PAGE, FILTERED_PAGE, FULL_PAGE, EMPTY,
                                   OPERATOR, SORT, FIELDS, MERGE, JSON, READ_BACK, REFUSED,
                                   INVALID, DELETE_A, GONE, DELETE_B)

#: What a step needs before it may be sent: facts the folder establishes as it goes.
#: ``IDX1A``/``IDX1B``: customer A/B was created (their ids are in the URLs);
#: ``X1ANY``: at least one was; ``X1BOTH``: both were; ``X1DELETED``: A was deleted.
FACTS: dict[str, str] = {
    "IDX1A": "customer A (request 16)",
    "IDX1B": "customer B (request 17)",
    "X1ANY": "at least one customer of this folder, to filter on",
    "X1BOTH": "both customers of this folder (request 16 and 17), to compare",
    "X1DELETED": "customer A deleted (request 30)",
}


@dataclass(frozen=True)
class Step:
    """One X1 request as data: what it needs, and the rules it may report."""

    scenario: Scenario
    needs: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    #: Creates and deletes are sent whatever ``--rules`` selects (others depend on them).
    setup: bool = False

    def selected(self, sources: Sequence[str]) -> bool:
        return self.setup or any(rule(name).source in sources for name in self.rules)


_PAGE_RULES = (x1.LIST_ANSWERED, x1.PARTIAL_PAGE, x1.COMPLETE_PAGE, x1.WITHIN_LIMIT)
STEPS: dict[int, Step] = {step.scenario.number: step for step in (
    Step(CREATE_A, (), ("Status code is 201",), setup=True),
    Step(CREATE_B, (), ("Status code is 201",), setup=True),
    Step(PAGE, (), (*_PAGE_RULES, x1.COUNT_HEADERS, x1.RESULT_COUNT, x1.LINK_HEADER)),
    Step(FILTERED_PAGE, ("X1ANY",), (*_PAGE_RULES, x1.FILTERED_TOTAL, x1.LINK_KEEPS_QUERY)),
    Step(FULL_PAGE, ("X1ANY",), (*_PAGE_RULES, x1.FILTERED_TOTAL, x1.RESULT_COUNT)),
    Step(EMPTY, (), (x1.ZERO_COUNTS,)),
    Step(OPERATOR, ("X1BOTH",), (x1.OPERATOR_FILTER,)),
    Step(SORT, ("X1BOTH",), (x1.SORT_ORDER,)),
    Step(FIELDS, ("IDX1A",), (x1.FIELDS_NONE,)),
    Step(MERGE, ("IDX1A",), (x1.MERGE_PATCH_APPLIED,)),
    Step(JSON, ("IDX1A",), (x1.JSON_PATCH_APPLIED,)),
    Step(READ_BACK, ("IDX1A",), (x1.MERGE_PATCH_STORED, x1.JSON_PATCH_STORED)),
    Step(REFUSED, ("IDX1A",), (x1.UNSUPPORTED_MEDIA_TYPE,)),
    Step(INVALID, (), (x1.INVALID_PAYLOAD, checks.TMF_ERROR)),
    Step(DELETE_A, ("IDX1A",), (x1.DELETED,), setup=True),
    Step(GONE, ("IDX1A", "X1DELETED"), (x1.GONE_AFTER_DELETE, checks.TMF_ERROR)),
    Step(DELETE_B, ("IDX1B",), (x1.DELETED,), setup=True),
)}


def payload(base: Mapping[str, Any], name: str, start: str, score: int) -> dict[str, Any]:
    """The run's create body, renamed and given a start date and a credit score."""
    return {
        **base,
        "name": name,
        "validFor": {"startDateTime": start},
        "creditProfile": [{"creditProfileDate": start, "creditScore": score,
                           "validFor": {"startDateTime": start}}],
    }


class X1Folder:
    """Runs X1 against the session's target and records its executions."""

    def __init__(self, session: CtkSession, tag: str | None = None) -> None:
        self.session = session
        self.tag = tag or f"CTK X1 {uuid.uuid4().hex[:8]}"
        self.variables: dict[str, Any] = {"NAMEX1": self.tag}
        #: Facts (see :data:`FACTS`) that could not be established, and why.
        self.unmet: dict[str, str] = {}
        #: Customers this folder created and has not seen deleted.
        self.leftovers: list[str] = []

    def run(self) -> list[Execution]:
        start = len(self.session.run.executions)
        try:
            self._flow()
        finally:
            for ident in self.leftovers:  # best effort, unrecorded
                url = self.session.settings.target_url + "customer/" + quote(ident, safe="")
                self.session.client.send("DELETE", url)
        return self.session.run.executions[start:]

    @property
    def created(self) -> list[str]:
        """The ids of this folder's customers that exist, oldest first (A, then B)."""
        return [str(self.variables[v]) for v in ("IDX1A", "IDX1B") if v in self.variables]

    def _flow(self) -> None:
        base = self.session.settings.payloads[0]
        self._create(CREATE_A, payload(base, self.tag, *OLDER), "IDX1A")
        self._create(CREATE_B, payload(base, self.tag, *NEWER), "IDX1B")
        created = self.created
        self._establish("X1ANY", bool(created), "neither create gave a customer id")
        self._establish("X1BOTH", len(created) == 2,
                        f"only {len(created)} of the two creates gave a customer id")
        self._pages(created)
        sent = self._send(EMPTY)
        if sent:
            ex, reply, items = sent
            self._finish(ex, x1.zero_counts(reply, items))
        newest_first = created[::-1]
        sent = self._send(OPERATOR)
        if sent:
            ex, reply, items = sent
            self._finish(ex, x1.selects_exactly(
                x1.OPERATOR_FILTER, reply, items, newest_first[:1],
                "creditProfile.creditScore.gte=700 (scores 95 and 750)"))
        sent = self._send(SORT)
        if sent:
            ex, reply, items = sent
            self._finish(ex, x1.in_order(x1.SORT_ORDER, reply, items, newest_first,
                                         "sort=-validFor.startDateTime (2024 and 2023)"))
        sent = self._send(FIELDS)
        if sent:
            ex, reply, instance = sent
            self._finish(ex, x1.fields_none(reply, instance))
        self._patches()
        self._errors(base)
        self._deletes()

    def _pages(self, created: list[str]) -> None:
        """Paging judged on the real numbers: the total, or the customers the folder made."""
        tagged = f"name={self.tag}"
        for scenario, limit, what in ((PAGE, 1, "GET customer?limit=1"),
                                      (FILTERED_PAGE, 1, f"GET customer?{tagged}&limit=1"),
                                      (FULL_PAGE, 50, f"GET customer?{tagged}&limit=50")):
            sent = self._send(scenario)
            if not sent:
                continue
            ex, reply, items = sent
            rules = STEPS[scenario.number].rules
            refused = x1.not_a_list(reply, items, what)
            if refused is not None:
                self._finish(ex, *x1.list_refused(refused, [
                    r for r in rules if r not in (x1.LIST_ANSWERED, x1.COMPLETE_PAGE)]))
                continue
            # The filtered set is exactly this folder's customers: its total is known.
            total = x1.count(reply, "X-Total-Count") if scenario is PAGE else len(created)
            partial = x1.page_is_partial(total, len(items), known=len(created))
            found = [x1.page_status(reply, items, partial, what),
                     x1.within_limit(items, limit, what)]
            if scenario is PAGE:
                found += [x1.count_headers(reply), x1.result_count(reply, items),
                          x1.link_header(reply, partial)]
            elif scenario is FILTERED_PAGE:
                found += [x1.filtered_total(reply, len(created), tagged),
                          x1.link_keeps_query(reply, {"name": self.tag}, partial)]
            else:
                found += [x1.filtered_total(reply, len(created), tagged),
                          x1.result_count(reply, items)]
            self._finish(ex, *found)

    def _patches(self) -> None:
        reason, renamed = f"{self.tag} merge-patched", f"{self.tag} json-patched"
        sent = self._send(MERGE, {"statusReason": reason}, MERGE_PATCH)
        if sent:
            ex, reply, instance = sent
            self._finish(ex, x1.has_value(x1.MERGE_PATCH_APPLIED, reply, instance,
                                          "statusReason", reason, f"PATCH in {MERGE_PATCH}"))
        operations = [{"op": "test", "path": "/name", "value": self.tag},
                      {"op": "replace", "path": "/name", "value": renamed}]
        sent = self._send(JSON, operations, JSON_PATCH)
        if sent:
            ex, reply, instance = sent
            self._finish(ex, x1.has_value(x1.JSON_PATCH_APPLIED, reply, instance, "name",
                                          renamed, f"PATCH in {JSON_PATCH}"))
        sent = self._send(READ_BACK)
        if sent:
            ex, reply, instance = sent
            self._finish(ex, x1.has_value(x1.MERGE_PATCH_STORED, reply, instance,
                                          "statusReason", reason, "GET after the merge patch"),
                         x1.has_value(x1.JSON_PATCH_STORED, reply, instance, "name", renamed,
                                      "GET after the JSON Patch"))

    def _errors(self, base: Mapping[str, Any]) -> None:
        sent = self._send(REFUSED, {"statusReason": "x"}, UNSUPPORTED)
        if sent:
            ex, reply, _ = sent
            self._finish(ex, x1.status_is(x1.UNSUPPORTED_MEDIA_TYPE, reply, 415,
                                          f"PATCH with Content-Type {UNSUPPORTED}"))
        sent = self._send(INVALID, {**base, "name": ["not", "a", "string"]})
        if sent:
            ex, reply, created = sent
            if reply.status in (200, 201) and isinstance(created, dict) and created.get("id"):
                self.leftovers.append(str(created["id"]))
            self._finish(ex, x1.status_is(x1.INVALID_PAYLOAD, reply, 400,
                                          "POST with a name that is an array"),
                         *self._error_body(reply))

    def _deletes(self) -> None:
        first, second = self.variables.get("IDX1A"), self.variables.get("IDX1B")
        sent = self._send(DELETE_A)
        if sent:
            ex, reply, _ = sent
            deleted = reply.status in (200, 202, 204)
            self._establish("X1DELETED", deleted, f"DELETE {answered(reply)}")
            self._finish(ex, x1.status_is(x1.DELETED, reply, 204, "DELETE"))
        sent = self._send(GONE)
        if sent:
            ex, reply, _ = sent
            if reply.status == 404 and first in self.leftovers:
                self.leftovers.remove(first)
            self._finish(ex, x1.status_is(x1.GONE_AFTER_DELETE, reply, 404,
                                          "GET after DELETE"), *self._error_body(reply))
        sent = self._send(DELETE_B)
        if sent:
            ex, reply, _ = sent
            if reply.status in (200, 202, 204) and second in self.leftovers:
                self.leftovers.remove(second)
            self._finish(ex, x1.status_is(x1.DELETED, reply, 204, "DELETE"))

    # -- requests and executions ---------------------------------------------

    def _establish(self, fact: str, ok: bool, why: str) -> None:
        if ok:
            self.variables[fact] = True
        else:
            self.unmet[fact] = why

    def _create(self, scenario: Scenario, body: dict[str, Any], variable: str) -> None:
        sent = self._send(scenario, body)
        if not sent:
            return
        ex, reply, created = sent
        ident = created.get("id") if isinstance(created, dict) else None
        if ident is not None and reply.status is not None and reply.status < 400:
            self.variables[variable] = str(ident)
            self.leftovers.append(str(ident))
        else:
            self.unmet[variable] = f"POST customer {answered(reply)} without a customer id"
        self._finish(ex, checks.status_code(reply, 201))

    @staticmethod
    def _error_body(reply: Reply) -> list[Any]:
        # Only an error status promises a TMF Error body; the status check covers the rest.
        failed = reply.status is not None and reply.status >= 400
        return [checks.tmf_error(reply)] if failed else []

    def _missing(self, step: Step) -> str | None:
        """Why ``step`` cannot be sent (a fact it needs is missing), or None."""
        lacking = [need for need in step.needs if need not in self.variables]
        lacking += step.scenario.unresolved(self.variables)
        if not lacking:
            return None
        need = lacking[0]
        why = self.unmet.get(need, "the request that establishes it was not sent")
        return f"not sent: it needs {FACTS.get(need, need)}, and {why}"

    def _send(self, scenario: Scenario, payload: Any = None,
              content_type: str | None = None) -> tuple[Execution, Reply, Any] | None:
        """Send ``scenario`` if its prerequisites hold; else record it as skipped."""
        step = STEPS[scenario.number]
        if not step.selected(self.session.settings.rules):
            return None
        missing = self._missing(step)
        if missing is not None:
            self.session.skip(scenario, missing)
            return None
        url = scenario.url(self.session.settings.target_url, self.variables)
        body = json.dumps(payload, ensure_ascii=False) if payload is not None else None
        headers = {"Content-Type": content_type} if content_type else None
        execution, reply = self.session.send(scenario, url, body, headers)
        value, _ = decode_json(reply.text)
        return execution, reply, value

    def _finish(self, execution: Execution, *assertions: Assertion) -> None:
        execution.assertions.extend(assertions)
        self.session.record(execution)
