"""The tenants a server hosts, and which one a key selects (compared in constant time).

Without a tenants file the registry is *open*: one ``default`` tenant, built
as the sandbox always was, serves every request without a key.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable

from sandbox.errors import ApiError, bad_request
from sandbox.hosting.tenant import Tenant
from sandbox.hosting.tenants_file import (
    DEFAULT_TENANT,
    ChangeStore,
    TenantsFileError,
    TenantSpec,
    key_digest,
    merged,
    parse_spec,
)

#: A key no tenant knows makes the registry look for tenants other processes made, at most
#: this often (seconds): a stranger's wrong keys cost one small read a second, not one each.
REFRESH_INTERVAL = 1.0
#: How long deleting a tenant waits for its running requests before closing its store.
DRAIN_SECONDS = 30.0


class Registry:
    """Tenants by name; ``build`` opens a tenant's store and services."""

    def __init__(self, build: Callable[[TenantSpec], Tenant], specs: list[TenantSpec] | None,
                 max_tenants: int = 100, changes: ChangeStore | None = None,
                 drop: Callable[[TenantSpec], None] | None = None) -> None:
        self._build = build
        #: Removes a deleted tenant's store (its files or its schema), once it is closed.
        self._drop = drop
        #: Names of tenants being deleted: not made again until their store is gone.
        self._leaving: set[str] = set()
        self.open = specs is None
        self.max_tenants = max_tenants
        #: Where the admin API's creations and deletions are kept (None: not kept).
        self.changes = changes
        self._file_specs = list(specs or [])
        self._created, self._deleted = changes.read() if changes else ([], set())
        self._refreshed = time.monotonic()
        if specs is not None:
            specs = merged(specs, self._created, self._deleted)
            if len(specs) > max_tenants:
                raise TenantsFileError(f"{len(specs)} tenants; at most {max_tenants} are served")
        self._tenants: dict[str, Tenant] = {}
        self._lock = threading.Lock()
        try:
            for spec in specs if specs is not None else [TenantSpec(DEFAULT_TENANT)]:
                self._tenants[spec.name] = build(spec)
        except BaseException:
            self.close()
            raise

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._tenants)

    def all(self) -> list[Tenant]:
        with self._lock:
            return [self._tenants[name] for name in sorted(self._tenants)]

    def get(self, name: str) -> Tenant | None:
        with self._lock:
            found = self._tenants.get(name)
        if found is None and self.refresh():
            with self._lock:
                found = self._tenants.get(name)
        return found

    def refresh(self, force: bool = False) -> bool:
        """Serve the tenants other processes sharing the store created or deleted since.

        Returns whether it looked (at most once per :data:`REFRESH_INTERVAL`).
        """
        if self.open or self.changes is None:
            return False
        with self._lock:
            now = time.monotonic()
            if not force and now - self._refreshed < REFRESH_INTERVAL:
                return False
            self._refreshed = now
            self._created, self._deleted = self.changes.read()
            wanted = {s.name: s for s in merged(self._file_specs, self._created, self._deleted)}
            gone = [self._tenants.pop(name) for name in list(self._tenants)
                    if name not in wanted]
            for name, spec in wanted.items():
                if name not in self._tenants and len(self._tenants) < self.max_tenants:
                    self._tenants[name] = self._build(spec)
        for tenant in gone:  # deleted by another process, which removes the store
            tenant.retire(DRAIN_SECONDS)
            tenant.close()
        return True

    @property
    def default(self) -> Tenant:
        """The open sandbox's only tenant."""
        return self._tenants[DEFAULT_TENANT]

    def for_key(self, key: str) -> Tenant | None:
        """The tenant ``key`` selects; every key is compared, in constant time each."""
        found = self._match(key_digest(key))
        if found is None and self.refresh():
            found = self._match(key_digest(key))
        return found

    def _match(self, given: str) -> Tenant | None:
        found = None
        for tenant in self.all():
            for candidate in tenant.spec.digests:
                if hmac.compare_digest(candidate, given):
                    found = tenant
        return found

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
        self.refresh(force=True)
        with self._lock:
            if spec.name in self._tenants or spec.name in self._leaving:
                raise ApiError(409, f"Tenant {spec.name} exists", reason="Tenant exists")
            if len(self._tenants) >= self.max_tenants:
                raise ApiError(403, f"This sandbox hosts {self.max_tenants} tenants, its "
                               "maximum", reason="Too many tenants")
            taken = {k for t in self._tenants.values() for k in t.spec.digests}
            if taken & set(spec.digests):
                raise ApiError(409, "A key may select one tenant only", reason="Key in use")
            kept = spec.kept()  # from here on the keys are known by their digests only
            tenant = self._tenants[spec.name] = self._build(kept)
            self._keep(lambda created, deleted: (
                [s for s in created if s.name != spec.name] + [kept], deleted - {spec.name}))
        return tenant, list(spec.keys)

    def _keep(self, change: Callable[[list[TenantSpec], set[str]],
                                     tuple[list[TenantSpec], set[str]]]) -> None:
        if self.changes is not None:
            self._created, self._deleted = self.changes.update(change)

    def delete(self, name: str) -> None:
        """Remove a tenant with its data and its store.

        From the moment it is deleted its keys are unknown (401); the requests
        already running finish first (for up to :data:`DRAIN_SECONDS`), then its
        store is emptied, closed and removed.
        """
        if self.open:
            raise ApiError(409, "The default tenant of an open sandbox cannot be deleted",
                           reason="Not a hosted sandbox")
        self.refresh(force=True)  # a tenant another process made can be deleted here too
        with self._lock:
            tenant = self._tenants.pop(name, None)
            if tenant is not None:
                self._leaving.add(name)
                self._keep(lambda created, deleted: (
                    [s for s in created if s.name != name], deleted | {name}))
        if tenant is None:
            raise ApiError(404, f"No tenant {name}", reason="Resource not found")
        try:
            tenant.retire(DRAIN_SECONDS)
            try:
                tenant.erase()
            finally:
                tenant.close()
            if self._drop is not None:
                self._drop(tenant.spec)
        finally:
            with self._lock:
                self._leaving.discard(name)

    def close(self) -> None:
        with self._lock:
            tenants, self._tenants = list(self._tenants.values()), {}
        for tenant in tenants:
            tenant.close()
        if self.changes is not None:
            self.changes.close()
