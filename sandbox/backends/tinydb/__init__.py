"""The embedded storage backend: a journaled TinyDB-format file store (or memory).

:func:`open_database` gives the :class:`~sandbox.repository.Database` for a
``--db`` value: ``":memory:"`` for a throwaway store, otherwise a path whose
snapshot is a TinyDB JSON document with a journal beside it (see
:mod:`sandbox.backends.tinydb.database`).
"""

from __future__ import annotations

from pathlib import Path

from sandbox.backends.tinydb.database import TinyDatabase
from sandbox.backends.tinydb.journal import JournalFailedError
from sandbox.backends.tinydb.owner import StoreLockedError
from sandbox.backends.tinydb.snapshot import StoreCorruptError
from sandbox.repository import MEMORY


def open_database(path: str | Path, **options: int) -> TinyDatabase:
    """Open the store at ``path``; ``":memory:"`` gives a throwaway store."""
    if str(path) == MEMORY:
        return TinyDatabase(None)
    return TinyDatabase(Path(path), **options)


__all__ = ["JournalFailedError", "StoreCorruptError", "StoreLockedError", "TinyDatabase",
           "open_database"]
