"""The Customer resource: create, list, retrieve, patch and delete.

Stored documents carry no ``href``: it is derived from the base URL of each
request (:mod:`sandbox.domain.hrefs`), so a customer resolves whichever host
name, port or proxy a client came through. Observers hear of every change
once it is stored, still under the store's lock so they hear changes in
storage order; they must be quick (the notification hub subscribes here, and
only queues events).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sandbox.domain import hrefs, query, sorting
from sandbox.domain.patch import MERGE_PATCH, apply_patch, check_body
from sandbox.domain.validation import reject_unknown_attributes, validate
from sandbox.errors import bad_request, not_found
from sandbox.repository import Document, Repository
from sandbox.seed import served_refs

SERVER_OWNED = ("id", "href")
#: What the conformance kit requires of every instance besides id and href: no patch removes it.
MANDATORY = ("name", "engagedParty", "@type")


class CustomerRules(Protocol):
    """What one API version's model requires of a customer (v4.0.0: :class:`V4Rules`)."""

    #: The create schema's name, as messages name it.
    create_schema: str

    def check_create(self, body: dict[str, Any]) -> Document:
        """A valid create body, completed as it is to be stored (400 otherwise)."""
        ...

    def check_patch(self, body: Any, media_type: str) -> None:
        """Refuse a patch body the version's patch schema does not allow (400)."""
        ...

    def check_result(self, patched: dict[str, Any]) -> None:
        """Refuse the result of a patch that is not a valid customer (400)."""
        ...


class V4Rules:
    """TMF629 v4.0.0: ``Customer_Create`` / ``Customer``; unknown first-level attributes
    refused unless ``@schemaLocation`` is declared; ``@type`` defaults to ``Customer``."""

    create_schema = "Customer_Create"

    def check_create(self, body: dict[str, Any]) -> Document:
        reject_unknown_attributes("Customer_Create", body)
        validate("Customer_Create", body)
        doc = dict(body)
        doc.setdefault("@type", "Customer")
        return doc

    def check_patch(self, body: Any, media_type: str) -> None:
        """v4.0.0 has no patch schema: the result is what is checked."""

    def check_result(self, patched: dict[str, Any]) -> None:
        reject_unknown_attributes("Customer", patched)
        validate("Customer", patched, what="result of the patch")


@dataclass(frozen=True)
class Change:
    """A stored change; ``before``/``after`` are presented (with ``href``)."""

    kind: Literal["create", "update", "delete"]
    before: Document | None
    after: Document | None


Observer = Callable[[Change], None]


@dataclass(frozen=True)
class Page:
    items: list[Document]
    total: int


class CustomerService:
    def __init__(
        self,
        repository: Repository,
        *,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        rules: CustomerRules | None = None,
    ) -> None:
        self._repo = repository
        self.rules: CustomerRules = rules or V4Rules()
        self._new_id = new_id
        self.observers: list[Observer] = []

    # -- presentation -------------------------------------------------------

    @staticmethod
    def present(doc: Document, base_url: str) -> Document:
        """The stored document as clients see it: ``id``, ``href`` first."""
        href = hrefs.href_of(hrefs.prefix(base_url), doc["id"])
        shown: Document = {"id": doc["id"], hrefs.NAME: href}
        # Nested references of seed customers follow the address too (seed.served_refs).
        shown.update((k, v) for k, v in served_refs(doc, base_url).items()
                     if k not in SERVER_OWNED)
        return shown

    def _notify(self, change: Change) -> None:
        for observer in self.observers:
            observer(change)

    # -- operations ---------------------------------------------------------

    def create(self, body: Any, base_url: str) -> Document:
        if not isinstance(body, dict):
            raise bad_request(f"The body must be a JSON object (a {self.rules.create_schema})")
        owned = [key for key in SERVER_OWNED if key in body]
        if owned:
            raise bad_request(
                f"{' and '.join(owned)} must not be sent: the server assigns them",
                reason="Server-owned attribute",
            )
        doc: Document = {"id": self._new_id(), **self.rules.check_create(body)}
        # Observers hear of changes under the store's lock: in the order they were stored.
        with self._repo.lock:
            self._repo.insert(doc)
            created = self.present(doc, base_url)
            self._notify(Change("create", None, created))
        return created

    def list(
        self,
        filters: Iterable[query.Filter],
        base_url: str,
        *,
        sort: Sequence[sorting.SortKey] = (),
        offset: int = 0,
        limit: int | None = None,
    ) -> Page:
        """The customers matching every filter, sorted, then the page asked for.

        The repository filters, counts, sorts and cuts the page; only the page
        is copied and presented.
        """
        found = self._repo.search(list(filters), sort=sort, offset=offset, limit=limit,
                                  href_prefix=hrefs.prefix(base_url))
        return Page([self.present(doc, base_url) for doc in found.items], found.total)

    def get(self, ident: str, base_url: str) -> Document:
        doc = self._repo.get(ident)
        if doc is None:
            raise not_found("customer", ident)
        return self.present(doc, base_url)

    def patch(
        self, ident: str, body: Any, base_url: str, media_type: str = MERGE_PATCH
    ) -> Document:
        """Apply ``body`` read as ``media_type``; nothing is stored unless all of it holds."""
        check_body(body, media_type)
        self.rules.check_patch(body, media_type)

        def apply(stored: Document) -> Document:
            # Patches see what clients see (with href), so "test /href" works.
            shown = self.present(stored, base_url)
            patched = apply_patch(shown, body, media_type)
            if not isinstance(patched, dict):
                raise bad_request("The result of the patch is not a JSON object",
                                  reason="Schema violation")
            for key in SERVER_OWNED:
                if patched.get(key) != shown[key]:
                    raise bad_request(f"'{key}' cannot be changed", reason="Immutable attribute")
            self.rules.check_result(patched)
            removed = [key for key in MANDATORY if key in shown and key not in patched]
            if removed:
                raise bad_request(f"{', '.join(removed)} cannot be removed: every Customer "
                                  "must have it", reason="Mandatory attribute")
            return {k: v for k, v in patched.items() if k != "href"}

        with self._repo.lock:
            outcome = self._repo.update(ident, apply)
            if outcome is None:
                raise not_found("customer", ident)
            before, after = (self.present(doc, base_url) for doc in outcome)
            if before != after:
                self._notify(Change("update", before, after))
        return after

    def delete(self, ident: str, base_url: str) -> None:
        with self._repo.lock:
            removed = self._repo.delete(ident)
            if removed is None:
                raise not_found("customer", ident)
            self._notify(Change("delete", self.present(removed, base_url), None))

