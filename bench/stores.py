"""Realistic stores for the benchmarks, written directly as a snapshot file.

Customers are the seed fixtures (``fixtures/customers.json``, ~1.6 KB each)
with a fresh unique ``id``, a unique ``name`` and a unique engaged party;
40 % are ``Approved``, the rest spread over the other statuses. Writing the
snapshot (the TinyDB document, in the layout the sandbox itself writes)
directly builds 100,000 customers in seconds instead of 100,000 POSTs.
"""

from __future__ import annotations

import json
import marshal
import random
import uuid
from pathlib import Path
from typing import Any

from fixtures import load_json
from sandbox.backends.tinydb.snapshot import write_snapshot

OTHER_STATUSES = ("Validated", "Pending", "Suspended", "Initialized", "Closed")


def customers(count: int, seed: int = 629, start: int = 0) -> list[dict[str, Any]]:
    """Customers ``start`` to ``start + count - 1`` of the store ``seed`` names: customer n
    is the same whichever slice makes it, so processes can build a large store in parts."""
    templates = load_json("customers.json")
    made = []
    for n in range(start, start + count):
        rnd = random.Random(f"{seed}/{n}")
        doc = marshal.loads(marshal.dumps(templates[n % len(templates)]))  # a fast deep copy
        doc.pop("href", None)
        doc["id"] = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        doc["name"] = f"{doc['name']} #{n}"
        doc["status"] = "Approved" if n % 5 < 2 else OTHER_STATUSES[n % len(OTHER_STATUSES)]
        party = doc.setdefault("engagedParty", {"@referredType": "Organization"})
        party.pop("href", None)
        party["id"] = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        made.append(doc)
    return made


def write_store(path: Path, docs: list[dict[str, Any]]) -> None:
    """The sandbox's own snapshot holding ``docs``, marked as seeded (no seed is loaded)."""
    rows = [(n, json.dumps(doc, ensure_ascii=False).encode())
            for n, doc in enumerate(docs, start=1)]
    seeded = json.dumps({"id": "seeded", "file": "bench", "count": 0}).encode()
    write_snapshot(path, [("customer", rows), ("meta", [(1, seeded)]), ("hub", [])])
