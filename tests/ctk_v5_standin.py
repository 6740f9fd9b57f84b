"""A small, independent TMF629 v5 server for the v5 suite's own tests, with seeded faults.

:class:`V5StandIn` is a plain WSGI app over a dict: v5 customers (``@type`` on every
object), ``id``/``name`` filters, ``fields=``, merge patch, JSON Patch (``replace``),
JSON Patch Query (``/contactMedium/preferred?city=Paris``), 415 and 400 with a v5
Error, DELETE 204, and a hub (POST/GET/DELETE) that posts the four v5 events to the
callback. Without faults it is conformant; each :class:`V5Faults` field is one way a
real v5 server gets it wrong, and the suite must name it.
"""

from __future__ import annotations

import copy
import json
import threading
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

try:
    from ctk_faults import Environ, StartResponse, _json, _send, read_body
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests.ctk_faults import (  # type: ignore[no-redef]
        Environ,
        StartResponse,
        _json,
        _send,
        read_body,
    )

ROOT = "/tmf-api/customerManagement/v5/"


@dataclass(frozen=True)
class V5Faults:
    """How the stand-in deviates from the v5.0.1 OAS (the defaults are conformant)."""

    #: Customers are answered without their ``@type``.
    missing_type: bool = False
    #: An email contact medium is answered as a ``PhoneContactMedium`` (keeps emailAddress).
    wrong_subclass: bool = False
    #: Contact media are answered in v4's shape (``mediumType`` + ``characteristic``).
    v4_contact_medium: bool = False
    #: Errors lack ``@type`` (v4's Error needs none).
    error_without_type: bool = False


def _error(status: int, reason: str, faults: V5Faults) -> dict[str, Any]:
    body = {"code": str(status), "reason": reason, "message": reason, "status": str(status),
            "@type": "Error"}
    if faults.error_without_type:
        del body["@type"]
    return body


class V5StandIn:
    def __init__(self, faults: V5Faults = V5Faults()) -> None:
        self.faults = faults
        self.customers: dict[str, dict[str, Any]] = {}
        self.hubs: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def _present(self, base: str, stored: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(stored)
        body["href"] = f"{base}customer/{body['id']}"
        if self.faults.missing_type:
            body.pop("@type", None)
        for medium in body.get("contactMedium", []):
            if self.faults.wrong_subclass and medium.get("@type") == "EmailContactMedium":
                medium["@type"] = "PhoneContactMedium"
            if self.faults.v4_contact_medium:
                kind = medium.pop("@type", "ContactMedium")
                medium["mediumType"] = kind.removesuffix("ContactMedium").lower() or "other"
                medium["characteristic"] = {k: medium.pop(k) for k in list(medium)
                                            if k not in ("mediumType", "preferred", "validFor")}
        return body

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"]
        base = f"http://{environ['HTTP_HOST']}{ROOT}"
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        if not path.startswith(ROOT):
            return _json(start_response, 404, _error(404, "Not Found", self.faults))
        parts = path[len(ROOT):].strip("/").split("/")
        with self.lock:
            if parts == ["customer"] and method == "POST":
                return self._create(environ, start_response, base)
            if parts == ["customer"] and method == "GET":
                found = [c for c in self.customers.values()
                         if all(str(c.get(k)) == v for k, v in query.items() if k != "fields")]
                items = [self._select(self._present(base, c), query) for c in found]
                return _json(start_response, 200, items,
                             [("X-Total-Count", str(len(items))),
                              ("X-Result-Count", str(len(items)))])
            if len(parts) == 2 and parts[0] == "customer":
                return self._one(environ, start_response, base, parts[1], method, query)
            if parts[0] == "hub":
                return self._hub(environ, start_response, parts[1:], method)
        return _json(start_response, 404, _error(404, "Not Found", self.faults))

    def _select(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if "fields" not in query:
            return body
        keep = {"id", "href", "@type", *query["fields"].split(",")}
        return {k: v for k, v in body.items() if k in keep}

    def _create(self, environ: Environ, start_response: StartResponse,
                base: str) -> Iterable[bytes]:
        body = read_body(environ)
        if not isinstance(body, dict) or body.get("@type") != "Customer" \
                or not isinstance(body.get("name"), str) or "engagedParty" not in body:
            return _json(start_response, 400, _error(400, "Bad Request", self.faults))
        stored = {**body, "id": uuid.uuid4().hex, "status": "Initialized"}
        self.customers[stored["id"]] = stored
        self._notify("CustomerCreateEvent", base, stored)
        shown = self._present(base, stored)
        return _json(start_response, 201, shown, [("Location", shown["href"])])

    def _one(self, environ: Environ, start_response: StartResponse, base: str, ident: str,
             method: str, query: dict[str, str]) -> Iterable[bytes]:
        stored = self.customers.get(ident)
        if stored is None:
            return _json(start_response, 404, _error(404, "Not Found", self.faults))
        if method == "GET":
            return _json(start_response, 200, self._select(self._present(base, stored), query))
        if method == "DELETE":
            del self.customers[ident]
            self._notify("CustomerDeleteEvent", base, stored)
            return _send(start_response, 204, b"", None)
        kind = environ.get("CONTENT_TYPE", "").split(";")[0]
        patch = read_body(environ)
        before = copy.deepcopy(stored)
        if kind in ("application/merge-patch+json", "application/json") \
                and isinstance(patch, dict):
            stored.update(patch)
        elif kind == "application/json-patch+json" and isinstance(patch, list):
            for op in patch:
                stored[op["path"].strip("/")] = op["value"]
        elif kind == "application/json-patch-query+json" and isinstance(patch, list):
            for medium in stored.get("contactMedium", []):
                if medium.get("city") == "Paris":
                    medium["preferred"] = patch[0]["value"]
        else:
            return _json(start_response, 415, _error(415, "Unsupported Media Type",
                                                     self.faults))
        self._notify("CustomerAttributeValueChangeEvent", base, stored)
        if before.get("status") != stored.get("status"):
            self._notify("CustomerStateChangeEvent", base, stored)
        return _json(start_response, 200, self._present(base, stored))

    def _hub(self, environ: Environ, start_response: StartResponse, rest: list[str],
             method: str) -> Iterable[bytes]:
        if not rest and method == "POST":
            body = read_body(environ)
            hub = {"@type": "Hub", "id": uuid.uuid4().hex, "callback": body["callback"]}
            self.hubs[hub["id"]] = hub
            return _json(start_response, 201, hub)
        hub = self.hubs.get(rest[0]) if rest else None
        if hub is None:
            return _json(start_response, 404, _error(404, "Not Found", self.faults))
        if method == "GET":
            return _json(start_response, 200, hub)
        del self.hubs[hub["id"]]
        return _send(start_response, 204, b"", None)

    def _notify(self, event_type: str, base: str, stored: dict[str, Any]) -> None:
        now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        event = {"@type": event_type, "eventId": uuid.uuid4().hex, "eventTime": now,
                 "eventType": event_type, "correlationId": uuid.uuid4().hex,
                 "domain": "Customer", "title": event_type, "description": event_type,
                 "priority": "3", "timeOccurred": now,
                 "source": {"@type": "EntityRef", "id": "standin"},
                 "reportingSystem": {"@type": "EntityRef", "id": "standin"},
                 "event": {"customer": self._present(base, stored)}}
        for hub in list(self.hubs.values()):
            request = urllib.request.Request(hub["callback"], json.dumps(event).encode(),
                                             {"Content-Type": "application/json"})
            threading.Thread(target=_post, args=(request,), daemon=True).start()


def _post(request: urllib.request.Request) -> None:
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except OSError:
        pass
