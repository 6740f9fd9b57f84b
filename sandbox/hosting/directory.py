"""The tenant directory: which tenants exist now, in which generation, with which keys.

The tenants file names some tenants; the admin API creates others and deletes
any. What the admin API did is kept by the backend as :class:`Changes` behind
the :class:`TenantDirectory` protocol (a JSON file beside TinyDB stores; tables
of PostgreSQL's ``public`` schema that every process sharing the database
reads), and :func:`current` merges it with the file into the tenants served.

Each creation draws a new *generation* and a tenant's stores and hosted state
are named by name and generation. A process whose cache still holds a deleted
tenant therefore never reaches the data of a tenant made again under its name:
the old key maps to a generation that is no longer current, whose store is gone.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sandbox.errors import ApiError
from sandbox.hosting.tenants_file import (
    MAX_KEYS,
    TenantsFileError,
    TenantSpec,
    check_name,
    parse_spec,
)

DIGEST = re.compile(r"^[0-9a-f]{64}$")
#: A generation is 12 hex digits (48 random bits: never the same twice for one name).
GENERATION = re.compile(r"^[0-9a-f]{12}$")


@dataclass(frozen=True)
class Changes:
    """What the admin API did: tenants it created (keys as digests), in order, and the
    tenants file's tenants it deleted."""

    created: tuple[TenantSpec, ...] = ()
    removed: frozenset[str] = frozenset()


class TenantDirectory(Protocol):
    """Where a backend keeps the :class:`Changes`, shared by every process of a sandbox."""

    def read(self) -> Changes: ...

    def update(self, step: Callable[[Changes], Changes]) -> Changes:
        """Replace the changes by ``step(current)`` atomically (one process at a time); an
        exception from ``step`` changes nothing. Returns the new changes."""
        ...

    def version(self) -> object:
        """A cheap token that differs after any update, by any process."""
        ...

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from any thread) whenever another process may have changed
        the directory; a backend whose directory only this process changes never calls it."""
        ...

    def close(self) -> None: ...


class MemoryDirectory:
    """A directory that lasts as long as the process (``:memory:`` stores, unit tests)."""

    def __init__(self, changes: Changes | None = None) -> None:
        self._changes = changes or Changes()
        self._version = 0
        self._lock = threading.Lock()

    def read(self) -> Changes:
        with self._lock:
            return self._changes

    def update(self, step: Callable[[Changes], Changes]) -> Changes:
        with self._lock:
            changes = step(self._changes)
            self._keep(changes)
            self._changes = changes
            self._version += 1
            return changes

    def _keep(self, changes: Changes) -> None:
        """Where a subclass makes the new changes last (before anyone sees them)."""

    def version(self) -> object:
        with self._lock:
            return self._version

    def watch(self, callback: Callable[[], None]) -> None:
        pass

    def close(self) -> None:
        pass


def new_generation() -> str:
    return secrets.token_hex(6)


def current(specs: Iterable[TenantSpec], changes: Changes) -> list[TenantSpec]:
    """The tenants served: the file's less those deleted, then those created (a name
    already served wins, as it did for what an older version kept)."""
    served = [spec for spec in specs if spec.name not in changes.removed]
    names = {spec.name for spec in served}
    for spec in changes.created:
        if spec.name not in names:
            served.append(spec)
            names.add(spec.name)
    return served


def creating(specs: list[TenantSpec], spec: TenantSpec,
             max_tenants: int) -> Callable[[Changes], Changes]:
    """The step that adds ``spec`` (kept form, with its generation), checked against the
    tenants served at that moment: a free name and keys, room for one more."""
    def step(changes: Changes) -> Changes:
        served = current(specs, changes)
        if any(found.name == spec.name for found in served):
            raise ApiError(409, f"Tenant {spec.name} exists", reason="Tenant exists")
        if len(served) >= max_tenants:
            raise ApiError(403, f"This sandbox hosts {max_tenants} tenants, its maximum",
                           reason="Too many tenants")
        if {d for found in served for d in found.digests} & set(spec.digests):
            raise ApiError(409, "A key may select one tenant only", reason="Key in use")
        return Changes((*changes.created, spec), changes.removed)
    return step


class Deletion:
    """The step that deletes tenant ``name`` (only in ``generation``, if given); ``removed``
    is then the tenant it was."""

    def __init__(self, specs: list[TenantSpec], name: str,
                 generation: str | None = None) -> None:
        self.specs = specs
        self.name = name
        self.generation = generation
        self.removed: TenantSpec | None = None

    def __call__(self, changes: Changes) -> Changes:
        found = {spec.name: spec for spec in current(self.specs, changes)}.get(self.name)
        if found is None or self.generation not in (None, found.generation):
            raise ApiError(404, f"No tenant {self.name}", reason="Resource not found")
        self.removed = found
        in_file = {spec.name for spec in self.specs} & {self.name}
        return Changes(tuple(s for s in changes.created if s.name != self.name),
                       changes.removed | in_file)


def kept_spec(name: Any, digests: Any, seed: Any, generation: Any) -> TenantSpec:
    """A created tenant as a backend kept it, checked (kept data may be hand-edited)."""
    check_name(name)
    if (not isinstance(digests, list | tuple) or not 1 <= len(digests) <= MAX_KEYS
            or not all(isinstance(d, str) and DIGEST.match(d) for d in digests)):
        raise TenantsFileError(f"tenant {name!r}: keyHashes must be 1 to {MAX_KEYS} sha256 "
                               "hex digests")
    if not isinstance(seed, bool):
        raise TenantsFileError(f"tenant {name!r}: seed must be true or false")
    if not isinstance(generation, str) or not (generation == "" or GENERATION.match(generation)):
        raise TenantsFileError(f"tenant {name!r}: generation must be 12 hex digits")
    return TenantSpec(name, (), seed, tuple(digests), generation)


def changes_from_json(data: Any) -> Changes:
    """The JSON form (``_admin.json``): ``created`` with ``keyHashes`` (an older version's
    clear ``keys`` are hashed now) and ``deleted``; None is no changes yet."""
    if data is None:
        return Changes()
    if not isinstance(data, dict):
        raise TenantsFileError("the kept tenant changes must be a JSON object")
    created = []
    for item in data.get("created", []):
        if isinstance(item, dict) and "keyHashes" in item:
            created.append(kept_spec(item.get("name"), item["keyHashes"],
                                     item.get("seed", True), item.get("generation", "")))
        else:
            created.append(parse_spec(item).kept())
    return Changes(tuple(created), frozenset(check_name(name)
                                             for name in data.get("deleted", [])))


def changes_to_json(changes: Changes) -> dict[str, Any]:
    """The stored form: never a clear key, only its digest."""
    return {"created": [{"name": s.name, "keyHashes": list(s.digests), "seed": s.seed,
                         "generation": s.generation} for s in changes.created],
            "deleted": sorted(changes.removed)}
