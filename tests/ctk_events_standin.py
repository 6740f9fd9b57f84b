"""A stand-in target with an event hub, for the harness's notifications folder (NT1).

:class:`EventfulStandIn` is :class:`ctk_faults.StandIn` plus what NT1 needs:
``POST/DELETE /hub`` and, around the stand-in's own create, patch and delete,
the four Customer events, posted to ``<callback>/listener/<eventName>`` by one
background thread, in order. It is written independently of the
sandbox, so the harness is checked against a second implementation.
:class:`EventFaults` switches the ways a server gets events wrong.
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import requests

try:
    import ctk_faults
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests import ctk_faults  # type: ignore[no-redef]

ROOT_PATH = ctk_faults.ROOT_PATH
Environ = ctk_faults.Environ
StartResponse = ctk_faults.StartResponse


@dataclass(frozen=True)
class EventFaults:
    """How the hub deviates (the defaults are conformant)."""

    hub: bool = True
    delete_event: bool = True
    bad_event_time: bool = False
    ignore_unregister: bool = False
    #: Send the state change before the create event (out of order).
    state_first: bool = False


class EventfulStandIn(ctk_faults.StandIn):
    def __init__(self, faults: ctk_faults.Faults | None = None,
                 events: EventFaults = EventFaults()) -> None:
        super().__init__(faults or ctk_faults.Faults())
        self.events = events
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self._outbox: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._held: list[tuple[str, dict[str, Any]]] = []
        threading.Thread(target=self._deliver, daemon=True).start()

    # -- WSGI -------------------------------------------------------------------

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        if path.startswith(ROOT_PATH + "hub"):
            self.requests.append((method, path, environ.get("HTTP_AUTHORIZATION")))
            if not self.events.hub:
                return ctk_faults._json(start_response, 404, ctk_faults._error(404, "no hub"))
            return self._hub(environ, start_response, method, path[len(ROOT_PATH + "hub"):])
        rest = path[len(ROOT_PATH + "customer"):].strip("/")
        with self.lock:
            before = dict(self.customers[rest]) if rest in self.customers else None
        captured: dict[str, str] = {}

        def capture(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            captured["status"] = status
            return start_response(status, headers, *args)

        chunks = list(super().__call__(environ, capture))
        status = captured.get("status", "")
        base = f"http://{environ['HTTP_HOST']}{ROOT_PATH}"
        if method == "POST" and not rest and status.startswith("201"):
            self._emit("CustomerCreateEvent", json.loads(b"".join(chunks)))
        elif method == "PATCH" and before is not None and status.startswith("200"):
            self._changed(base, before, self.customers.get(rest, before))
        elif method == "DELETE" and before is not None and status.startswith("204"):
            if self.events.delete_event:
                self._emit("CustomerDeleteEvent", self._represent(base, before))
        return chunks

    def _hub(self, environ: Environ, start_response: StartResponse, method: str,
             rest: str) -> Iterable[bytes]:
        ident = rest.strip("/")
        if method == "POST" and not ident:
            body = _read(environ)
            if not isinstance(body, dict) or not isinstance(body.get("callback"), str):
                return ctk_faults._json(start_response, 400, ctk_faults._error(400, "callback"))
            subscription = {"id": str(uuid.uuid4()), "callback": body["callback"],
                            "query": body.get("query", "")}
            self.subscriptions[subscription["id"]] = subscription
            return ctk_faults._json(start_response, 201, subscription)
        if ident in self.subscriptions and method == "DELETE":
            if not self.events.ignore_unregister:
                del self.subscriptions[ident]
            return ctk_faults._send(start_response, 204, b"", None)
        return ctk_faults._json(start_response, 404, ctk_faults._error(404, "no subscription"))

    def _changed(self, base: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        shown = self._represent(base, after)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        if changed:
            self._emit("CustomerAttributeValueChangeEvent", shown, ",".join(changed))
        if "status" in changed:
            self._emit("CustomerStateChangeEvent", shown)

    # -- events -------------------------------------------------------------------

    def _emit(self, event_type: str, customer: dict[str, Any],
              field_path: str | None = None) -> None:
        now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        event: dict[str, Any] = {
            "eventId": str(uuid.uuid4()), "eventType": event_type, "@type": event_type,
            "eventTime": "yesterday" if self.events.bad_event_time else now,
            "event": {"customer": customer},
        }
        if field_path:
            event["fieldPath"] = field_path
        for subscription in list(self.subscriptions.values()):
            url = subscription["callback"].rstrip("/") + "/listener/" \
                + event_type[0].lower() + event_type[1:]
            if self.events.state_first and event_type == "CustomerCreateEvent":
                self._held.append((url, event))  # sent after the state change
                continue
            self._outbox.put((url, event))
            if event_type == "CustomerStateChangeEvent":
                for held in self._held:
                    self._outbox.put(held)
                self._held.clear()

    def _deliver(self) -> None:
        while True:
            url, event = self._outbox.get()
            try:
                requests.post(url, json=event, timeout=5)
            except requests.RequestException:
                pass  # the harness reports what did not arrive


def _read(environ: Environ) -> Any:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        return json.loads(environ["wsgi.input"].read(length) or b"null")
    except ValueError:
        return None
