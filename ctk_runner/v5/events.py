"""NT5, the v5 suite's notifications folder: the hub (now with GET) and the four events.

The runner's :class:`~ctk_runner.notifications.listener.EventListener` answers
204, as the OAS's listeners do. The folder registers it (``POST /hub`` with a
``Hub_FVO``), reads the subscription back (``GET /hub/{id}``, new in v5), creates,
patches (a status change) and deletes a customer, and after each waits (up to
``--event-timeout``) for the events it must produce: each validated against its
OAS schema, polymorphism aware, with no undeclared attribute and the v5 envelope.
Then it unregisters. Runs in the strict profile, or alone with ``--notifications``;
``--listen`` and ``--callback-url`` work as for v4's NT1.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ctk_runner.client import Reply, decode_json
from ctk_runner.model import Assertion, Execution
from ctk_runner.notifications.checks import carries, customer_id
from ctk_runner.notifications.folder import default_listen, next_status
from ctk_runner.notifications.listener import EventListener, Received, parse_address
from ctk_runner.runner import CtkSession
from ctk_runner.scenarios import Scenario
from ctk_runner.strict.rules import CHANGE_EVENT, CREATE_EVENT, DELETE_EVENT, STATE_EVENT, judge
from ctk_runner.strict.x1 import MERGE_PATCH
from ctk_runner.v5 import checks as v5

FOLDER = "NT5"


def _step(number: int, method: str, template: str, description: str, status: int) -> Scenario:
    name = "/" + template.replace("{{", "{").replace("}}", "}")
    return Scenario(number, FOLDER, name, description, method, "notification", status,
                    template)


REGISTER = _step(101, "POST", "hub", "Registers the runner's listener (Hub_FVO)", 201)
READ_HUB = _step(102, "GET", "hub/{{IDHUB}}", "Reads the subscription back", 200)
CREATE = _step(103, "POST", "customer", "Creates a customer; a CustomerCreateEvent must "
               "follow", 201)
PATCH = _step(104, "PATCH", "customer/{{IDNT}}", "Changes its status; a "
              "CustomerAttributeValueChangeEvent and a CustomerStateChangeEvent must follow",
              200)
DELETE = _step(105, "DELETE", "customer/{{IDNT}}", "Deletes it; a CustomerDeleteEvent must "
               "follow", 204)
UNREGISTER = _step(106, "DELETE", "hub/{{IDHUB}}", "Unregisters the listener", 204)
SCENARIOS: tuple[Scenario, ...] = (REGISTER, READ_HUB, CREATE, PATCH, DELETE, UNREGISTER)


class V5Notifications:
    """Runs NT5 against the session's target and records its executions."""

    def __init__(self, session: CtkSession) -> None:
        self.session = session
        self.settings = session.settings
        self.variables: dict[str, Any] = {}
        #: Why the folder stopped early, if it did.
        self.aborted: str | None = None

    def run(self) -> list[Execution]:
        start = len(self.session.run.executions)
        listen = self.settings.listen or default_listen(self.settings.callback_url)
        try:
            listener = EventListener(*parse_address(listen), responder=lambda _: 204).start()
        except OSError as exc:
            self.aborted = f"the runner's listener cannot listen on {listen} ({exc})"
            return []
        try:
            self._flow(listener)
        finally:
            if "IDHUB" in self.variables and "unregistered" not in self.variables:
                self.session.client.send("DELETE", self._url(UNREGISTER))  # unrecorded
            listener.stop()
        done = {e.scenario.number for e in self.session.run.executions[start:]}
        for scenario in SCENARIOS:
            if scenario.number not in done:
                self.session.skip(scenario, f"not sent: the folder stopped ({self.aborted})")
        return self.session.run.executions[start:]

    def _flow(self, listener: EventListener) -> None:
        callback = self.settings.callback_url or listener.url
        execution, reply, hub = self._send(REGISTER, {"@type": "Hub", "callback": callback})
        found = [v5.status_in(v5.HUB_CREATED, reply, (201,), "POST hub")]
        if reply.status == 201:
            found += [v5.valid([hub], "Hub", name=v5.VALID_HUB), v5.declared([hub], "Hub")]
        self._finish(execution, found)
        if not isinstance(hub, dict) or hub.get("id") is None:
            self.aborted = f"POST hub {execution.status or reply.error}: no subscription id"
            return
        self.variables["IDHUB"] = str(hub["id"])
        execution, reply, _ = self._send(READ_HUB)
        self._finish(execution, [v5.same_subscription(reply, self.variables["IDHUB"],
                                                      callback)])
        mark = len(listener.snapshot())
        execution, reply, created = self._send(CREATE, self.settings.payloads[0])
        if not isinstance(created, dict) or created.get("id") is None or reply.status != 201:
            self._finish(execution, [v5.status_in(v5.CREATED, reply, (201,), "POST customer")])
            self.aborted = f"POST customer {execution.status or reply.error}: no customer id"
            return
        self.variables["IDNT"] = str(created["id"])
        self._finish(execution, [v5.status_in(v5.CREATED, reply, (201,), "POST customer"),
                                 *self._expect(listener, CREATE_EVENT, mark, {
                                     "id": self.variables["IDNT"]}, "created")])
        status = next_status(created.get("status"))
        mark = len(listener.snapshot())
        execution, reply, _ = self._send(PATCH, {"status": status}, MERGE_PATCH)
        expected = {"id": self.variables["IDNT"], "status": status}
        self._finish(execution, [
            v5.status_in(v5.PATCHED, reply, (200, 202), "PATCH customer"),
            *self._expect(listener, CHANGE_EVENT, mark, expected, "patched"),
            *self._expect(listener, STATE_EVENT, mark, expected, "patched")])
        mark = len(listener.snapshot())
        execution, reply, _ = self._send(DELETE)
        self._finish(execution, [v5.status_in(v5.DELETED, reply, (202, 204), "DELETE customer"),
                                 *self._expect(listener, DELETE_EVENT, mark,
                                               {"id": self.variables["IDNT"]}, "deleted")])
        execution, reply, _ = self._send(UNREGISTER)
        if reply.status in (200, 202, 204):
            self.variables["unregistered"] = True
        self._finish(execution, [v5.status_in(v5.UNREGISTERED, reply, (204,), "DELETE hub")])

    def _expect(self, listener: EventListener, event_type: str, mark: int,
                expected: Mapping[str, Any], what: str) -> list[Assertion]:
        """Wait for ``event_type`` about our customer, sent after request ``mark``."""
        ident = self.variables.get("IDNT")

        def wanted(item: Received) -> bool:
            return (item.seq > mark and item.event_type == event_type
                    and customer_id(item) in (ident, None))

        item = listener.wait_for(wanted, self.settings.event_timeout)
        name = f"v5 {event_type} received"
        if item is None:
            return [judge(name, False, f"no {event_type} for customer {ident} arrived within "
                          f"{self.settings.event_timeout:g} s")]
        return [judge(name, True), *v5.valid_event(item, event_type),
                carries(item, expected, what)]

    def _url(self, scenario: Scenario) -> str:
        return scenario.url(self.settings.target_url, self.variables)

    def _send(self, scenario: Scenario, payload: Any = None,
              content_type: str | None = None) -> tuple[Execution, Reply, Any]:
        body = json.dumps(payload, ensure_ascii=False) if payload is not None else None
        headers = {"Content-Type": content_type} if content_type else None
        execution, reply = self.session.send(scenario, self._url(scenario), body, headers)
        value, _ = decode_json(reply.text)
        return execution, reply, value

    def _finish(self, execution: Execution, assertions: list[Assertion]) -> None:
        execution.assertions.extend(assertions)
        self.session.record(execution)
