"""The tenants a server hosts, and which one a key selects (compared in constant time).

Without a tenants file the registry is *open*: one ``default`` tenant, built
as the sandbox always was, serves every request without a key.

Hosting, the registry serves a :class:`View` of the tenant directory (the
tenants file merged with the admin API's changes, :mod:`sandbox.hosting.directory`):
each key's digest maps to a tenant's name *and generation*, and a tenant opened
in this process serves a key only while its generation is the current one.
Another process's change reaches this one by the directory's ``watch`` hint
(PostgreSQL's NOTIFY) and, should a hint be lost, by a version check at most
once per :data:`REFRESH_INTERVAL`.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from sandbox.errors import ApiError, bad_request
from sandbox.hosting.directory import (
    Deletion,
    MemoryDirectory,
    TenantDirectory,
    creating,
    current,
    new_generation,
)
from sandbox.hosting.tenant import Tenant
from sandbox.hosting.tenants_file import (
    DEFAULT_TENANT,
    TenantsFileError,
    TenantSpec,
    key_digest,
    parse_spec,
)

#: How stale the registry's view of the directory may get when a change hint is lost
#: (seconds): at most one cheap version check per interval.
REFRESH_INTERVAL = 1.0
#: How long closing a deleted tenant waits for its running requests.
DRAIN_SECONDS = 30.0


@dataclass(frozen=True)
class View:
    """One reading of the directory: the tenants served, and every key as
    ``(digest, name, generation)``."""

    version: object
    specs: dict[str, TenantSpec]
    keys: tuple[tuple[str, str, str], ...]

    @classmethod
    def of(cls, version: object, specs: Iterable[TenantSpec]) -> View:
        served = {spec.name: spec for spec in specs}
        return cls(version, served, tuple((digest, spec.name, spec.generation)
                                          for spec in served.values()
                                          for digest in spec.digests))

    def match(self, digest: str) -> TenantSpec | None:
        """The tenant a key digest selects; every digest is compared, in constant time."""
        found = None
        for candidate, name, _ in self.keys:
            if hmac.compare_digest(candidate, digest):
                found = name
        return None if found is None else self.specs[found]

    def serves(self, spec: TenantSpec) -> bool:
        served = self.specs.get(spec.name)
        return served is not None and served.generation == spec.generation


class Registry:
    """Tenants by name; ``build`` opens a tenant's store and services, ``drop`` removes a
    deleted tenant's store and hosted state once it is closed."""

    def __init__(self, build: Callable[[TenantSpec], Tenant], specs: list[TenantSpec] | None,
                 max_tenants: int = 100, directory: TenantDirectory | None = None,
                 drop: Callable[[TenantSpec], None] | None = None,
                 on_close: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._build = build
        self._drop = drop or (lambda spec: None)
        #: Releases what the tenants shared (the backend's pools and threads), last.
        self._on_close = on_close or (lambda: None)
        self.open = specs is None
        self.max_tenants = max_tenants
        self.directory = directory or MemoryDirectory()
        self._file_specs = list(specs) if specs is not None else [TenantSpec(DEFAULT_TENANT)]
        self._clock = clock
        self._lock = threading.Lock()  # the view and the opened tenants
        self._building = threading.Lock()  # one tenant opened at a time
        self._refreshing = threading.Lock()  # one reader of the directory at a time
        self._stale = False
        self._checked = clock()
        self._tenants: dict[str, Tenant] = {}
        self._view = View.of(None, [])
        try:
            self._view = self._read()
            if len(self._view.specs) > max_tenants:
                raise TenantsFileError(f"{len(self._view.specs)} tenants; at most "
                                       f"{max_tenants} are served")
            if not self.open:
                self.directory.watch(self.changed)
            for spec in self._view.specs.values():
                self._open(spec)
        except BaseException:
            self.close()
            raise

    # -- the view ------------------------------------------------------------------------

    def _read(self) -> View:
        if self.open:
            return View.of(None, self._file_specs)
        version = self.directory.version()  # first: the changes read are at least this new
        return View.of(version, current(self._file_specs, self.directory.read()))

    def changed(self) -> None:
        """The directory may have changed (another process's hint, or a store found gone):
        the next lookup reads it again."""
        self._stale = True

    def refresh(self, force: bool = False) -> bool:
        """Catch up with the directory if a hint came, or if it was not checked for
        :data:`REFRESH_INTERVAL` (then only when its version moved). Returns whether it
        looked; a thread finding another one looking goes on with the view it has."""
        if self.open:
            return False
        now = self._clock()
        if not (force or self._stale or now - self._checked >= REFRESH_INTERVAL):
            return False
        if not self._refreshing.acquire(blocking=force):
            return False
        try:
            hinted, self._stale, self._checked = self._stale, False, now
            if not (force or hinted) and self.directory.version() == self._view.version:
                return True
            gone = self._reload()
        finally:
            self._refreshing.release()
        if gone:  # their running requests may take a while: not in this request's thread
            threading.Thread(target=_close_all, args=(gone,), name="tenant-retire",
                             daemon=True).start()
        return True

    def _reload(self) -> list[Tenant]:
        """Serve the directory as it is now; returns the opened tenants it no longer serves."""
        view = self._read()
        with self._lock:
            self._view = view
            gone = [t for t in self._tenants.values() if not view.serves(t.spec)]
            for tenant in gone:
                del self._tenants[tenant.name]
        return gone

    # -- lookups -------------------------------------------------------------------------

    def names(self) -> list[str]:
        self.refresh()
        return sorted(self._view.specs)

    def all(self) -> list[Tenant]:
        self.refresh()
        view = self._view
        return [t for t in (self._open(view.specs[name]) for name in sorted(view.specs)) if t]

    def get(self, name: str) -> Tenant | None:
        self.refresh()
        spec = self._view.specs.get(name)
        return None if spec is None else self._open(spec)

    @property
    def default(self) -> Tenant:
        """The open sandbox's only tenant."""
        return self._tenants[DEFAULT_TENANT]

    def for_key(self, key: str) -> Tenant | None:
        """The tenant ``key`` selects now, in its current generation."""
        self.refresh()
        spec = self._view.match(key_digest(key))
        return None if spec is None else self._open(spec)

    def _open(self, spec: TenantSpec) -> Tenant | None:
        """The opened tenant of ``spec``, opening it on first use; None once the directory
        no longer serves this generation."""
        with self._lock:
            found = self._tenants.get(spec.name)
            if found is not None and found.spec.generation == spec.generation:
                return found
        with self._building:
            with self._lock:
                found = self._tenants.get(spec.name)
                if found is not None and found.spec.generation == spec.generation:
                    return found
                if not self._view.serves(spec):
                    return None
            tenant: Tenant | None = self._build(spec)
            with self._lock:
                stale = [t for t in (self._tenants.get(spec.name),) if t is not None]
                if tenant is not None and self._view.serves(spec):
                    self._tenants[spec.name] = tenant
                else:  # deleted while it was being opened
                    stale, tenant = [t for t in (tenant,) if t is not None], None
        _close_all(stale)
        return tenant

    # -- the admin API -------------------------------------------------------------------

    def create(self, body: object) -> tuple[Tenant, list[str]]:
        """A new tenant from ``{"name", "keys"?, "seed"?}``; generated keys are returned once."""
        if isinstance(body, dict) and "keys" not in body:
            body = {**body, "keys": [secrets.token_urlsafe(24)]}
        try:
            spec = parse_spec(body)
        except TenantsFileError as exc:
            raise bad_request(str(exc), reason="Invalid tenant") from None
        if self.open:
            raise ApiError(409, "This sandbox runs without a tenants file; start it with "
                           "--tenants to host tenants", reason="Not a hosted sandbox")
        # From here on the keys are known by their digests only.
        kept = replace(spec.kept(), generation=new_generation())
        self.directory.update(creating(self._file_specs, kept, self.max_tenants))
        try:
            self._catch_up()
            tenant = self._open(kept)
        except BaseException:
            # A tenant nobody can use (its key was never shown) goes again, if still there.
            with contextlib.suppress(Exception):
                self._forget(kept.name, kept.generation)
                self._drop(kept)
            raise
        if tenant is None:
            raise ApiError(409, f"Tenant {spec.name} was deleted while it was being created",
                           reason="Tenant deleted")
        return tenant, list(spec.keys)

    def delete(self, name: str) -> None:
        """Remove a tenant with its data and its store.

        From the moment it is deleted its keys are unknown (401) in every process; the
        requests already running here finish first (for up to :data:`DRAIN_SECONDS`),
        then its store and hosted state are removed.
        """
        if self.open:
            raise ApiError(409, "The default tenant of an open sandbox cannot be deleted",
                           reason="Not a hosted sandbox")
        removed = self._forget(name)
        self._drop(removed)

    def _forget(self, name: str, generation: str | None = None) -> TenantSpec:
        """Take ``name`` out of the directory; close its opened tenant (waiting for its
        running requests). Returns the tenant's spec as it was."""
        deletion = Deletion(self._file_specs, name, generation)
        self.directory.update(deletion)
        assert deletion.removed is not None
        self._catch_up()
        return deletion.removed

    def _catch_up(self) -> None:
        with self._refreshing:
            self._stale, self._checked = False, self._clock()
            gone = self._reload()
        _close_all(gone)

    def close(self) -> None:
        with self._lock:
            tenants, self._tenants = list(self._tenants.values()), {}
        for tenant in tenants:
            tenant.close()
        self.directory.close()
        self._on_close()


def _close_all(tenants: list[Tenant]) -> None:
    """Retire each tenant (its running requests finish first, bounded), then close it."""
    for tenant in tenants:
        tenant.retire(DRAIN_SECONDS)
        tenant.close()
