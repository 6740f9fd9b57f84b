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

Request = Literal["create", "list", "filter", "fields", "retrieve", "patch", "any"]
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
        return faults._send(start_response, status, body, content_type)


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

#: Request timeout of both tools in the comparison (slow-retrieve waits longer).
TIMEOUT_SECONDS = 1.0
