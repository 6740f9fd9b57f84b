"""The listener sink: events a partner's server posts to the sandbox's ``/listener/...``.

Each of the spec's four client listener endpoints takes one event type. A body
is checked against that type's schema; an ``eventType`` naming another type
is refused too. What the schema leaves optional but a consumer needs
(``eventId``, ``eventTime``, ``eventType``, ``event.customer``) is not
refused: its absence is noted on the record. Every received event, accepted
or refused, is recorded (bounded, in memory), so a partner sees in the admin
listing what their server sent and what was wrong with it.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sandbox.domain.validation import schema_errors
from sandbox.errors import ApiError
from sandbox.events.model import EVENT_TYPES, event_type_for_listener, listener_name, timestamp

Document = dict[str, Any]
MAX_RECORDS = 1000
MAX_REPORTED = 5
MAX_KEPT_PROBLEMS = 20
_MAX_PROBLEM_LENGTH = 300
_MAX_SUMMARY_MEMBERS = 20

#: Members a consumer needs although the v4.0.0 schemas do not require them.
EXPECTED_MEMBERS = ("eventId", "eventTime", "eventType")


SchemaCheck = Callable[[str, Any], list[str]]


def problems(event_type: str, body: Any, errors: SchemaCheck = schema_errors) -> list[str]:
    """Why ``body`` is not a valid ``event_type`` (empty when it is one); ``errors``: the
    API version's schema check (v4.0.0's by default)."""
    if not isinstance(body, dict):
        return [f"the body must be a JSON object (a {event_type})"]
    found = errors(event_type, body)
    sent_type = body.get("eventType")
    if isinstance(sent_type, str) and sent_type != event_type:
        found.append(f"$.eventType: '{sent_type}' was posted to the {event_type} listener "
                     f"(/listener/{listener_name(event_type)})")
    return found


def notes(body: Document) -> list[str]:
    """What a consumer would miss in a schema-valid event."""
    missing = [f"no {name}" for name in EXPECTED_MEMBERS if name not in body]
    payload = body.get("event")
    if not isinstance(payload, dict) or not isinstance(payload.get("customer"), dict):
        missing.append("no event.customer")
    return missing


class ReceivedEvents:
    """The bounded record of events received by the listener endpoints."""

    def __init__(self, *, max_bytes: int = 8 * 1024 * 1024,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self._records: deque[tuple[Document, int]] = deque()
        self._bytes = 0
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._now = now

    @property
    def size(self) -> int:
        """Bytes the kept records take as JSON (at most ``max_bytes``)."""
        with self._lock:
            return self._bytes

    def fitted(self, record: Document) -> tuple[Document, int]:
        """``record`` as kept, and its size: a record larger than the whole budget
        keeps only the summary of its event."""
        size = len(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode())
        if size > self.max_bytes:
            record = {**record, "event": None, "summary": summary(record["event"])}
            size = len(json.dumps(record, ensure_ascii=False).encode())
        return record, size

    def _keep(self, record: Document) -> None:
        record, size = self.fitted(record)
        with self._lock:
            self._records.append((record, size))
            self._bytes += size
            while self._records and (self._bytes > self.max_bytes
                                     or len(self._records) > MAX_RECORDS):
                self._bytes -= self._records.popleft()[1]

    def receive(self, name: str, body: Any, *, errors: SchemaCheck = schema_errors,
                api: str | None = None) -> Document:
        """Check and record an event posted to ``/listener/<name>``; 400 when invalid.
        ``errors`` checks it against the API version's schemas; ``api`` (another version
        than v4) is kept on the record."""
        event_type = event_type_for_listener(name)
        if event_type is None:
            known = ", ".join(listener_name(t) for t in EVENT_TYPES)
            raise ApiError(404, f"No listener '{name}'; the listeners are: {known}",
                           reason="Resource not found")
        found = problems(event_type, body, errors)
        record: Document = {
            "id": str(uuid.uuid4()),
            "receivedAt": timestamp(self._now()),
            "listener": name,
            "eventType": event_type,
            "eventId": _identifier(body),
            "accepted": not found,
            "problems": [_short(p) for p in found[:MAX_KEPT_PROBLEMS]],
            "notes": [] if found else notes(body),
            # A refused body is not kept: anyone may post megabytes of nonsense.
            "event": None if found else body,
        }
        if api is not None:
            record["api"] = api
        if found:
            record["summary"] = summary(body)
        self._keep(record)
        if found:
            shown = "; ".join(found[:MAX_REPORTED])
            if len(found) > MAX_REPORTED:
                shown += f"; and {len(found) - MAX_REPORTED} more"
            raise ApiError(400, f"Invalid {event_type}: {shown}", reason="Schema violation")
        return record

    def all(self) -> list[Document]:
        with self._lock:
            return [dict(record) for record, _ in self._records]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._bytes = 0


def _identifier(body: Any) -> Any:
    ident = body.get("eventId") if isinstance(body, dict) else None
    return _short(ident, 100) if isinstance(ident, str) else ident


def summary(body: Any) -> Document:
    """What is kept of a refused body: its JSON type, size and first member names."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    shown: Document = {"type": type(body).__name__, "bytes": len(text.encode())}
    if isinstance(body, dict):
        shown["members"] = [_short(str(k), 60) for k in list(body)[:_MAX_SUMMARY_MEMBERS]]
        if isinstance(body.get("eventType"), str):
            shown["eventType"] = _short(body["eventType"], 60)
    return shown


def _short(text: str, length: int = _MAX_PROBLEM_LENGTH) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
