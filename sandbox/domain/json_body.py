"""JSON text in and out: request bodies parsed (refused, 400, unless storage and validation
can hold them), and answers and events encoded (:func:`encode`).

Every JSON body (customers, patches, hub subscriptions, listener events, the admin
API's) goes through :func:`parse` before anything looks at it:

* nesting: at most ``max_depth`` levels of arrays and objects; deeper values
  parse, but copying, patching or validating them recurses past Python's limit;
* numbers: a literal of at most ``max_number_length`` characters (Python
  refuses to convert integers over 4,300 digits), finite (``1e999`` would be
  stored as ``Infinity``, which is not JSON), no ``NaN``/``Infinity``, and then
  the number model of :mod:`sandbox.domain.numbers` (whole numbers become
  integers within the signed 64-bit range, anything else is a double), so every
  backend gives back exactly what the answer showed;
* member names: unique within an object (``{"a": 1, "a": 2}`` would otherwise
  keep the last silently);
* text: no lone surrogate (``"\\ud800"`` parses, but can be neither encoded as
  UTF-8 nor stored), in values and in member names alike.

Every answer and event is written by :func:`encode`: compact, UTF-8 (no ``\\u`` escapes
for "Zoë"), "/" never escaped (an href appears verbatim), doubles in their shortest
round-trip form (``0.1``, ``1.5e-7``).

Errors name where in the body the offending value is, as a JSON path
(``$.creditProfile[0].creditScore``), the notation validation errors use.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import orjson

from sandbox.domain import numbers
from sandbox.errors import ApiError

#: Where a value is: None for the body itself, else (where its parent is, its key or index).
Location = tuple["Location", str | int] | None


@dataclass(frozen=True)
class BodyLimits:
    max_depth: int = 64
    max_number_length: int = 100


def _malformed(message: str, reason: str = "Malformed JSON") -> ApiError:
    return ApiError(400, message, reason=reason)


def json_path(where: Location) -> str:
    """``where`` as a JSON path: ``$``, ``$.creditProfile[0].creditScore``."""
    steps: list[str] = []
    while where is not None:
        where, step = where
        steps.append(f"[{step}]" if isinstance(step, int) else f".{step}")
    return "$" + "".join(reversed(steps))


def parse(text: str, limits: BodyLimits = BodyLimits()) -> Any:
    """``text`` as JSON within ``limits``; a 400 ``ApiError`` saying which one it breaks."""
    # Objects that repeat a member name, by id (they live until parse returns): the walk
    # of check() knows where they are, the hook does not.
    repeated: dict[int, str] = {}

    def number(literal: str) -> Any:
        if len(literal) > limits.max_number_length:
            raise _malformed(f"A number in the body has {len(literal)} characters; at most "
                             f"{limits.max_number_length} are accepted")
        return literal

    def integer(literal: str) -> int:
        return int(number(literal))

    def real(literal: str) -> float:
        value = float(number(literal))
        if not math.isfinite(value):
            raise _malformed(f"The number {literal} is too large to be stored")
        return value

    def constant(name: str) -> Any:
        raise _malformed(f"{name} is not a JSON value")

    def members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(pairs)
        if len(found) < len(pairs):
            seen: set[str] = set()
            for name, _ in pairs:
                if name in seen:
                    repeated[id(found)] = name
                    break
                seen.add(name)
        return found

    try:
        value = json.loads(text, parse_int=integer, parse_float=real, parse_constant=constant,
                           object_pairs_hook=members)
    except RecursionError:
        raise _too_deep(limits.max_depth) from None
    except json.JSONDecodeError as exc:
        raise _malformed(f"The body is not valid JSON: {exc}") from None
    return check(value, limits.max_depth, repeated)


def _too_deep(depth: int) -> ApiError:
    return _malformed(f"The body is nested more than {depth} levels deep")


def check(value: Any, max_depth: int, repeated: dict[int, str] | None = None) -> Any:
    """``value`` (parsed JSON) with its numbers in the model; refused when nested deeper
    than ``max_depth``, holding a lone surrogate, a number out of range or an object of
    ``repeated`` (``id(object)`` -> the member name it repeats)."""
    repeated = repeated or {}
    # The body is its own parent: one slot, so a number at the top is replaced like any.
    root = [value]
    pending: list[tuple[Any, int, Location, list[Any] | dict[str, Any], str | int]] = [
        (value, 0, None, root, 0)]
    while pending:
        item, depth, where, parent, key = pending.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                raise _too_deep(max_depth)
            if isinstance(item, dict):
                name = repeated.get(id(item))
                if name is not None:
                    raise _malformed(
                        f"The member {_shown(name)} appears more than once in the object at "
                        f"{json_path(where)}; member names must be unique",
                        reason="Duplicate member")
                for child_key, child in item.items():
                    _check_text(child_key)
                    pending.append((child, depth + 1, (where, child_key), item, child_key))
            else:
                pending.extend((child, depth + 1, (where, index), item, index)
                               for index, child in enumerate(item))
        elif isinstance(item, str):
            _check_text(item)
        elif numbers.is_number(item):
            try:
                parent[key] = numbers.canonical(item)  # type: ignore[index]
            except numbers.NumberOutOfRange as exc:
                raise _malformed(f"{json_path(where)}: {exc}",
                                 reason="Number out of range") from None
    return root[0]


def _shown(text: str) -> str:
    return repr(text.encode("utf-8", "backslashreplace").decode("ascii", "replace")[:60])


def _check_text(text: str) -> None:
    if not _encodable(text):
        raise _malformed(f"The text {_shown(text)} holds a lone surrogate (invalid Unicode)")


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# orjson encodes a customer in a twentieth of the standard encoder's time; what it
# refuses (an integer beyond 64 bits in a store written before numbers were bounded, a
# non-string member name) the standard encoder writes with the same options.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(data: Any) -> bytes:
    """``data`` as compact UTF-8 JSON text."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return _ENCODER.encode(data).encode()
