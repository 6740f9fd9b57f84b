"""X1, the TMF630 folder: paging, totals, operators, sorting, fields, PATCH types, DELETE.

Runs in the ``strict`` profile only, after the kit's folders (N1, N2, E1) and
in a folder of its own, so the kit's part of the report stays comparable with
a Newman run of the kit. It creates two customers that share a run tag as
their name (so its queries see only them), works on them, and deletes them at
the end; a customer it could not delete in a recorded step is deleted,
unrecorded, before the folder ends.

Its requests are numbered 16 to 31, after the kit's 15; each is one
:class:`~ctk_runner.model.Execution` with ``kind="strict"`` assertions from
:mod:`ctk_runner.strict.x1_checks`. A request whose predecessor failed is still sent,
with the unresolved ``{{VARIABLE}}`` left in its URL, as Postman does.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ctk_runner.client import Reply, decode_json
from ctk_runner.model import Execution
from ctk_runner.runner import CtkSession
from ctk_runner.scenarios import NOT_FOUND_ID, Scenario
from ctk_runner.strict import checks
from ctk_runner.strict import x1_checks as x1

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
PAGE = _step(18, "/customer?limit=1", "A page smaller than the collection is 206 with count "
             "headers and a Link header", "GET", 206, "customer?limit=1")
FILTERED_PAGE = _step(19, "/customer?name={{NAMEX1}}&limit=1", "Totals count the filtered "
                      "customers and Link keeps the filter", "GET", 206,
                      "customer?name={{NAMEX1}}&limit=1")
EMPTY = _step(20, "/customer?id=404ID", "An empty result still carries both count headers",
              "GET", 200, f"customer?id={NOT_FOUND_ID}")
OPERATOR = _step(21, "/customer?name={{NAMEX1}}&creditProfile.creditScore.gte=700",
                 "An operator filter compares numbers as numbers", "GET", 200,
                 "customer?name={{NAMEX1}}&creditProfile.creditScore.gte=700")
SORT = _step(22, "/customer?name={{NAMEX1}}&sort=-validFor.startDateTime",
             "A descending sort on a date-time puts the newest first", "GET", 200,
             "customer?name={{NAMEX1}}&sort=-validFor.startDateTime")
FIELDS = _step(23, _ONE + "?fields=none", "fields=none keeps only id, href and @type", "GET",
               200, "customer/{{IDX1A}}?fields=none")
MERGE = _step(24, _ONE, f"This operation patches the customer in {MERGE_PATCH}", "PATCH", 200,
              "customer/{{IDX1A}}")
JSON = _step(25, _ONE, f"This operation patches the customer in {JSON_PATCH}", "PATCH", 200,
             "customer/{{IDX1A}}")
READ_BACK = _step(26, _ONE, "Both patches are stored", "GET", 200, "customer/{{IDX1A}}")
REFUSED = _step(27, _ONE, f"A PATCH in {UNSUPPORTED} is refused with 415", "PATCH", 415,
                "customer/{{IDX1A}}")
INVALID = _step(28, "/customer", "An invalid payload is refused with 400 and a TMF Error",
                "POST", 400, "customer")
DELETE_A = _step(29, _ONE, "This operation deletes the customer", "DELETE", 204,
                 "customer/{{IDX1A}}")
GONE = _step(30, _ONE, "The deleted customer is 404", "GET", 404, "customer/{{IDX1A}}")
DELETE_B = _step(31, "/customer/{{IDX1B}}", "This operation deletes the other customer",
                 "DELETE", 204, "customer/{{IDX1B}}")

SCENARIOS: tuple[Scenario, ...] = (CREATE_A, CREATE_B, PAGE, FILTERED_PAGE, EMPTY, OPERATOR,
                                   SORT, FIELDS, MERGE, JSON, READ_BACK, REFUSED, INVALID,
                                   DELETE_A, GONE, DELETE_B)


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

    def _flow(self) -> None:
        base = self.session.settings.payloads[0]
        first = self._create(CREATE_A, payload(base, self.tag, *OLDER), "IDX1A")
        second = self._create(CREATE_B, payload(base, self.tag, *NEWER), "IDX1B")
        tagged = f"name={self.tag}"

        ex, reply, items = self._send(PAGE)
        self._finish(ex, x1.partial_page(reply, items, "GET customer?limit=1"),
                     x1.count_headers(reply), x1.result_count(reply, items),
                     x1.link_header(reply))
        ex, reply, items = self._send(FILTERED_PAGE)
        self._finish(ex, x1.partial_page(reply, items, f"GET customer?{tagged}&limit=1"),
                     x1.filtered_total(reply, 2, tagged),
                     x1.link_keeps_query(reply, {"name": self.tag}))
        ex, reply, items = self._send(EMPTY)
        self._finish(ex, x1.zero_counts(reply, items))
        newest_first = [ident for ident in (second, first) if ident]
        ex, reply, items = self._send(OPERATOR)
        self._finish(ex, x1.selects_exactly(
            x1.OPERATOR_FILTER, reply, items, newest_first[:1] if second else [],
            "creditProfile.creditScore.gte=700 (scores 95 and 750)"))
        ex, reply, items = self._send(SORT)
        self._finish(ex, x1.in_order(x1.SORT_ORDER, reply, items, newest_first,
                                     "sort=-validFor.startDateTime (2024 and 2023)"))
        ex, reply, instance = self._send(FIELDS)
        self._finish(ex, x1.fields_none(reply, instance))
        self._patches()
        self._errors(base)
        self._deletes(first, second)

    def _patches(self) -> None:
        reason, renamed = f"{self.tag} merge-patched", f"{self.tag} json-patched"
        ex, reply, instance = self._send(MERGE, {"statusReason": reason}, MERGE_PATCH)
        self._finish(ex, x1.has_value(x1.MERGE_PATCH_APPLIED, reply, instance, "statusReason",
                                      reason, f"PATCH in {MERGE_PATCH}"))
        operations = [{"op": "test", "path": "/name", "value": self.tag},
                      {"op": "replace", "path": "/name", "value": renamed}]
        ex, reply, instance = self._send(JSON, operations, JSON_PATCH)
        self._finish(ex, x1.has_value(x1.JSON_PATCH_APPLIED, reply, instance, "name", renamed,
                                      f"PATCH in {JSON_PATCH}"))
        ex, reply, instance = self._send(READ_BACK)
        self._finish(ex, x1.has_value(x1.MERGE_PATCH_STORED, reply, instance, "statusReason",
                                      reason, "GET after the merge patch"),
                     x1.has_value(x1.JSON_PATCH_STORED, reply, instance, "name", renamed,
                                  "GET after the JSON Patch"))

    def _errors(self, base: Mapping[str, Any]) -> None:
        ex, reply, _ = self._send(REFUSED, {"statusReason": "x"}, UNSUPPORTED)
        self._finish(ex, x1.status_is(x1.UNSUPPORTED_MEDIA_TYPE, reply, 415,
                                      f"PATCH with Content-Type {UNSUPPORTED}"))
        ex, reply, created = self._send(INVALID, {**base, "name": ["not", "a", "string"]})
        if reply.status in (200, 201) and isinstance(created, dict) and created.get("id"):
            self.leftovers.append(str(created["id"]))
        self._finish(ex, x1.status_is(x1.INVALID_PAYLOAD, reply, 400,
                                      "POST with a name that is an array"),
                     *self._error_body(reply))

    def _deletes(self, first: str | None, second: str | None) -> None:
        ex, reply, _ = self._send(DELETE_A)
        self._finish(ex, x1.status_is(x1.DELETED, reply, 204, "DELETE"))
        ex, reply, _ = self._send(GONE)
        if reply.status == 404 and first in self.leftovers:
            self.leftovers.remove(first)
        self._finish(ex, x1.status_is(x1.GONE_AFTER_DELETE, reply, 404, "GET after DELETE"),
                     *self._error_body(reply))
        ex, reply, _ = self._send(DELETE_B)
        if reply.status in (200, 202, 204) and second in self.leftovers:
            self.leftovers.remove(second)
        self._finish(ex, x1.status_is(x1.DELETED, reply, 204, "DELETE"))

    # -- requests and executions ---------------------------------------------

    def _create(self, scenario: Scenario, body: dict[str, Any], variable: str) -> str | None:
        ex, reply, created = self._send(scenario, body)
        status = dataclasses.replace(checks.status_code(reply, 201), kind="strict")
        ident = created.get("id") if isinstance(created, dict) else None
        if ident is not None:
            self.variables[variable] = str(ident)
            self.leftovers.append(str(ident))
        self._finish(ex, status)
        return str(ident) if ident is not None else None

    @staticmethod
    def _error_body(reply: Reply) -> list[Any]:
        # Only an error status promises a TMF Error body; the status check covers the rest.
        failed = reply.status is not None and reply.status >= 400
        return [dataclasses.replace(checks.tmf_error(reply), kind="strict")] if failed else []

    def _send(self, scenario: Scenario, payload: Any = None,
              content_type: str | None = None) -> tuple[Execution, Reply, Any]:
        url = scenario.url(self.session.settings.target_url, self.variables)
        body = json.dumps(payload, ensure_ascii=False) if payload is not None else None
        headers = {"Content-Type": content_type} if content_type else None
        execution, reply = self.session.send(scenario, url, body, headers)
        value, _ = decode_json(reply.text)
        return execution, reply, value

    def _finish(self, execution: Execution, *assertions: Any) -> None:
        execution.assertions.extend(assertions)
        self.session.run.add(execution)

