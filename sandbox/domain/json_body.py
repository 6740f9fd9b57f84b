"""Request bodies parsed as JSON, refused (400) unless storage and validation can hold them.

Every JSON body (customers, patches, hub subscriptions, listener events) goes
through :func:`parse` before anything looks at it:

* nesting: at most ``max_depth`` levels of arrays and objects; deeper values
  parse, but copying, patching or validating them recurses past Python's limit;
* numbers: a literal of at most ``max_number_length`` characters (Python
  refuses to convert integers over 4,300 digits), finite (``1e999`` would be
  stored as ``Infinity``, which is not JSON), and no ``NaN``/``Infinity``;
* text: no lone surrogate (``"\\ud800"`` parses, but can be neither encoded as
  UTF-8 nor stored), in values and in member names alike.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sandbox.errors import ApiError


@dataclass(frozen=True)
class BodyLimits:
    max_depth: int = 64
    max_number_length: int = 100


def _malformed(message: str) -> ApiError:
    return ApiError(400, message, reason="Malformed JSON")


def parse(text: str, limits: BodyLimits = BodyLimits()) -> Any:
    """``text`` as JSON within ``limits``; a 400 ``ApiError`` saying which one it breaks."""

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

    try:
        value = json.loads(text, parse_int=integer, parse_float=real, parse_constant=constant)
    except RecursionError:
        raise _too_deep(limits.max_depth) from None
    except json.JSONDecodeError as exc:
        raise _malformed(f"The body is not valid JSON: {exc}") from None
    check(value, limits.max_depth)
    return value


def _too_deep(depth: int) -> ApiError:
    return _malformed(f"The body is nested more than {depth} levels deep")


def check(value: Any, max_depth: int) -> None:
    """Refuse ``value`` when nested deeper than ``max_depth`` or holding a lone surrogate."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                raise _too_deep(max_depth)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
            if isinstance(item, dict):
                pending.extend((key, depth + 1) for key in item)
        elif isinstance(item, str) and not _encodable(item):
            shown = item.encode("utf-8", "backslashreplace").decode("ascii", "replace")[:60]
            raise _malformed(f"The text {shown!r} holds a lone surrogate (invalid Unicode)")


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
