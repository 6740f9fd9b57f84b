"""PATCH documents by media type: merge patch, JSON Patch, JSON Patch Query.

* ``application/merge-patch+json`` and ``application/json``: JSON Merge Patch
  (RFC 7386), written out here: the RFC's algorithm is a dozen lines and the
  maintained ``jsonpatch`` library implements RFC 6902 only;
* ``application/json-patch+json``: JSON Patch (RFC 6902) through ``jsonpatch``,
  one operation at a time so a failure names the operation that failed;
* ``application/json-patch-query+json``: JSON Patch whose paths may select
  array elements with a TMF query (:mod:`sandbox.domain.patch_query`).

Every function returns a new document and leaves its arguments untouched;
every failure is a 400 :class:`~sandbox.errors.ApiError`.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Mapping
from typing import Any

import jsonpatch
import jsonpointer

from sandbox.domain import patch_query
from sandbox.domain.query import budget
from sandbox.errors import bad_request

MERGE_PATCH = "application/merge-patch+json"
JSON = "application/json"
JSON_PATCH = "application/json-patch+json"
JSON_PATCH_QUERY = "application/json-patch-query+json"
#: In the order a 415 and ``Accept-Patch`` list them.
PATCH_MEDIA_TYPES = (MERGE_PATCH, JSON, JSON_PATCH, JSON_PATCH_QUERY)

OPS = ("add", "remove", "replace", "move", "copy", "test")
_MAX_SHOWN = 120


def merge_patch(target: Any, patch: Any) -> Any:
    """Return ``target`` with ``patch`` applied; neither argument is modified."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


def describe(index: int, op: Mapping[str, Any]) -> str:
    """``operation 2 (replace /name)``: how messages name an operation."""
    return f"operation {index} ({op.get('op')} {op.get('path')})"


def _short(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def check_operations(body: Any, *, query: bool = False) -> list[dict[str, Any]]:
    """The body as a list of well-formed RFC 6902 operations, or a 400 saying why."""
    kind = "JSON Patch Query" if query else "JSON Patch"
    if not isinstance(body, list):
        raise bad_request(f"A {kind} must be a JSON array of operations",
                          reason="Invalid patch")
    for index, op in enumerate(body):
        if not isinstance(op, dict):
            raise bad_request(f"{kind} operation {index} is not a JSON object",
                              reason="Invalid patch")
        name = describe(index, op)
        if op.get("op") not in OPS:
            raise bad_request(f"{kind} {name}: 'op' must be one of {', '.join(OPS)}",
                              reason="Invalid patch")
        members = ["path"] + (["from"] if op["op"] in ("move", "copy") else [])
        for member in members:
            value = op.get(member)
            if not isinstance(value, str) or (value and not value.startswith("/")):
                raise bad_request(f"{kind} {name}: '{member}' must be a JSON Pointer "
                                  "such as /name", reason="Invalid patch")
        if op["op"] in ("add", "replace", "test") and "value" not in op:
            raise bad_request(f"{kind} {name}: a 'value' member is required",
                              reason="Invalid patch")
    return [copy.deepcopy(op) for op in body]


def apply_operation(document: Any, index: int, op: dict[str, Any], *,
                    original: Mapping[str, Any] | None = None) -> Any:
    """Apply one checked operation to ``document`` in place; return the result.

    ``original`` is the operation as the client wrote it, when ``op`` is one
    of the concrete operations a JSON Patch Query path expanded to.
    """
    name = describe(index, original or op)
    try:
        return jsonpatch.JsonPatch([op]).apply(document, in_place=True)
    except jsonpatch.JsonPatchTestFailed:
        shown = _short(json.dumps(op.get("value"), ensure_ascii=False))
        raise bad_request(f"JSON Patch {name} failed: the value at {op['path']} is not "
                          f"{shown}", reason="Patch test failed") from None
    except jsonpointer.JsonPointerException as exc:
        # jsonpointer appends the whole document ("... not found in {...}"): drop it.
        detail = str(exc).split(" not found in ", 1)[0]
        raise bad_request(f"JSON Patch {name} failed: the path does not exist "
                          f"({_short(detail)})", reason="Invalid patch") from None
    except (jsonpatch.JsonPatchException, KeyError, IndexError, TypeError, ValueError) as exc:
        raise bad_request(f"JSON Patch {name} failed: {_short(str(exc))}",
                          reason="Invalid patch") from None


def json_patch(document: Any, body: Any) -> Any:
    """RFC 6902: apply every operation in order, or fail naming the first bad one."""
    result = copy.deepcopy(document)
    for index, op in enumerate(check_operations(body)):
        result = apply_operation(result, index, op)
    return result


def json_patch_query(document: Any, body: Any) -> Any:
    """JSON Patch whose ``path`` may carry a query: each operation applies to every match."""
    result = copy.deepcopy(document)
    deadline = time.monotonic() + budget()  # one budget for the whole patch
    for index, op in enumerate(check_operations(body, query=True)):
        for concrete in patch_query.expand(result, index, op, deadline=deadline):
            result = apply_operation(result, index, concrete, original=op)
    return result


def selects_by_regex(body: Any) -> bool:
    """Whether a JSON Patch Query body selects elements with a ``.regex`` filter."""
    return isinstance(body, list) and any(
        isinstance(op, dict) and ".regex" in str(op.get("path", "")) for op in body)


def check_body(body: Any, media_type: str) -> None:
    """Refuse a body that cannot be a patch of ``media_type`` before touching storage."""
    if media_type in (MERGE_PATCH, JSON):
        if not isinstance(body, dict):
            raise bad_request("A merge patch for a Customer must be a JSON object",
                              reason="Invalid patch")
    else:
        check_operations(body, query=media_type == JSON_PATCH_QUERY)


def apply_patch(document: Mapping[str, Any], body: Any, media_type: str) -> Any:
    """``document`` patched by ``body`` read as ``media_type`` (one of PATCH_MEDIA_TYPES)."""
    check_body(body, media_type)
    try:
        if media_type in (MERGE_PATCH, JSON):
            return merge_patch(document, body)
        if media_type == JSON_PATCH:
            return json_patch(document, body)
        if media_type == JSON_PATCH_QUERY:
            return json_patch_query(document, body)
    except RecursionError:
        # Values nested a few hundred levels deep parse, but cannot be copied.
        raise bad_request("The patch is nested too deeply", reason="Invalid patch") from None
    raise ValueError(f"not a patch media type: {media_type}")  # the view checks first
