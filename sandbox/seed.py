"""Loading the seed customers into a store that has never been seeded.

Seeding happens once per store: a marker in the ``meta`` table remembers it,
so a partner who deletes every customer does not see them come back on the
next start.

The seed files' nested references (``engagedParty``, accounts, payment
methods, related parties, agreements) name other TMF APIs under
``SEED_ORIGIN``, a placeholder: :func:`served_refs` shows them under the
address the client used, as each customer's own ``href`` is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from sandbox.domain import json_body
from sandbox.domain.validation import schema_errors
from sandbox.errors import ApiError
from sandbox.repository import Database, Document, Repository

#: The origin the seed files' nested hrefs are written with; never served as such.
SEED_ORIGIN = "http://localhost:8629"
_SEED_ROOT = SEED_ORIGIN + "/tmf-api/"
_HREF_AT_SEED = b'"href":"' + _SEED_ROOT.encode()


def served_refs(value: Any, api_root: str) -> Any:
    """``value`` with every nested ``href`` under :data:`SEED_ORIGIN` moved to the origin (and
    any proxy prefix) of ``api_root``; the value itself when nothing needs to move."""
    root, found, _ = api_root.partition("/tmf-api/")
    if not found or root == SEED_ORIGIN:
        return value
    served_root = root + "/tmf-api/"
    # Walking a customer in Python cost more than the rest of a GET; its compact JSON text
    # (orjson: a microsecond) shows at once whether an href needs to move, and moving is
    # one replace. In that text '"href":"' can only be a member named href holding a
    # string: inside a string every quote is escaped.
    try:
        text = orjson.dumps(value)
    except TypeError:  # not JSON data as stored (a non-string key, say): walk it
        return _moved(value, served_root)
    if _HREF_AT_SEED not in text:
        return value
    moved = b'"href":' + orjson.dumps(served_root)[:-1]  # the root as JSON, open-ended
    return orjson.loads(text.replace(_HREF_AT_SEED, moved))


def _moved(value: Any, served_root: str) -> Any:
    if isinstance(value, list):
        items = [_moved(item, served_root) for item in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if not isinstance(value, dict):
        return value
    changed = {}
    for key, item in value.items():
        if key == "href" and isinstance(item, str) and item.startswith(_SEED_ROOT):
            changed[key] = served_root + item[len(_SEED_ROOT):]
        elif isinstance(item, (dict, list)):
            moved = _moved(item, served_root)
            if moved is not item:
                changed[key] = moved
    return {**value, **changed} if changed else value


class SeedError(ValueError):
    """The seed file cannot be read or holds an invalid customer."""


def v4_customer_errors(item: Any) -> list[str]:
    return schema_errors("Customer", item)


@dataclass(frozen=True)
class Seed:
    """One more collection a store seeds once (v4's ``customer`` is the store's own seed):
    another API version's customers, its seed file, its marker in ``meta``, its schema."""

    collection: str
    file: str | None
    marker: str
    check: Callable[[Any], list[str]]


def read_seed(path: str | Path,
              check: Callable[[Any], list[str]] = v4_customer_errors) -> list[Document]:
    try:
        # The number model of every body holds for seeded customers too.
        items = json_body.parse(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SeedError(f"cannot read seed file {path}: {exc}") from exc
    except ApiError as exc:
        raise SeedError(f"cannot read seed file {path}: {exc.message}") from None
    if not isinstance(items, list):
        raise SeedError(f"seed file {path} must hold a JSON array of customers")
    docs = []
    for index, item in enumerate(items):
        errors = check(item)
        if not isinstance(item, dict) or "id" not in item or errors:
            reason = "; ".join(errors) or "no 'id'"
            raise SeedError(f"seed file {path}: customer #{index} is invalid: {reason}")
        # href is derived from each request's base URL, never stored.
        docs.append({k: v for k, v in item.items() if k != "href"})
    return docs


def seed_once(customers: Repository, meta: Repository, seed_file: str | Path | None, *,
              marker: str = "seeded",
              check: Callable[[Any], list[str]] = v4_customer_errors) -> int:
    """Insert the seed customers into an empty, never-seeded collection."""
    if seed_file is None or meta.get(marker) is not None:
        return 0
    docs = read_seed(seed_file, check) if customers.count() == 0 else []
    customers.insert_many(docs)
    meta.insert({"id": marker, "file": str(seed_file), "count": len(docs)})
    return len(docs)


def seed_more(db: Database, seeds: Sequence[Seed]) -> None:
    """Seed each of ``seeds`` once (the caller holds what makes seeding exclusive)."""
    for seed in seeds:
        seed_once(db.table(seed.collection), db.table("meta"), seed.file, marker=seed.marker,
                  check=seed.check)
