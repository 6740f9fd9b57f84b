"""JavaScript's view of JSON values, as the kit's Postman test scripts see them.

The kit's verdict depends on a handful of JavaScript rules: property access
on ``null`` throws, ``Object.keys`` of a string or array lists its indices,
``==`` coerces (``undefined == null``, ``"7" == 7``), string concatenation
turns ``undefined`` into ``"undefined"`` and an object into
``"[object Object]"``, and chai's ``include`` on a string searches for the
value coerced to a string. This module applies exactly those rules to
decoded JSON, where JavaScript's ``undefined`` is :data:`UNDEFINED` and
``null`` is ``None``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final


class _Undefined:
    """JavaScript's ``undefined``: a missing property or an unset variable."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Final = _Undefined()


class ScriptError(Exception):
    """What would make the kit's script throw (a ``TypeError``, a ``JSONError``)."""


def is_nullish(value: Any) -> bool:
    return value is None or value is UNDEFINED


def get(value: Any, key: str) -> Any:
    """``value[key]``: ``undefined`` when absent; a TypeError on null/undefined."""
    if is_nullish(value):
        raise ScriptError(f"TypeError: Cannot read properties of {to_string(value)} "
                          f"(reading '{key}')")
    if isinstance(value, Mapping):
        return value.get(key, UNDEFINED)
    if isinstance(value, (list, str)) and key.isdigit() and int(key) < len(value):
        return value[int(key)]
    if isinstance(value, (list, str)) and key == "length":
        return len(value)
    return UNDEFINED


def keys(value: Any) -> list[str]:
    """``Object.keys(value)``."""
    if is_nullish(value):
        raise ScriptError("TypeError: Cannot convert undefined or null to object")
    if isinstance(value, Mapping):
        return [str(k) for k in value]
    if isinstance(value, (list, str)):
        return [str(i) for i in range(len(value))]
    return []


def is_string(value: Any) -> bool:
    """chai's ``to.be.a('string')``."""
    return isinstance(value, str)


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def to_string(value: Any) -> str:
    """``String(value)``, as ``'name is ' + value`` produces it."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join("" if is_nullish(v) else to_string(v) for v in value)
    return "[object Object]"


def includes(text: str, value: Any) -> bool:
    """chai's ``expect(text).to.include(value)`` on a string (``indexOf``)."""
    return to_string(value) in text


def _to_number(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if not text:
        return 0.0
    try:
        return float(int(text, 0)) if text.lower().startswith(("0x", "0o", "0b")) else float(text)
    except ValueError:
        return math.nan


def loose_equals(a: Any, b: Any) -> bool:
    """``a == b`` with JavaScript's coercions."""
    if is_nullish(a) or is_nullish(b):
        return is_nullish(a) and is_nullish(b)
    objects = (Mapping, list)
    if isinstance(a, objects) and isinstance(b, objects):
        return a is b  # two decoded JSON objects are never the same object
    if isinstance(a, objects):
        a = to_string(a)
    if isinstance(b, objects):
        b = to_string(b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return _to_number(a) == _to_number(b)


def stored(value: Any) -> Any:
    """A value after ``pm.globals.set``: Postman keeps ``undefined`` as ``null``."""
    return None if value is UNDEFINED else value


def describe(value: Any) -> str:
    """A JSON value in plain words, for reasons: 'a JSON string "abc"'."""
    if value is UNDEFINED:
        return "nothing (undefined)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the JSON boolean {json.dumps(value)}"
    if isinstance(value, (int, float)):
        return f"the JSON number {json.dumps(value)}"
    if isinstance(value, str):
        return f"a JSON string {_short(json.dumps(value, ensure_ascii=False))}"
    if isinstance(value, list):
        return "an empty JSON array" if not value else (
            f"a JSON array of {len(value)} item{'s' if len(value) > 1 else ''}")
    return "a JSON object"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
