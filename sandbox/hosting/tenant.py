"""One tenant: everything ``create_app`` builds for one store, plus its journal and faults.

The operator's store operations live here too: reset to the seed, empty,
snapshot and restore. They write through the repositories directly, so they
send no customer events (they are not partner actions).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.domain.customers import CustomerService
from sandbox.domain.v5 import validation as v5_validation
from sandbox.errors import ApiError, bad_request
from sandbox.events import Notifications
from sandbox.hosting.faults import FaultRules
from sandbox.hosting.journal import RequestJournal
from sandbox.hosting.tenants_file import TenantSpec
from sandbox.repository import Database, Document, Repository
from sandbox.seed import read_seed

SNAPSHOT_FORMAT = "tmf629-sandbox-snapshot/1"
#: A restored subscription keeps its id if it is of this shape (the hub's are UUIDs).
SUBSCRIPTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class Tenant:
    """A partner's private sandbox inside the shared server."""

    spec: TenantSpec
    db: Database
    customers: CustomerService
    notifications: Notifications
    seed_file: str | None
    journal: RequestJournal = field(default_factory=RequestJournal)
    faults: FaultRules = field(default_factory=FaultRules)
    #: TMF629 v5.0.1's customers and notifications (its own collections of the same store).
    customers_v5: CustomerService | None = None
    notifications_v5: Notifications | None = None
    seed_file_v5: str | None = None
    v5_collection: str = "customer_v5"
    #: Requests running for this tenant, and whether it is being deleted (see ``retire``).
    _flight: threading.Condition = field(default_factory=threading.Condition, init=False,
                                         repr=False)
    _in_flight: int = field(default=0, init=False)
    _retired: bool = field(default=False, init=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def customer_table(self) -> Repository:
        return self.db.table("customer")

    def enter(self) -> bool:
        """Count a request in; False once the tenant is retired (it is as good as unknown)."""
        with self._flight:
            if self._retired:
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        with self._flight:
            self._in_flight -= 1
            if self._retired:  # only retire() waits, and only once retired
                self._flight.notify_all()

    def retire(self, timeout: float) -> bool:
        """Refuse new requests and wait up to ``timeout`` seconds for the running ones.

        Returns whether they all finished, so the store can be closed under none of them.
        """
        with self._flight:
            self._retired = True
            return self._flight.wait_for(lambda: self._in_flight == 0, timeout)

    def close(self) -> None:
        self.notifications.close()
        if self.notifications_v5 is not None:
            self.notifications_v5.close()
        self.db.close()

    def summary(self) -> Document:
        return {"name": self.name, "keys": len(self.spec.digests), "seed": self.spec.seed,
                "customers": self.customer_table.count(),
                "subscriptions": len(self.notifications.hub.subscriptions()),
                "faultRules": len(self.faults.all()), "journal": len(self.journal.entries())}

    def empty(self) -> None:
        """No customers, subscriptions, deliveries, received events or journal entries."""
        for subscription in self.notifications.hub.subscriptions():
            self.notifications.hub.unregister(subscription["id"])
        if self.notifications_v5 is not None:
            for subscription in self.notifications_v5.hub.subscriptions():
                self.notifications_v5.hub.unregister(subscription["id"])
            _replace(self.db.table(self.v5_collection), [])
        self._replace_customers([])
        self.notifications.deliveries.clear()
        self.notifications.received.clear()
        self.journal.clear()

    def reset(self) -> int:
        """Back to the seed customers (none when the tenant is unseeded); returns their count."""
        seed = read_seed(self.seed_file) if self.seed_file and self.spec.seed else []
        seed_v5 = (read_seed(self.seed_file_v5, v5_customer_errors)
                   if self.seed_file_v5 and self.spec.seed and self.notifications_v5 else [])
        self.empty()
        self._replace_customers(seed)
        if seed_v5:
            _replace(self.db.table(self.v5_collection), seed_v5)
        return len(seed)

    def snapshot(self) -> Document:
        return {"format": SNAPSHOT_FORMAT, "tenant": self.name,
                "customers": self.customer_table.all(),
                "subscriptions": [{"id": s["id"], "callback": s["callback"],
                                   "query": s.get("query") or ""}
                                  for s in self.notifications.hub.subscriptions()]}

    def restore(self, body: Any, validate: Callable[[Document], list[str]]) -> Document:
        """Replace customers and subscriptions by a snapshot's; nothing changes if it is bad."""
        customers, subscriptions = check_snapshot(body, validate)
        hub = self.notifications.hub
        for index, subscription in enumerate(subscriptions):
            try:
                hub.check({k: v for k, v in subscription.items() if k != "id"})
            except ApiError as exc:
                raise bad_request(f"subscription #{index}: {exc.message}",
                                  reason="Invalid snapshot") from None
        if len(subscriptions) > hub.max_subscriptions:
            raise bad_request(f"A tenant holds at most {hub.max_subscriptions} subscriptions",
                              reason="Invalid snapshot")
        self.empty()
        self._replace_customers(customers)
        for subscription in subscriptions:
            # Same ids as before: a partner's stored subscription ids stay valid.
            body = {k: v for k, v in subscription.items() if k != "id"}
            self.notifications.hub.register(body, subscription.get("id"))
        return {"customers": len(customers), "subscriptions": len(subscriptions)}

    def _replace_customers(self, docs: list[Document]) -> None:
        _replace(self.customer_table, docs)


def _replace(table: Repository, docs: list[Document]) -> None:
    with table.lock:
        for doc in table.all():
            table.delete(doc["id"])
        table.insert_many(docs)


def v5_customer_errors(item: Any) -> list[str]:
    """Why ``item`` is not a stored v5 customer (its ``Customer`` schema)."""
    return v5_validation.schema_errors("Customer", item)


def check_snapshot(body: Any, validate: Callable[[Document], list[str]]
                   ) -> tuple[list[Document], list[Document]]:
    if not isinstance(body, dict) or body.get("format") != SNAPSHOT_FORMAT:
        raise bad_request(f"A snapshot is a JSON object with \"format\": \"{SNAPSHOT_FORMAT}\"",
                          reason="Invalid snapshot")
    customers, subscriptions = body.get("customers"), body.get("subscriptions", [])
    if not isinstance(customers, list) or not isinstance(subscriptions, list):
        raise bad_request("customers and subscriptions must be lists", reason="Invalid snapshot")
    seen: set[str] = set()
    docs = []
    for index, item in enumerate(customers):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise bad_request(f"customer #{index} must be an object with a string id",
                              reason="Invalid snapshot")
        errors = validate(item)
        if errors or item["id"] in seen:
            reason = "; ".join(errors[:3]) or "duplicate id"
            raise bad_request(f"customer #{index} is invalid: {reason}", reason="Invalid snapshot")
        seen.add(item["id"])
        docs.append({k: v for k, v in item.items() if k != "href"})
    taken: set[str] = set()
    for index, item in enumerate(subscriptions):
        if not isinstance(item, dict) or not isinstance(item.get("callback"), str):
            raise bad_request(f"subscription #{index} must be an object with a callback",
                              reason="Invalid snapshot")
        ident = item.get("id")
        if ident is not None and (not isinstance(ident, str) or not SUBSCRIPTION_ID.match(ident)
                                  or ident in taken):
            raise bad_request(f"subscription #{index}: id must be a unique string of 1-64 "
                              "letters, digits, '-', '_' or '.'", reason="Invalid snapshot")
        if ident is not None:
            taken.add(ident)
    # A snapshot without ids (an older one) gets new ids.
    return docs, [{"callback": s["callback"], "query": s.get("query") or "",
                   **({"id": s["id"]} if s.get("id") is not None else {})}
                  for s in subscriptions]

