"""The embedded storage backend: a journaled TinyDB-format file store (or memory).

:func:`open_database` gives the :class:`~sandbox.repository.Database` for a
``--db`` value: ``":memory:"`` for a throwaway store, otherwise a path whose
snapshot is a TinyDB JSON document with a journal beside it (see
:mod:`sandbox.storage.database`).
"""

from __future__ import annotations

from pathlib import Path

from sandbox.repository import MEMORY
from sandbox.storage.database import TinyDatabase
from sandbox.storage.journal import JournalFailedError
from sandbox.storage.owner import StoreLockedError
from sandbox.storage.snapshot import StoreCorruptError


def open_database(path: str | Path, **options: int) -> TinyDatabase:
    """Open the store at ``path``; ``":memory:"`` gives a throwaway store."""
    if str(path) == MEMORY:
        return TinyDatabase(None)
    return TinyDatabase(Path(path), **options)


__all__ = ["JournalFailedError", "StoreCorruptError", "StoreLockedError", "TinyDatabase",
           "open_database"]
