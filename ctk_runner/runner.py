"""Send one kit request, run its test script, record the execution.

:class:`CtkSession` is the state the kit's requests share: the client, the
build of the kit being run (:mod:`ctk_runner.kit.builds`), the values held
from the create responses (the kit's ``IDCU01``, ``HREFCU01``, ...) and the
:class:`Run` being recorded. Each request's assertions come from its test
script, run with the kit's own semantics (:mod:`ctk_runner.kit.script`), so
the counts match a Newman run of the kit against the same target; the strict
profile appends the checks the spec requires beyond the kit
(:mod:`ctk_runner.strict`).

In the strict profile nothing goes out with an unresolved ``{{VARIABLE}}``:
such a request is recorded as skipped, with the reason (:meth:`CtkSession.skip`).
Every execution is recorded through :meth:`CtkSession.record`, which keeps
only the strict assertions whose source ``--rules`` selected. An ``href``
outside the target's origin is never fetched with the run's client: by
default not at all, with ``--follow-foreign-hrefs`` by a bare client without
any credential.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

from ctk_runner.client import Client, Reply, same_origin
from ctk_runner.config import Settings
from ctk_runner.kit.builds import Build, load
from ctk_runner.kit.script import Held, KitScript
from ctk_runner.model import Assertion, Execution, Run
from ctk_runner.scenarios import Scenario, held_variables
from ctk_runner.strict import checks as strict
from ctk_runner.strict.rules import skip
from ctk_runner.v5 import BUILD as V5_BUILD
from ctk_runner.v5 import COLLECTION_NAME as V5_COLLECTION


class CtkSession:
    """The shared state of one run and the engine that executes its requests."""

    def __init__(self, settings: Settings, run: Run | None = None,
                 client: Client | None = None, build: Build | None = None) -> None:
        self.settings = settings
        self.build = build or load(settings.kit)
        # A v5 run has no kit build: it is the suite derived from the OAS (ctk_runner.v5).
        v5 = settings.api == "v5"
        self.run = run or Run(target=settings.target_url, profile=settings.profile,
                              collection=V5_COLLECTION if v5 else self.build.collection,
                              build=V5_BUILD if v5 else self.build.name,
                              rules=settings.rules)
        self.client = client or settings.client()
        #: Per created customer, the values the kit's script holds from its create.
        self.held: Held = {}
        self.script = KitScript(self.build, self.held)

    @property
    def strict(self) -> bool:
        return self.settings.profile == "strict"

    def execute(self, scenario: Scenario) -> Execution:
        """Send ``scenario``'s request, evaluate it, add it to the run."""
        variables = held_variables(self.held)
        missing = scenario.unresolved(variables)
        if self.strict and missing:
            return self.skip(scenario, f"not sent: {', '.join(missing)} holds no value, "
                             "because the create that should have set it gave none")
        url = scenario.url(self.settings.target_url, variables)
        execution, reply = self.send(scenario, url, self._body(scenario))
        outcome = self.script.run(scenario.script, reply)
        execution.assertions = outcome.assertions
        execution.script_error = outcome.error
        if self.strict and reply.status is not None:
            execution.assertions += self._strict(scenario, reply, outcome.body)
        return self.record(execution)

    def record(self, execution: Execution) -> Execution:
        """Add ``execution`` to the run, keeping the strict assertions ``--rules`` selected."""
        rules = self.settings.rules
        execution.assertions = [a for a in execution.assertions
                                if a.kind != "strict" or a.source in rules]
        self.run.add(execution)
        return execution

    def skip(self, scenario: Scenario, reason: str) -> Execution:
        """Record ``scenario`` as not sent, with why (a missing prerequisite)."""
        url = self.settings.target_url + scenario.template
        execution = Execution(scenario=scenario, method=scenario.method, url=url,
                              request_headers={}, request_body=None, skipped=reason)
        return self.record(execution)

    def _body(self, scenario: Scenario) -> str | None:
        body = scenario.body
        if body is None:
            return None
        if "payload" in body:
            subjects = ("CU01", "CU02")
            index = subjects.index(body["payload"]) if body["payload"] in subjects else 0
            return json.dumps(self.settings.payloads[index], ensure_ascii=False)
        return json.dumps(body["json"], ensure_ascii=False)

    def send(
        self,
        scenario: Scenario,
        url: str,
        body: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Execution, Reply]:
        """Send one request of ``scenario``; the caller adds assertions and records it."""
        reply = self.client.send(scenario.method, url, body, headers=headers)
        execution = Execution(
            scenario=scenario,
            method=scenario.method,
            url=url,
            request_headers=reply.request_headers,
            request_body=body,
            status=reply.status,
            reason=reply.reason,
            response_headers=reply.headers,
            body=reply.text,
            elapsed_ms=reply.elapsed_ms,
            size=reply.size,
            error=reply.error,
        )
        return execution, reply

    # -- what the spec requires beyond the kit (strict profile) -------------------

    def _strict(self, scenario: Scenario, reply: Reply, body: Any) -> list[Assertion]:
        results: list[Assertion] = []
        status = reply.status or 0  # only called with an answer
        if not scenario.kit_tests:
            results.append(strict.status_code(reply, scenario.expected_status))
        if reply.bom:
            results.append(strict.no_byte_order_mark(reply))
        if scenario.kind == "not_found":
            if status < 400:
                return results + [skip(strict.TMF_ERROR, f"answered {reply.status}, not an "
                                       "error: there is no error body to judge")]
            return results + [strict.tmf_error(reply)]
        if status >= 400:
            # An error answer is not judged as the customer it should have been.
            return results + [strict.tmf_error(reply), skip(
                strict.VALID_CUSTOMER, f"answered {reply.status}: there is no customer to judge")]
        expected: type = list if scenario.kind in ("list", "fields", "filter") else dict
        instances, shape = strict.body_shape(reply, expected)
        if shape is not None:
            return results + [shape]
        if scenario.kind == "create":
            results.append(strict.location_equals_href(reply, instances))
            results += self._follow_href(reply, instances)
            results.append(strict.valid_customer([instances]))
        elif scenario.kind in ("read", "patch"):
            if scenario.kind == "patch" and scenario.body and "json" in scenario.body:
                results.append(strict.patch_applied(instances, scenario.body["json"]))
            results.append(strict.valid_customer([instances]))
        elif scenario.kind == "fields":
            attribute = scenario.attribute or "id"
            results.append(strict.only_requested_fields(instances, attribute))
            results.append(strict.valid_customer(instances, partial=True))
        elif scenario.kind == "filter":
            attribute = scenario.attribute or "id"
            value = self.held.get(scenario.subject or "CU01", {}).get(attribute)
            results.append(strict.filtered_not_empty(instances, attribute, value))
            results.append(strict.filtered_only_matching(instances, attribute, value))
            results.append(strict.valid_customer(instances))
        else:
            results.append(strict.valid_customer(instances))
        return results

    # -- helpers ------------------------------------------------------------

    def _follow_href(self, reply: Reply, instance: dict[str, Any]) -> list[Assertion]:
        """``GET href``: with the run's client on the target; elsewhere bare, or not at all."""
        href = instance.get("href")
        if not isinstance(href, str):
            return [strict.same_customer(None, instance)]
        url = urljoin(reply.url, href)
        if same_origin(url, self.settings.target_url):
            return [strict.href_at_target(url, self.settings.target_url),
                    strict.same_customer(self.client.send("GET", url), instance)]
        outside = strict.href_at_target(url, self.settings.target_url)
        if not self.settings.follow_foreign_hrefs:
            return [outside, skip(strict.SAME_CUSTOMER_ON_HREF,
                                  f"not followed: {url} is outside the target "
                                  "(--follow-foreign-hrefs follows it without credentials)")]
        bare = self.settings.bare_client()
        try:
            return [outside, strict.same_customer(bare.send("GET", url), instance)]
        finally:
            bare.close()

    def close(self) -> None:
        self.client.close()
