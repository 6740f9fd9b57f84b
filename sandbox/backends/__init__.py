"""The one backend seam: everything that differs between storage engines sits behind
:class:`Backend`, one implementation per folder (:mod:`sandbox.backends.tinydb`,
:mod:`sandbox.backends.postgres`).

The app factory asks :func:`open_backend` for the backend a ``--db`` value names and
from then on talks only to the protocol: it never learns which engine is behind it.
The domain talks to the stores the backend opens through :mod:`sandbox.repository`.
"""

from __future__ import annotations

from sandbox.backends.protocol import Backend
from sandbox.config import Config


def open_backend(config: Config) -> Backend:
    """The backend of ``config.db_path``: a ``postgresql://`` URL or a TinyDB file (or
    ``:memory:``). The only place that tells the engines apart by the store's name."""
    if config.db_path.startswith(("postgresql://", "postgres://")):
        from sandbox.backends.postgres.backend import PostgresBackend
        return PostgresBackend(config)
    from sandbox.backends.tinydb.backend import TinyDbBackend
    return TinyDbBackend(config)


__all__ = ["Backend", "open_backend"]
