"""The v5.0.1 customer rules :class:`~sandbox.domain.customers.CustomerService` applies.

* create: ``Customer_FVO`` (``@type`` required, ``Customer`` unless ``@schemaLocation``
  declares an extension; every polymorphic item checked against the schema its ``@type``
  names; unknown attributes refused at any depth unless that object declares
  ``@schemaLocation``);
* merge patch (``application/merge-patch+json`` and ``application/json``): the body
  against ``Customer_MVO``, except that the members the OAS requires at the top level
  (``@type``, ``name``, ``engagedParty``) are not required of a patch (RFC 7386: a merge
  patch names only what changes; they are checked as stand-ins) and ``null`` members
  (removals) are not values to check; JSON Patch bodies are operations, checked as on v4;
* the result of any patch: ``Customer``.
"""

from __future__ import annotations

from typing import Any

from sandbox.domain.patch import JSON, MERGE_PATCH
from sandbox.domain.v5.validation import validate
from sandbox.repository import Document

#: Stand-ins for the members a patch need not name (the result is checked with its own).
_REQUIRED_STAND_INS: Document = {"@type": "Customer", "name": "",
                                 "engagedParty": {"@type": "PartyRef", "id": ""}}


def without_removals(patch: Any) -> Any:
    """A merge patch without its ``null`` members (removals), at every level of objects."""
    if not isinstance(patch, dict):
        return patch
    return {key: without_removals(value) for key, value in patch.items() if value is not None}


class V5Rules:
    """TMF629 v5.0.1's customer model."""

    create_schema = "Customer_FVO"

    def check_create(self, body: dict[str, Any]) -> Document:
        validate("Customer_FVO", body)
        return dict(body)

    def check_patch(self, body: Any, media_type: str) -> None:
        if media_type in (MERGE_PATCH, JSON):
            probe = without_removals(body)
            if isinstance(probe, dict):
                probe = {**{k: v for k, v in _REQUIRED_STAND_INS.items() if k not in body},
                         **probe}
            validate("Customer_MVO", probe)

    def check_result(self, patched: dict[str, Any]) -> None:
        validate("Customer", patched, what="result of the patch")
