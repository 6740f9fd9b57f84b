"""Stand-ins that each break one thing the kit looks at, for the proof by difference.

Each stand-in is the conformant :class:`~ctk_faults.StandIn` with one fault:
either one of its own :class:`~ctk_faults.Faults`, or :class:`Rewrite`, WSGI
middleware that replaces the answer to one kind of request (the create, the
list, a filter, a retrieve, the PATCH). Newman with the published collection
and ``ctk-runner --kit published`` are run against every one of them and must
agree; the certified build's counting rules are checked on the same servers.
"""

from __future__ import annotations

import codecs
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

try:
    import ctk_faults as faults
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests import ctk_faults as faults  # type: ignore[no-redef]

Request = Literal["create", "list", "filter", "fields", "retrieve", "patch", "delete", "any"]
#: Builds the replacement answer from the conformant one: (status, content type, body).
Answer = Callable[[int, Any], tuple[int, str, bytes]]

_FILTERS = ("id", "name", "href")


def kind_of(method: str, path: str, query: str) -> Request:
    """Which of the kit's kinds of request this is."""
    rest = path[len(faults.ROOT_PATH + "customer"):].strip("/")
    keys = {k for k, _ in parse_qsl(query, keep_blank_values=True)}
    if method == "POST":
        return "create"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete"
    if rest:
        return "retrieve"
    if keys & set(_FILTERS):
        return "filter"
    return "fields" if "fields" in keys else "list"


@dataclass
class Rewrite:
    """Replace the answer to one kind of request; ``delay`` slows it down instead."""

    app: faults.WSGIApp
    request: Request
    answer: Answer | None = None
    delay: float = 0.0

    def __call__(self, environ: faults.Environ,
                 start_response: faults.StartResponse) -> Iterable[bytes]:
        kind = kind_of(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                       environ.get("QUERY_STRING", ""))
        if kind != self.request and self.request != "any":
            return self.app(environ, start_response)
        captured: dict[str, Any] = {}

        def keep(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            captured["status"], captured["headers"] = int(status.split()[0]), headers
            return lambda data: None

        data = b"".join(self.app(environ, keep))
        if self.delay:
            time.sleep(self.delay)
        if self.answer is None:
            status, content_type, body = captured["status"], "application/json", data
        else:
            try:
                original = json.loads(data) if data else None
            except ValueError:
                original = None
            status, content_type, body = self.answer(captured["status"], original)
        # The other headers (Location, counts, Link) stay: one thing is broken, not two.
        kept = [(k, v) for k, v in captured["headers"]
                if k.lower() not in ("content-type", "content-length")]
        return faults._send(start_response, status, body, content_type, kept)


def _json(status: int | None, make: Callable[[Any], Any]) -> Answer:
    def answer(original_status: int, original: Any) -> tuple[int, str, bytes]:
        return (status or original_status, "application/json",
                json.dumps(make(original)).encode())
    return answer


def _text(status: int, text: str, content_type: str) -> Answer:
    return lambda _status, _original: (status, content_type, text.encode())


def _bom(status: int, original: Any) -> tuple[int, str, bytes]:
    """The conformant answer, its JSON text behind a UTF-8 byte order mark."""
    if original is None:  # a 204 has no body to mark
        return status, "application/json", b""
    return status, "application/json", codecs.BOM_UTF8 + json.dumps(original).encode()


def _error(status: int) -> Answer:
    return _json(status, lambda _: faults._error(status, "refused"))


def _without(attribute: str) -> Callable[[Any], Any]:
    def drop(value: Any) -> Any:
        if isinstance(value, list):
            return [drop(v) for v in value]
        return {k: v for k, v in value.items() if k != attribute}
    return drop


def _numeric_ids(value: Any) -> Any:
    if isinstance(value, list):
        return [_numeric_ids(v) for v in value]
    if not isinstance(value, dict) or "id" not in value:
        return value  # an error body
    return {**value, "id": sum(map(ord, value["id"]))}


#: Long arrays inside values, as a dynamic mock generates them (the report must wrap).
LONG_VALUES = {
    "characteristic": [{"name": f"feature-{i}", "value": "x" * 240} for i in range(12)],
    "contactMedium": [{"mediumType": "email", "characteristic": {
        "emailAddress": f"someone.with.a.long.address.{i}@example.com"}} for i in range(8)],
    "relatedParty": [{"id": f"{i:04d}" * 8, "role": "Owner"} for i in range(8)],
}


def _long_values(value: Any) -> Any:
    if isinstance(value, list):
        return [_long_values(v) for v in value]
    if not isinstance(value, dict) or value.get("@type") == "Error":
        return value
    return {**value, **LONG_VALUES, "name": "do some magic! " * 12}


def _base(**kwargs: Any) -> faults.StandIn:
    return faults.StandIn(faults.Faults(seed=3, **kwargs))


def _rewrite(request: Request, answer: Answer | None = None,
             delay: float = 0.0) -> Callable[[], faults.WSGIApp]:
    return lambda: Rewrite(_base(), request, answer, delay)


def _faulty(**kwargs: Any) -> Callable[[], faults.WSGIApp]:
    return lambda: _base(**kwargs)


#: name -> (what is broken, a factory of the WSGI app). The first is conformant.
STANDINS: dict[str, tuple[str, Callable[[], faults.WSGIApp]]] = {
    "conformant": ("nothing", _faulty()),
    "filters-empty": ("filters return []", _rewrite("filter", _json(200, lambda _: []))),
    "filters-ignored": ("filters ignored", _faulty(ignore_filters=True)),
    "fields-ignored": ("fields= ignored", _faulty(ignore_fields=True)),
    "patch-415": ("PATCH with application/json answers 415",
                  _faulty(patch_types=("application/merge-patch+json",))),
    "patch-400": ("PATCH answers 400", _rewrite("patch", _error(400))),
    "patch-500": ("PATCH answers 500 (HTML)",
                  _rewrite("patch", _text(500, "<html><body>Oops</body></html>", "text/html"))),
    "patch-ignored": ("PATCH answers 200 with nothing changed",
                      _rewrite("patch", _json(200, lambda c: {**c, "name": "Moon Football Club"}))),
    "retrieve-array": ("retrieve answers [customer]",
                       _rewrite("retrieve", _json(None, lambda c: [c]))),
    "list-string": ("list answers a JSON string",
                    _rewrite("list", _json(200, lambda _: "do some magic!"))),
    "create-array": ("create answers [customer]", _rewrite("create", _json(None, lambda c: [c]))),
    "retrieve-not-json": ("retrieve answers text/plain",
                          _rewrite("retrieve", _text(200, "customer found", "text/plain"))),
    "type-missing": ("@type missing", _faulty(drop_type=True)),
    "id-number": ("id is a number", _rewrite("any", _json(None, _numeric_ids))),
    "href-number": ("href is a number", _faulty(href="number")),
    "unknown-id-200": ("404 answered 200 (empty body)", _faulty(unknown_id="empty-200")),
    "create-200": ("create answers 200", _faulty(create_status=200)),
    "create-500": ("create answers a 500 error", _rewrite("create", _error(500))),
    "create-no-id": ("create answer lacks id", _rewrite("create", _json(None, _without("id")))),
    "slow-retrieve": ("retrieve slower than the timeout", _rewrite("retrieve", delay=1.5)),
    "long-values": ("long arrays in values (dynamic mock)",
                    _rewrite("any", _json(None, _long_values))),
    "json-bom": ("every JSON body starts with a byte order mark", _rewrite("any", _bom)),
    "fields-404": ("?fields= answers 404", _rewrite("fields", _error(404))),
}

_PATCHES_REFUSED = {"JSON Patch is applied", "Merge patch is applied",
                    "Unsupported PATCH media type is 415"}
_RETRIEVE_BROKEN = {"GET on href returns the same customer", "Merge patch is stored",
                    "JSON Patch is stored", "fields=none returns only id, href and @type"}

#: The strict findings each stand-in truly deserves, beyond the kit's own tests, judged
#: one by one from what it serves. No stand-in has a /hub: NT1's first request fails
#: everywhere (the swagger has /hub), and is left out here. The Rewrite stand-ins change
#: every answer of their kind, X1's included (a DELETE is its own kind).
TRUE_FINDINGS: dict[str, set[str]] = {
    "sandbox": set(),
    "conformant": set(),
    # [] for every filter while the count headers say otherwise.
    "filters-empty": {"A partial page is 206 Partial Content", "Filtered list is not empty",
                      "Operator filter .gte compares numbers",
                      "Descending sort puts the newest first",
                      "X-Result-Count is the number returned"},
    "filters-ignored": {"Filtered list holds only matching customers",
                        "Operator filter .gte compares numbers",
                        "X-Total-Count counts only the filtered customers",
                        "Count headers are present and 0 for an empty result"},
    "fields-ignored": {"Response has only the requested fields",
                       "fields=none returns only id, href and @type"},
    # Only merge patch: the JSON Patch (optional in TMF630) is refused, rightly with 415.
    "patch-415": {"JSON Patch is applied", "JSON Patch is stored"},
    "patch-400": _PATCHES_REFUSED,
    "patch-500": _PATCHES_REFUSED | {"Error body is a TMF Error"},
    "patch-ignored": {"PATCH response holds the change", "JSON Patch is applied",
                      "Unsupported PATCH media type is 415"},
    "retrieve-array": _RETRIEVE_BROKEN | {"Response body is a JSON object",
                                          "Error body is a TMF Error"},
    "list-string": {"Response body is a JSON array",
                    "A list answers 200 or 206 with a JSON array"},
    "create-array": {"Response body is a JSON object", "Error body is a TMF Error"},
    "retrieve-not-json": _RETRIEVE_BROKEN | {"Response body is a JSON object",
                                             "Deleted customer is 404"},
    "type-missing": set(),  # the v4 Customer schema does not require @type; the kit does
    # Ids the server hands out but does not resolve: everything by id fails.
    "id-number": {"Response body is a valid Customer", "Filtered list is not empty",
                  "Descending sort puts the newest first",
                  "fields=none returns only id, href and @type", "Merge patch is applied",
                  "Merge patch is stored", "JSON Patch is applied", "JSON Patch is stored",
                  "DELETE answers 204"},
    "href-number": {"Response body is a valid Customer", "Location header equals href",
                    "GET on href returns the same customer"},
    "unknown-id-200": {"Deleted customer is 404"},
    "create-200": {"Status code is 201"},
    "create-500": {"Status code is 201", "Invalid payload is 400"},
    "create-no-id": {"GET on href returns the same customer"},
    "slow-retrieve": _RETRIEVE_BROKEN | {"Deleted customer is 404"},
    # A name answered that is not the one stored, attributes nobody asked for.
    "long-values": {"Response body is a valid Customer", "Filtered list is not empty",
                    "Response has only the requested fields",
                    "fields=none returns only id, href and @type",
                    "PATCH response holds the change", "JSON Patch is applied",
                    "JSON Patch is stored"},
    "json-bom": {"JSON body has no byte order mark"},
    "fields-404": {"Status code is 200"},
}

#: Request timeout of both tools in the comparison (slow-retrieve waits longer).
TIMEOUT_SECONDS = 1.0
