"""The sandbox's one number model: what a JSON number in a request body becomes.

JSON has one number type, and its spelling carries no meaning (RFC 8259, I-JSON):
``1``, ``1.0``, ``1E0`` and ``10e-1`` are the same number. The two backends keep
numbers differently (the file store as the JSON text Python writes, PostgreSQL as
``numeric`` inside JSONB, which writes ``1e20`` back as ``100000000000000000000`` and
``-0.0`` as ``0.0``), so a number must be in a form both give back unchanged:

* a number whose value is whole is an **integer** (``1.0``, ``1E2``, ``-0.0`` become
  ``1``, ``100``, ``0``) and must lie in the signed 64-bit range, which every layer
  keeps exactly (orjson, PostgreSQL, most clients); a larger one is refused;
* any other number is a finite IEEE double (a literal is rounded to the nearest
  one), written in its shortest round-trip form (``0.1``, ``1.5e-7``). Such a number
  is never whole, so its text has a fraction or a negative exponent, which PostgreSQL
  keeps as the same decimal value.

So the schema's ``integer`` attributes (``creditScore``, ``creditRiskRating``) need no
conversion of their own: an integral value already is an integer, and validation
refuses a fraction. :func:`canonical` is applied to every number of every body by
:mod:`sandbox.domain.json_body`, before anything looks at it.
"""

from __future__ import annotations

import math
from typing import Any

#: The integers every backend keeps exactly: signed 64-bit.
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
RANGE_TEXT = f"{INT_MIN} to {INT_MAX}"


class NumberOutOfRange(ValueError):
    """A whole number beyond :data:`INT_MIN` .. :data:`INT_MAX`."""

    def __init__(self, value: int | float) -> None:
        shown = repr(value) if isinstance(value, float) else str(value)
        if len(shown) > 40:
            shown = f"{shown[:20]}...{shown[-8:]} ({len(shown)} characters)"
        super().__init__(f"{shown} is a whole number outside the signed 64-bit range "
                         f"({RANGE_TEXT}) that the sandbox keeps exactly")


def is_number(value: Any) -> bool:
    """Whether ``value`` is a JSON number (``bool`` is an ``int`` to Python, not to JSON)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def canonical(value: int | float) -> int | float:
    """``value`` in the model: whole numbers as ``int`` (in range), others as ``float``.

    ``value`` is finite: :mod:`~sandbox.domain.json_body` refuses ``1e999`` before.
    """
    whole = value
    if isinstance(value, float):
        if not value.is_integer():
            return value
        whole = int(value)  # also -0.0 -> 0
    if not INT_MIN <= whole <= INT_MAX:
        raise NumberOutOfRange(value)
    return whole


def is_canonical(value: Any) -> bool:
    """Whether a stored number is in the model (stores written before it may hold others)."""
    if not is_number(value):
        return True
    if isinstance(value, float) and not math.isfinite(value):
        return False
    try:
        kept = canonical(value)
    except NumberOutOfRange:
        return False
    return type(kept) is type(value)
