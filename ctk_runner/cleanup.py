"""Guaranteed clean-up: every customer the run created is deleted at the end.

A run against a real deployment must not leave test customers behind, also
when it failed or was stopped with Ctrl-C. :class:`CreatedCustomers` watches
the client's replies (it is a client observer, so every folder's creations
are seen without the suite knowing): a 2xx answer to ``POST <root>customer``
with an ``id`` is a customer to delete, a 2xx or 404 answer to its DELETE
means it is gone. A POST that got no answer may still have created one; with
a ``--run-id`` the payloads carry it as a characteristic (:func:`tag_payload`)
and :func:`delete_created` also sweeps the target for customers carrying it,
deleting only those whose characteristic really holds the tag.

While it deletes, Ctrl-C is deferred (a second one is reported, not obeyed
halfway through a DELETE); what could not be deleted is returned with its id
and reason, for the reports.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode
from uuid import uuid4

from ctk_runner.client import Client, Reply, decode_json
from ctk_runner.model import CleanupResult

#: The characteristic a tagged run adds to every customer it creates.
RUN_ID_CHARACTERISTIC = "ctkRunId"


def new_run_id() -> str:
    """A run id that sorts by time and does not collide: ``ctk-20261201T002657Z-1a2b3c``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"ctk-{stamp}-{uuid4().hex[:6]}"


def tag_payload(payload: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """``payload`` with the run id appended to its ``characteristic`` list."""
    tagged = dict(payload)
    existing = tagged.get("characteristic")
    characteristics = list(existing) if isinstance(existing, list) else []
    characteristics.append({"name": RUN_ID_CHARACTERISTIC, "value": run_id,
                            "valueType": "string"})
    tagged["characteristic"] = characteristics
    return tagged


def is_tagged(instance: Any, run_id: str) -> bool:
    if not isinstance(instance, Mapping) or not isinstance(instance.get("characteristic"), list):
        return False
    return any(isinstance(c, Mapping) and c.get("name") == RUN_ID_CHARACTERISTIC
               and c.get("value") == run_id for c in instance["characteristic"])


class CreatedCustomers:
    """A client observer: the ids of the customers created and not yet deleted."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.collection = root + "customer"
        self.ids: dict[str, None] = {}  # insertion-ordered set
        #: A create got no answer (timeout, reset, Ctrl-C): it may have succeeded.
        self.uncertain = False
        self._lock = threading.Lock()

    def resource_url(self, customer_id: str) -> str:
        return self.collection + "/" + quote(customer_id, safe="")

    def __call__(self, reply: Reply) -> None:
        base = reply.url.split("?", 1)[0].rstrip("/")
        with self._lock:
            if reply.method == "POST" and base == self.collection:
                if reply.status is None:
                    self.uncertain = True
                elif 200 <= reply.status < 300:
                    value, _ = decode_json(reply.text)
                    if isinstance(value, dict) and value.get("id") is not None:
                        self.ids[str(value["id"])] = None
            elif reply.method == "DELETE" and reply.status is not None and (
                    200 <= reply.status < 300 or reply.status == 404):
                for customer_id in list(self.ids):
                    if base == self.resource_url(customer_id):
                        self.ids.pop(customer_id, None)


def delete_created(client: Client, created: CreatedCustomers,
                   labels: Mapping[str, str] | None = None,
                   run_id: str | None = None) -> list[CleanupResult]:
    """Delete every customer still in ``created`` (and, tagged, every stray one)."""
    results: list[CleanupResult] = []
    with _ctrl_c_deferred():
        if run_id is not None:
            for customer_id in _find_tagged(client, created, run_id):
                created.ids.setdefault(customer_id, None)
        for customer_id in list(created.ids):
            url = created.resource_url(customer_id)
            reply = client.send("DELETE", url)
            ok = reply.status is not None and (200 <= reply.status < 300 or reply.status == 404)
            message = "" if ok else (
                reply.error or f"DELETE answered {reply.status} {reply.reason}".rstrip())
            label = (labels or {}).get(customer_id, f"id {customer_id}")
            results.append(CleanupResult(label, url, reply.status, ok, message))
    return results


def leftovers(results: list[CleanupResult]) -> list[CleanupResult]:
    return [r for r in results if not r.ok]


def _find_tagged(client: Client, created: CreatedCustomers, run_id: str) -> list[str]:
    # Servers that ignore the filter send everything: only verified tags count.
    query = urlencode({"characteristic.value": run_id})
    reply = client.send("GET", f"{created.collection}?{query}")
    if reply.status != 200:
        return []
    value, _ = decode_json(reply.text)
    items = value if isinstance(value, list) else []
    return [str(i["id"]) for i in items if is_tagged(i, run_id) and i.get("id") is not None]


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed: list[bool] = []

    def note(signum: int, frame: Any) -> None:
        pressed.append(True)
        print("ctk-runner: Deleting the customers this run created; one moment.",
              file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def describe(results: list[CleanupResult]) -> str:
    """One line for the console: ``Clean-up: 3 deleted, 1 left (id 42: DELETE answered 500)``."""
    left = leftovers(results)
    text = f"Clean-up: {len(results) - len(left)} deleted, {len(left)} left"
    if left:
        text += " (" + "; ".join(f"{r.url}: {r.message}" for r in left) + ")"
    return text

