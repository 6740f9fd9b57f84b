"""NT1, the notifications folder: hub registration and the four Customer events.

The runner starts its own :class:`~ctk_runner.notifications.listener.EventListener`,
registers it with the target's ``POST /hub``, then creates, patches (a status
change) and deletes a customer, and after each request waits (up to the
event timeout) for the events the change must produce, judging their shape
against the v4.0.0 schemas and their customer against the one changed.
Finally it unregisters, creates and deletes another customer, and watches the
quiet period for any event that should no longer come.

Each request is one :class:`~ctk_runner.model.Execution` of the run, with
its assertions (all ``kind="strict"``), so the reports show NT1 like the
kit's folders. Requests are numbered from 101: never the kit's 1-15.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ctk_runner.client import Reply, decode_json
from ctk_runner.model import Execution
from ctk_runner.notifications.checks import (
    CHANGE,
    CREATE,
    DELETE,
    HUB_ANSWERS_201,
    NOTHING_AFTER,
    STATE,
    UNREGISTERED,
    carries,
    customer_id,
    in_order,
    status_named,
    valid_event,
    valid_subscription,
)
from ctk_runner.notifications.listener import EventListener, Received, parse_address
from ctk_runner.runner import CtkSession
from ctk_runner.scenarios import Scenario
from ctk_runner.strict import checks
from ctk_runner.strict.rules import judge

FOLDER = "NT1"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}



def _step(number: int, name: str, description: str, method: str, status: int,
          template: str) -> Scenario:
    return Scenario(number, FOLDER, name, description, method, "notification", status,
                    template)


REGISTER = _step(101, "/hub", "This operation registers the runner's listener", "POST",
                 201, "hub")
CREATE_ONE = _step(102, "/customer", "This operation creates a customer; a "
                   "CustomerCreateEvent must follow", "POST", 201, "customer")
PATCH_ONE = _step(103, "/customer/{{IDNT01}}", "This operation changes the customer's status;"
                  " a CustomerAttributeValueChangeEvent and a CustomerStateChangeEvent must "
                  "follow", "PATCH", 200, "customer/{{IDNT01}}")
DELETE_ONE = _step(104, "/customer/{{IDNT01}}", "This operation deletes the customer; a "
                   "CustomerDeleteEvent must follow", "DELETE", 204, "customer/{{IDNT01}}")
UNREGISTER = _step(105, "/hub/{{IDHUB}}", "This operation unregisters the listener", "DELETE",
                   204, "hub/{{IDHUB}}")
CREATE_AFTER = _step(106, "/customer", "This operation creates a customer after "
                     "unregistering", "POST", 201, "customer")
DELETE_AFTER = _step(107, "/customer/{{IDNT02}}", "This operation deletes it; no event may "
                     "follow", "DELETE", 204, "customer/{{IDNT02}}")

SCENARIOS: tuple[Scenario, ...] = (REGISTER, CREATE_ONE, PATCH_ONE, DELETE_ONE, UNREGISTER,
                                   CREATE_AFTER, DELETE_AFTER)


def default_listen(callback_url: str | None) -> str:
    """Loopback on a free port; with a callback URL naming a port, all interfaces on it."""
    port = urlsplit(callback_url).port if callback_url else None
    return f"0.0.0.0:{port}" if port else "127.0.0.1:0"


def next_status(current: Any) -> str:
    return "Closed" if current == "Approved" else "Approved"


class NotificationFolder:
    """Runs NT1 against the session's target and records its executions."""

    def __init__(self, session: CtkSession, listener: EventListener | None = None) -> None:
        self.session = session
        self.settings = session.settings
        self.listener = listener
        self.variables: dict[str, Any] = {}
        #: Why the folder stopped early, if it did (the pytest failure says it).
        self.aborted: str | None = None

    def run(self) -> list[Execution]:
        start = len(self.session.run.executions)
        own = self.listener is None
        if self.listener is None:
            listen = self.settings.listen or default_listen(self.settings.callback_url)
            host, port = parse_address(listen)
            try:
                self.listener = EventListener(host, port).start()
            except OSError as exc:
                self.aborted = f"the runner's listener cannot listen on {listen} ({exc})"
                return []
        try:
            self._flow(self.listener)
        finally:
            if "IDHUB" in self.variables and "unregistered" not in self.variables:
                # Best effort, unrecorded: never leave a subscription pointing at us.
                self.session.client.send("DELETE", UNREGISTER.url(self.root, self.variables))
            if own:
                self.listener.stop()
        self._skip_the_rest(start)
        return self.session.run.executions[start:]

    def _skip_the_rest(self, start: int) -> None:
        """Every step after the one that stopped the folder: skipped, with why."""
        done = {e.scenario.number for e in self.session.run.executions[start:]}
        for scenario in SCENARIOS:
            if scenario.number not in done and self.aborted:
                self.session.skip(scenario, f"not sent: the folder stopped ({self.aborted})")

    @property
    def root(self) -> str:
        return self.settings.target_url

    def _flow(self, listener: EventListener) -> None:
        callback = self.settings.callback_url or listener.url
        if not self._register(callback):
            return
        payload = self.settings.payloads[0]
        mark = len(listener.snapshot())
        execution, created = self._create(CREATE_ONE, payload, "IDNT01")
        if created is None:
            return
        item = self._expect(execution, listener, CREATE, mark)
        if item is not None:
            expected: dict[str, Any] = {k: created[k] for k in ("id", "name") if k in created}
            execution.assertions.append(carries(item, expected, "created"))
        self._finish(execution)
        found: dict[str, Received | None] = {CREATE: item}
        status = next_status(created.get("status"))
        found.update(self._patch(status, listener))
        self._delete(listener, found, status)
        if not self._unregister():
            return
        mark = len(listener.snapshot())
        execution, created = self._create(CREATE_AFTER, payload, "IDNT02")
        if created is None:
            return
        self._finish(execution)
        execution, reply = self._send(DELETE_AFTER)
        execution.assertions.append(checks.status_code(reply, 204))
        late = listener.wait_for(lambda item: item.seq > mark, self.settings.quiet_period)
        why = "" if late is None else (
            f"{late.event_type or 'a request'} arrived at {late.path} after the subscription "
            "was deleted")
        execution.assertions.append(judge(NOTHING_AFTER, late is None, why))
        self._finish(execution)

    # -- the steps ----------------------------------------------------------

    def _register(self, callback: str) -> bool:
        execution, reply = self._send(REGISTER, {"callback": callback})
        if reply.status is None:
            self.aborted = f"POST {execution.url}: {reply.error}"
            self._finish(execution)
            return False
        ok = reply.status == 201
        why = "" if ok else f"expected 201, got {reply.status} {reply.reason}".rstrip()
        if reply.status in (404, 405, 501):
            why = (f"the target has no notification hub: POST {execution.url} answered "
                   f"{reply.status} {reply.reason}".rstrip())
        execution.assertions.append(judge(HUB_ANSWERS_201, ok, why))
        body, _ = decode_json(reply.text)
        if ok:
            execution.assertions.append(valid_subscription(body, callback))
        ident = body.get("id") if isinstance(body, dict) else None
        self._finish(execution)
        if not ok or ident is None:
            self.aborted = why or f"POST {execution.url} returned no subscription id"
            return False
        self.variables["IDHUB"] = str(ident)
        return True

    def _unregister(self) -> bool:
        execution, reply = self._send(UNREGISTER)
        execution.assertions.append(status_named(reply, 204, UNREGISTERED))
        self._finish(execution)
        if reply.status not in (200, 202, 204):
            self.aborted = f"DELETE {execution.url} answered {reply.status or reply.error}"
            return False
        self.variables["unregistered"] = True
        return True

    def _create(self, scenario: Scenario, payload: Mapping[str, Any],
                variable: str) -> tuple[Execution, dict[str, Any] | None]:
        """POST a customer; the execution is finished here only when it failed."""
        execution, reply = self._send(scenario, payload)
        execution.assertions.append(checks.status_code(reply, 201))
        body, _ = decode_json(reply.text)
        if not isinstance(body, dict) or body.get("id") is None:
            self.aborted = f"POST {execution.url} returned no customer id"
            self._finish(execution)
            return execution, None
        self.variables[variable] = str(body["id"])
        return execution, body

    def _patch(self, status: str, listener: EventListener) -> dict[str, Received | None]:
        mark = len(listener.snapshot())
        execution, reply = self._send(PATCH_ONE, {"status": status}, MERGE_PATCH)
        execution.assertions.append(checks.status_code(reply, 200))
        expected = {"id": self.variables["IDNT01"], "status": status}
        found: dict[str, Received | None] = {}
        for event_type in (CHANGE, STATE):
            item = self._expect(execution, listener, event_type, mark)
            if item is not None:
                execution.assertions.append(carries(item, expected, "patched"))
            found[event_type] = item
        self._finish(execution)
        return found

    def _delete(self, listener: EventListener, found: dict[str, Received | None],
                status: str) -> None:
        mark = len(listener.snapshot())
        execution, reply = self._send(DELETE_ONE)
        execution.assertions.append(checks.status_code(reply, 204))
        item = self._expect(execution, listener, DELETE, mark)
        if item is not None:
            expected = {"id": self.variables["IDNT01"], "status": status}
            execution.assertions.append(carries(item, expected, "deleted"))
        # An event that missed its wait may have come late: it still has a place in the order.
        arrived = {t: found.get(t) or self._late(listener, t) for t in (CREATE, CHANGE, STATE)}
        execution.assertions.append(in_order({**arrived, DELETE: item}))
        self._finish(execution)

    def _late(self, listener: EventListener, event_type: str) -> Received | None:
        ident = self.variables.get("IDNT01")
        return next((i for i in listener.snapshot()
                     if i.event_type == event_type and customer_id(i) in (ident, None)), None)

    def _expect(self, execution: Execution, listener: EventListener, event_type: str,
                mark: int) -> Received | None:
        """Wait for ``event_type`` about our customer, sent after request ``mark``."""
        ident = self.variables.get("IDNT01")

        def wanted(item: Received) -> bool:
            about = customer_id(item)
            return (item.seq > mark and item.event_type == event_type
                    and (about is None or about == ident))

        item = listener.wait_for(wanted, self.settings.event_timeout)
        name = f"{event_type} received"
        if item is None:
            others = [i.event_type or i.path for i in listener.snapshot() if i.seq > mark]
            why = (f"no {event_type} for customer {ident} arrived within "
                   f"{self.settings.event_timeout:g} s")
            if others:
                why += f" (the listener received: {', '.join(map(str, others[:5]))})"
            execution.assertions.append(judge(name, False, why))
            return None
        execution.assertions.append(judge(name, True))
        execution.assertions += valid_event(item, event_type)
        return item

    # -- requests and executions ---------------------------------------------

    def _send(self, scenario: Scenario, payload: Mapping[str, Any] | None = None,
              headers: Mapping[str, str] | None = None) -> tuple[Execution, Reply]:
        url = scenario.url(self.root, self.variables)
        body = json.dumps(payload, ensure_ascii=False) if payload is not None else None
        return self.session.send(scenario, url, body, headers)

    def _finish(self, execution: Execution) -> None:
        self.session.record(execution)
