"""TMF630 attribute selection (``fields=``) as plain functions.

``fields=name,engagedParty.id`` keeps the named attributes plus ``id``,
``href`` and ``@type``, which every representation carries; ``fields=none``
keeps only those three. A dotted name selects inside objects, and inside each
element of an array (``contactMedium.mediumType``). Names the resource does
not have are ignored, as TMF630 asks: a selection never fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ALWAYS_SELECTED = ("id", "href", "@type")
NONE = "none"

#: A selection as a tree of names; an empty subtree means "the whole value".
Selection = dict[str, "Selection"]


def parse_fields(raw: str | None) -> Selection | None:
    """``fields=a,b.c`` as a selection tree; None when every attribute is wanted."""
    if raw is None:
        return None
    tree: Selection = {}
    for name in raw.split(","):
        name = name.strip()
        if not name or name == NONE:
            continue
        path = [part for part in name.split(".") if part]
        node = tree
        for depth, part in enumerate(path):
            last = depth == len(path) - 1
            if part in node and not node[part]:
                break  # already selected whole: a narrower selection changes nothing
            child = node.setdefault(part, {})
            if last:
                child.clear()  # the whole value wins over any narrower selection
            node = child
    return tree


def _select(value: Any, tree: Selection) -> Any:
    if not tree:
        return value
    if isinstance(value, list):
        return [_select(item, tree) for item in value]
    if isinstance(value, Mapping):
        return {key: _select(item, tree[key]) for key, item in value.items() if key in tree}
    return value  # a scalar cannot be narrowed; keep it rather than invent a shape


def select_fields(document: Mapping[str, Any], tree: Selection | None) -> dict[str, Any]:
    """Keep the selected attributes (and the three always present) of ``document``."""
    if tree is None:
        return dict(document)
    wanted = {**tree, **{key: {} for key in ALWAYS_SELECTED}}
    return {key: _select(value, wanted[key]) for key, value in document.items() if key in wanted}
