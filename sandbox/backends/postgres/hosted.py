"""Hosted state in PostgreSQL (interim: the tenant directory as one kept document)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.backends.postgres.kept import PgKeptDocument
from sandbox.hosting.directory import Changes, changes_from_json, changes_to_json


class PgDirectory:
    """The tenant directory in the ``kept`` collection of the ``public`` schema."""

    def __init__(self, url: str) -> None:
        self.document = PgKeptDocument(url, "hosted-tenants")

    def read(self) -> Changes:
        return changes_from_json(self.document.read())

    def update(self, step: Callable[[Changes], Changes]) -> Changes:
        done: list[Changes] = []

        def change(data: Any) -> Any:
            done.append(step(changes_from_json(data)))
            return changes_to_json(done[-1])

        self.document.update(change)
        return done[-1]

    def version(self) -> object:
        return self.document.read()

    def watch(self, callback: Callable[[], None]) -> None:
        pass

    def close(self) -> None:
        self.document.close()
