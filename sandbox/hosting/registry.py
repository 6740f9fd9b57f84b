"""The tenants a server hosts, and which one a key selects (compared in constant time).

Without a tenants file the registry is *open*: one ``default`` tenant, built
as the sandbox always was, serves every request without a key.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from sandbox.errors import ApiError, bad_request
from sandbox.hosting.tenant import Tenant
from sandbox.hosting.tenants_file import (
    DEFAULT_TENANT,
    TenantsFileError,
    TenantSpec,
    merged,
    parse_spec,
    read_changes,
    write_changes,
)


class Registry:
    """Tenants by name; ``build`` opens a tenant's store and services."""

    def __init__(self, build: Callable[[TenantSpec], Tenant], specs: list[TenantSpec] | None,
                 max_tenants: int = 100, changes: Path | None = None) -> None:
        self._build = build
        self.open = specs is None
        self.max_tenants = max_tenants
        #: Where the admin API's creations and deletions are kept (None: not kept).
        self.changes = changes
        self._created, self._deleted = read_changes(changes)
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
            return self._tenants.get(name)

    @property
    def default(self) -> Tenant:
        """The open sandbox's only tenant."""
        return self._tenants[DEFAULT_TENANT]

    def for_key(self, key: str) -> Tenant | None:
        """The tenant ``key`` selects; every key is compared, in constant time each."""
        found = None
        given = key.encode()
        for tenant in self.all():
            for candidate in tenant.spec.keys:
                if hmac.compare_digest(candidate.encode(), given):
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
        with self._lock:
            if spec.name in self._tenants:
                raise ApiError(409, f"Tenant {spec.name} exists", reason="Tenant exists")
            if len(self._tenants) >= self.max_tenants:
                raise ApiError(403, f"This sandbox hosts {self.max_tenants} tenants, its "
                               "maximum", reason="Too many tenants")
            taken = {k for t in self._tenants.values() for k in t.spec.keys}
            if taken & set(spec.keys):
                raise ApiError(409, "A key may select one tenant only", reason="Key in use")
            tenant = self._tenants[spec.name] = self._build(spec)
            self._created = [s for s in self._created if s.name != spec.name] + [spec]
            self._deleted.discard(spec.name)
            self._keep()
        return tenant, list(spec.keys)

    def _keep(self) -> None:
        if self.changes is not None:
            write_changes(self.changes, self._created, self._deleted)

    def delete(self, name: str) -> None:
        """Remove a tenant with its data (its customers and subscriptions are emptied)."""
        if self.open:
            raise ApiError(409, "The default tenant of an open sandbox cannot be deleted",
                           reason="Not a hosted sandbox")
        with self._lock:
            tenant = self._tenants.pop(name, None)
            if tenant is not None:
                self._created = [s for s in self._created if s.name != name]
                self._deleted.add(name)
                self._keep()
        if tenant is None:
            raise ApiError(404, f"No tenant {name}", reason="Resource not found")
        try:
            tenant.erase()
        finally:
            tenant.close()

    def close(self) -> None:
        with self._lock:
            tenants, self._tenants = list(self._tenants.values()), {}
        for tenant in tenants:
            tenant.close()
