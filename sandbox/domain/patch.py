"""JSON Merge Patch (RFC 7386) on resource documents.

Written out rather than imported: the RFC's algorithm is a dozen lines and
the maintained JSON libraries here (``jsonpatch``) implement RFC 6902 only.
"""

from __future__ import annotations

import copy
from typing import Any


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
