"""The request journal: the last N requests of one tenant, secrets masked, bodies capped.

Each entry holds the method, URL, headers (credentials masked), the request
body up to a cap, the status, the response body up to a cap, the latency and
the injected fault if any. The journal keeps ``size`` entries, oldest dropped
first, so its memory is bounded by ``size`` times the caps. The entries live in
the backend's :class:`JournalStore`: in memory beside a file store, in a table
every process sharing a PostgreSQL database writes and reads.

A journal records only when ``recording`` (hosted tenants, or an open sandbox
started with ``--journal``): nobody reads an open sandbox's journal unless it
asked for one, and recording is a good share of a request's cost. Entry ids
are a per-process random prefix and a counter: unique across the processes
sharing a database, without a ``uuid4`` (7 % of a request) per entry.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from sandbox.errors import bad_request
from sandbox.hosting.secrets import masked_headers, masked_url

FILTERS = ("method", "path", "status", "since", "fault")
_PROCESS = secrets.token_hex(6)
_SERIAL = itertools.count(1)  # next() on a count is atomic: no lock needed


def entry_id() -> str:
    """A journal entry id, unique across processes: this process's prefix and a serial."""
    return f"{_PROCESS}-{next(_SERIAL)}"


def capped(body: bytes, cap: int) -> tuple[str, bool]:
    """The body as text, cut at ``cap`` bytes; and whether it was cut."""
    return body[:cap].decode("utf-8", "replace"), len(body) > cap


@dataclass(frozen=True)
class Query:
    """The journal filters: all given ones must hold."""

    method: str | None = None
    path: str | None = None
    status: int | None = None
    since: datetime | None = None
    fault: bool | None = None


def parse_query(args: Mapping[str, str]) -> Query:
    unknown = sorted(set(args) - set(FILTERS))
    if unknown:
        raise bad_request(f"Unknown journal filter(s) {', '.join(unknown)}; the filters are "
                          f"{', '.join(FILTERS)}", reason="Invalid filter")
    status = args.get("status")
    if status is not None and not (status.isdigit() and len(status) == 3):
        raise bad_request("status must be a 3-digit HTTP status", reason="Invalid filter")
    since = None
    if "since" in args:
        try:
            since = datetime.fromisoformat(args["since"].replace("Z", "+00:00"))
        except ValueError:
            raise bad_request("since must be an ISO 8601 date-time",
                              reason="Invalid filter") from None
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
    fault = args.get("fault")
    if fault not in (None, "true", "false"):
        raise bad_request("fault must be true or false", reason="Invalid filter")
    return Query(method=args.get("method", "").upper() or None, path=args.get("path") or None,
                 status=int(status) if status else None, since=since,
                 fault=None if fault is None else fault == "true")


def matches(entry: Mapping[str, Any], query: Query) -> bool:
    if query.method and entry["method"] != query.method:
        return False
    if query.path and query.path not in entry["path"]:
        return False
    if query.status is not None and entry["status"] != query.status:
        return False
    if query.fault is not None and (entry["fault"] is not None) != query.fault:
        return False
    return not (query.since and datetime.fromisoformat(entry["time"]) < query.since)


class JournalStore(Protocol):
    """Where one tenant's journal entries are kept, oldest first, bounded (the backend's)."""

    def add(self, entry: dict[str, Any]) -> None:
        """Keep ``entry``; must not wait for storage (a request is being answered)."""
        ...

    def all(self) -> list[dict[str, Any]]:
        """The kept entries, oldest first, including every one this process added."""
        ...

    def clear(self) -> None: ...


class MemoryJournal:
    """The last ``size`` entries in memory."""

    def __init__(self, size: int) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class RequestJournal:
    """The last ``size`` requests of one tenant, newest last; thread-safe."""

    def __init__(self, size: int = 200, body_cap: int = 4096,
                 store: JournalStore | None = None, recording: bool = True) -> None:
        self.size = size
        self.body_cap = body_cap
        self.store = store or MemoryJournal(size)
        #: Whether requests are recorded at all (the HTTP layer asks before it gathers).
        self.recording = recording

    def record(self, *, method: str, url: str, path: str, headers: Iterable[tuple[str, str]],
               body: bytes, status: int, response: bytes, latency_ms: float,
               fault: str | None) -> dict[str, Any]:
        request_body, request_cut = capped(body, self.body_cap)
        response_body, response_cut = capped(response, self.body_cap)
        entry: dict[str, Any] = {
            "id": entry_id(),
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "method": method, "url": masked_url(url), "path": path,
            "requestHeaders": masked_headers(headers),
            "requestBody": request_body, "requestBodyTruncated": request_cut,
            "status": status,
            "responseBody": response_body, "responseBodyTruncated": response_cut,
            "latencyMs": round(latency_ms, 1),
            "fault": fault,
        }
        self.store.add(entry)
        return entry

    def entries(self, query: Query = Query()) -> list[dict[str, Any]]:
        return [entry for entry in self.store.all() if matches(entry, query)]

    def clear(self) -> None:
        self.store.clear()
