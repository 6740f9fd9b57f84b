"""V5, the v5 suite's customer folder: the kit's scenarios in v5 form, judged by the OAS.

Derived from the TMF629 v5.0.1 OAS, not from TM Forum's v5 kit (a Cypress download
that checks little). Two creates, a list, a retrieve, ``fields=`` on one customer
and on the list, filters by id and by name, PATCH in the three media types the OAS
lists (merge patch, JSON Patch, JSON Patch Query) and the read back, 415 for an
unsupported type, 400 for a v4-shaped create, 404 for an unknown id, DELETE then
404. Every body is validated against the OAS's schemas, each polymorphic item by
its ``@type`` (:mod:`ctk_runner.v5.checks`).

Each request is a :class:`Step`: a scenario (number, name, URL template) and the
facts it needs (``IDCU01``: the first create gave an id). A step whose facts are
missing is recorded as skipped with the reason, never sent with a hole in its URL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ctk_runner.client import Reply, decode_json
from ctk_runner.model import Assertion, Execution
from ctk_runner.runner import CtkSession
from ctk_runner.scenarios import NOT_FOUND_ID, Scenario
from ctk_runner.strict import checks as strict
from ctk_runner.strict import x1_checks as x1
from ctk_runner.strict.x1 import JSON_PATCH, MERGE_PATCH, UNSUPPORTED
from ctk_runner.v5 import checks as v5

FOLDER = "V5"
QUERY_PATCH = "application/json-patch-query+json"
#: The OAS's own JSON Patch Query example: the contact medium in Paris becomes preferred.
QUERY_OPERATION = {"op": "replace", "path": "/contactMedium/preferred?city=Paris", "value": True}


@dataclass(frozen=True)
class Step:
    scenario: Scenario
    needs: tuple[str, ...] = ()


def _step(number: int, method: str, template: str, description: str, status: int,
          *needs: str) -> Step:
    name = "/" + template.split("?")[0].replace("{{", "{").replace("}}", "}")
    name += "?" + template.split("?", 1)[1] if "?" in template else ""
    return Step(Scenario(number, FOLDER, name, description, method, "tmf630", status,
                         template), needs)


_ONE, _TWO = "customer/{{IDCU01}}", "customer/{{IDCU02}}"
CREATE_1 = _step(1, "POST", "customer", "Creates CU01 (Customer_FVO): 201 with a valid "
                 "Customer", 201)
CREATE_2 = _step(2, "POST", "customer", "Creates CU02", 201)
LIST = _step(3, "GET", "customer", "Lists customers: an array of valid Customers", 200)
READ = _step(4, "GET", _ONE, "Retrieves CU01", 200, "IDCU01")
FIELDS_ONE = _step(5, "GET", _ONE + "?fields=name", "Retrieves CU01's name only", 200,
                   "IDCU01")
FIELDS_LIST = _step(6, "GET", "customer?fields=name", "Lists names only", 200)
BY_ID = _step(7, "GET", "customer?id={{IDCU01}}", "Filters by id", 200, "IDCU01")
BY_NAME = _step(8, "GET", "customer?name={{NAMECU02}}", "Filters by name", 200, "NAMECU02")
MERGE = _step(9, "PATCH", _ONE, f"Patches CU01's description in {MERGE_PATCH}", 200, "IDCU01")
JSON_OPS = _step(10, "PATCH", _ONE, f"Patches CU01's description in {JSON_PATCH}", 200,
                 "IDCU01")
QUERY = _step(11, "PATCH", _ONE, f"Makes CU01's Paris address preferred in {QUERY_PATCH}",
              200, "IDCU01")
READ_BACK = _step(12, "GET", _ONE, "The patches are stored", 200, "IDCU01")
REFUSED = _step(13, "PATCH", _ONE, f"A PATCH in {UNSUPPORTED} is refused with 415", 415,
                "IDCU01")
INVALID = _step(14, "POST", "customer", "A v4-shaped create (no @type, a v4 contactMedium) "
                "is refused with 400 and an Error", 400)
UNKNOWN = _step(15, "GET", f"customer/{NOT_FOUND_ID}", "An unknown id is 404 with an Error",
                404)
DELETE = _step(16, "DELETE", _TWO, "Deletes CU02", 204, "IDCU02")
GONE = _step(17, "GET", _TWO, "The deleted customer is 404", 404, "IDCU02", "DELETED")

STEPS: tuple[Step, ...] = (CREATE_1, CREATE_2, LIST, READ, FIELDS_ONE, FIELDS_LIST, BY_ID,
                           BY_NAME, MERGE, JSON_OPS, QUERY, READ_BACK, REFUSED, INVALID,
                           UNKNOWN, DELETE, GONE)
SCENARIOS: tuple[Scenario, ...] = tuple(step.scenario for step in STEPS)

#: A create body in v4's shape: what a v5 server must refuse.
V4_SHAPED = {"name": "CTK v4-shaped", "engagedParty": {"id": "500"},
             "contactMedium": [{"mediumType": "email",
                                "characteristic": {"emailAddress": "v4@shape.example"}}]}


class V5Folder:
    """Runs V5 against the session's target and records its executions."""

    def __init__(self, session: CtkSession) -> None:
        self.session = session
        self.variables: dict[str, Any] = {}
        self.unmet: dict[str, str] = {}

    def run(self) -> list[Execution]:
        start = len(self.session.run.executions)
        payloads = self.session.settings.payloads
        self._create(CREATE_1, payloads[0], "CU01")
        self._create(CREATE_2, payloads[1], "CU02")
        self._lists()
        self._patches()
        self._errors()
        self._delete()
        return self.session.run.executions[start:]

    # -- the steps ----------------------------------------------------------------

    def _create(self, step: Step, payload: Mapping[str, Any], subject: str) -> None:
        sent = self._send(step, payload)
        if sent is None:
            return
        execution, reply, body = sent
        found = [v5.status_in(v5.CREATED, reply, (201, 202), "POST customer")]
        if isinstance(body, dict) and body.get("id") is not None and reply.status == 201:
            self.variables[f"ID{subject}"] = str(body["id"])
            self.variables[f"NAME{subject}"] = body.get("name")
            self.session.held[subject] = {k: body.get(k) for k in ("id", "href", "name")}
            found += [strict.location_equals_href(reply, body), *self._customer([body])]
        else:
            self.unmet[f"ID{subject}"] = f"POST customer {x1.answered(reply)} without an id"
            self.unmet[f"NAME{subject}"] = self.unmet[f"ID{subject}"]
            if reply.status == 201:
                found.append(v5.valid([body]))
        self._finish(execution, found)

    def _lists(self) -> None:
        for step, kind in ((LIST, "list"), (READ, "read"), (FIELDS_ONE, "fields-one"),
                           (FIELDS_LIST, "fields"), (BY_ID, "filter"), (BY_NAME, "filter")):
            sent = self._send(step)
            if sent is None:
                continue
            execution, reply, _ = sent
            what = f"GET {step.scenario.name}"
            single = kind in ("read", "fields-one")
            rule = v5.RETRIEVED if single else v5.LIST_ANSWERED
            body, status = v5.answered_with(rule, reply, (200,) if single else (200, 206),
                                            dict if single else list, what)
            found: list[Assertion] = [status]
            if body is None:
                found.append(v5.error_body(reply))
                self._finish(execution, found)
                continue
            items = [body] if single else body
            if kind.startswith("fields"):
                found += [v5.only_fields(items, ["name"]), v5.valid(items, partial=True)]
            else:
                found += self._customer(items)
            if kind == "read":
                found.append(strict.filtered_only_matching(items, "id", self.variables["IDCU01"]))
            if kind == "filter":
                attribute, subject = ("id", "CU01") if step is BY_ID else ("name", "CU02")
                value = self.variables[f"{attribute.upper()}{subject}"]
                found += [strict.filtered_not_empty(items, attribute, value),
                          strict.filtered_only_matching(items, attribute, value)]
            self._finish(execution, found)

    def _patches(self) -> None:
        merged, replaced = "CTK v5 merge-patched", "CTK v5 json-patched"
        sent = self._send(MERGE, {"description": merged}, MERGE_PATCH)
        if sent is not None:
            execution, reply, body = sent
            found = [v5.status_in(v5.PATCHED, reply, (200, 202), f"PATCH in {MERGE_PATCH}"),
                     x1.has_value(x1.MERGE_PATCH_APPLIED, reply, body, "description", merged,
                                  f"PATCH in {MERGE_PATCH}")]
            self._finish(execution, found + (self._customer([body]) if reply.status == 200
                                             else []))
        operations = [{"op": "replace", "path": "/description", "value": replaced}]
        sent = self._send(JSON_OPS, operations, JSON_PATCH)
        if sent is not None:
            execution, reply, body = sent
            self._finish(execution, [x1.has_value(x1.JSON_PATCH_APPLIED, reply, body,
                                                  "description", replaced,
                                                  f"PATCH in {JSON_PATCH}")])
        sent = self._send(QUERY, [QUERY_OPERATION], QUERY_PATCH)
        if sent is not None:
            execution, reply, body = sent
            self._finish(execution, [x1.has_value(
                v5.QUERY_PATCH, reply, _paris(body), "preferred", True,
                f"PATCH in {QUERY_PATCH} ({QUERY_OPERATION['path']})")])
        sent = self._send(READ_BACK)
        if sent is not None:
            execution, reply, body = sent
            self._finish(execution, [
                x1.has_value(x1.JSON_PATCH_STORED, reply, body, "description", replaced,
                             "GET after the JSON Patch"),
                x1.has_value(x1.MERGE_PATCH_STORED, reply, body, "description", replaced,
                             "GET after the merge patch and the JSON Patch"),
                *(self._customer([body]) if reply.status == 200 else [])])

    def _errors(self) -> None:
        self._refused(REFUSED, x1.UNSUPPORTED_MEDIA_TYPE, 415,
                      f"PATCH with Content-Type {UNSUPPORTED}", {"description": "x"}, UNSUPPORTED)
        self._refused(INVALID, v5.INVALID_PAYLOAD, 400, "POST with a v4-shaped customer",
                      V4_SHAPED)
        self._refused(UNKNOWN, v5.UNKNOWN_ID, 404, "GET of an unknown id")

    def _delete(self) -> None:
        sent = self._send(DELETE)
        if sent is not None:
            execution, reply, _ = sent
            if reply.status == 204:
                self.variables["DELETED"] = True
            else:
                self.unmet["DELETED"] = (f"DELETE {x1.answered(reply)} (a 202 deletes later: "
                                         "there is no moment to expect the 404)")
            self._finish(execution, [v5.status_in(v5.DELETED, reply, (202, 204), "DELETE")])
        self._refused(GONE, v5.UNKNOWN_ID, 404, "GET after DELETE")

    # -- requests, bodies and executions ------------------------------------------

    @staticmethod
    def _customer(instances: list[Any]) -> list[Assertion]:
        return [v5.valid(instances), v5.declared(instances)]

    def _send(self, step: Step, payload: Any = None,
              content_type: str | None = None) -> tuple[Execution, Reply, Any] | None:
        lacking = [n for n in step.needs if n not in self.variables]
        if lacking:
            why = self.unmet.get(lacking[0], "the request that establishes it was not sent")
            self.session.skip(step.scenario, f"not sent: it needs {lacking[0]}, and {why}")
            return None
        url = step.scenario.url(self.session.settings.target_url, self.variables)
        body = json.dumps(payload, ensure_ascii=False) if payload is not None else None
        headers = {"Content-Type": content_type} if content_type else None
        execution, reply = self.session.send(step.scenario, url, body, headers)
        if reply.bom:
            execution.assertions.append(strict.no_byte_order_mark(reply))
        value, _ = decode_json(reply.text)
        return execution, reply, value

    def _refused(self, step: Step, check: str, status: int, what: str, payload: Any = None,
                 content_type: str | None = None) -> None:
        """``step`` sent, expecting ``status`` with a TMF Error body."""
        sent = self._send(step, payload, content_type)
        if sent is not None:
            execution, reply, _ = sent
            self._finish(execution, [x1.status_is(check, reply, status, what),
                                     v5.error_body(reply)])

    def _finish(self, execution: Execution, assertions: list[Assertion]) -> None:
        execution.assertions.extend(assertions)
        self.session.record(execution)


def _paris(customer: Any) -> Any:
    """The Paris contact medium of a patched customer, for the JSON Patch Query check."""
    media = customer.get("contactMedium") if isinstance(customer, Mapping) else None
    if not isinstance(media, list):
        return None
    return next((m for m in media if isinstance(m, Mapping) and m.get("city") == "Paris"), None)
