"""The sandbox's only door to storage: the repository protocol every backend implements.

The domain (``CustomerService``, the notification ``Hub``, seeding) talks to a
:class:`Repository` and never learns which backend is behind it. A backend is
one implementation of :class:`Database` (which hands out one repository per
table) plus its repositories: today the journaled TinyDB file store and its
``":memory:"`` variant (:mod:`sandbox.backends.tinydb`).

Rules every backend keeps:

- Documents are plain JSON dicts keyed by their string ``id``; callers get
  copies, so what they mutate is never the stored state.
- A write (``insert``, ``insert_many``, ``update``, ``delete``) either
  happens completely or not at all: an exception anywhere leaves the store as
  it was, after a restart too. A batch is one write: one document of it that
  cannot be stored (an id already stored or twice in the batch, a value JSON
  cannot hold, a failed disk write) stores none of it.
- ``lock`` is a re-entrant write section. Writes inside one ``with
  repo.lock:`` are applied in that order and the code inside (the observers)
  runs in storage order; leaving the outermost section waits until the writes
  are durable, so a caller answers its client only once they are.
- ``search`` does the whole list query: filters (parsed
  :class:`~sandbox.domain.query.Filter` objects, all of which must hold),
  the total count, the order (only when ``sort`` is given; otherwise storage
  order) and the ``offset``/``limit`` window. ``href`` is not stored: a
  filter or sort key on ``href`` sees ``href_prefix + id``
  (:func:`sandbox.domain.hrefs.href_of`), and what a filter compares with is
  the domain's (:func:`sandbox.domain.query.candidates`, ``bounds``), never a
  backend's own reading.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sandbox.domain.query import Filter
from sandbox.domain.sorting import SortKey

Document = dict[str, Any]
MEMORY = ":memory:"


class StoreGone(LookupError):
    """The store was removed under a running server (a tenant deleted by another process
    sharing the database): every call on it raises this, never a driver's error."""


@dataclass(frozen=True)
class SearchResult:
    """One page of a search (copies) and how many documents matched in all."""

    items: list[Document]
    total: int


class Repository(Protocol):
    """CRUD and search on one table (collection) of a :class:`Database`."""

    @property
    def lock(self) -> AbstractContextManager[Any]:
        """The database's write section: re-entrant; durable when the outermost one ends."""
        ...

    def get(self, ident: str) -> Document | None: ...

    def all(self) -> list[Document]:
        """Every document, in storage order."""
        ...

    def count(self) -> int: ...

    def insert(self, doc: Document) -> None:
        """Store a new document; its ``id`` must not be stored yet."""
        ...

    def insert_many(self, docs: Sequence[Document]) -> None:
        """Store new documents, all or none (ids neither stored nor repeated in ``docs``)."""
        ...

    def update(
        self, ident: str, change: Callable[[Document], Document]
    ) -> tuple[Document, Document] | None:
        """Read, transform and store one document atomically.

        ``change`` gets a copy and returns the new document; if it raises, or
        the result cannot be stored, nothing is stored. Returns ``(before,
        after)``, or None when ``ident`` is unknown.
        """
        ...

    def delete(self, ident: str) -> Document | None:
        """Remove a document; returns it as it was, or None when unknown."""
        ...

    def search(
        self,
        filters: Sequence[Filter],
        *,
        sort: Sequence[SortKey] = (),
        offset: int = 0,
        limit: int | None = None,
        href_prefix: str | None = None,
    ) -> SearchResult:
        """The documents matching every filter: sorted, then ``[offset:offset+limit]``."""
        ...


class Database(Protocol):
    """One store: its tables and its life cycle."""

    def table(self, name: str) -> Repository: ...

    def close(self) -> None:
        """Make everything durable and release the store; idempotent."""
        ...
