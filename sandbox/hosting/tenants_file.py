"""The tenants file (``--tenants tenants.json`` or ``.toml``): names, API keys, seed on/off.

JSON: ``{"tenants": [{"name": "acme", "keys": ["k1"], "seed": true}]}`` (a bare
list works too); TOML: ``[[tenants]]`` tables with the same fields. The tenants
the admin API creates or deletes are kept apart, by the backend's tenant
directory (:mod:`sandbox.hosting.directory`), keys as sha256 digests, so a
restart serves them too and the operator's file is never rewritten.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
#: Keys are secrets: long enough not to be guessed, short enough to fit a header.
MIN_KEY_LENGTH = 16
MAX_KEY_LENGTH = 256
MAX_KEYS = 10
DEFAULT_TENANT = "default"


class TenantsFileError(ValueError):
    """The tenants file or a tenant definition is invalid."""


@dataclass(frozen=True)
class TenantSpec:
    """One tenant as defined: its name, the keys that select it, whether it is seeded,
    and its generation (which of the tenants ever made under this name it is)."""

    name: str
    keys: tuple[str, ...] = ()
    seed: bool = True
    #: sha256 digests of keys kept only as digests (the admin API's tenants).
    hashed: tuple[str, ...] = ()
    #: "" for the tenants file's tenants (and those an older version created); a new
    #: random id each time the admin API creates the name, so its stores are new too.
    generation: str = ""

    @cached_property
    def digests(self) -> tuple[str, ...]:
        """Every key that selects this tenant, as :func:`key_digest` of it."""
        return tuple(key_digest(key) for key in self.keys) + self.hashed

    def kept(self) -> TenantSpec:
        """This tenant with its keys as digests only: the form that is stored."""
        return TenantSpec(self.name, (), self.seed, self.digests, self.generation)


def key_digest(key: str) -> str:
    """sha256 of a key: keys are random high-entropy tokens, so no salt or stretching."""
    return hashlib.sha256(key.encode()).hexdigest()



def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise TenantsFileError(f"tenant name {name!r} is invalid: lowercase letters, digits "
                               "and '-', 1-63 characters, not starting with '-'")
    return name


def parse_spec(item: Any, where: str = "tenant") -> TenantSpec:
    """One tenant definition (a dict with ``name``, ``keys``, optional ``seed``)."""
    if not isinstance(item, dict):
        raise TenantsFileError(f"{where} must be an object with name and keys")
    unknown = sorted(set(item) - {"name", "keys", "seed"})
    if unknown:
        raise TenantsFileError(f"{where}: unknown field(s) {', '.join(unknown)}")
    name = check_name(item.get("name"))
    keys = item.get("keys")
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_KEYS:
        raise TenantsFileError(f"tenant {name}: keys must be a list of 1 to {MAX_KEYS} keys")
    for key in keys:
        if (not isinstance(key, str) or not MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH
                or not key.isprintable() or " " in key):
            raise TenantsFileError(f"tenant {name}: every key must be {MIN_KEY_LENGTH}-"
                                   f"{MAX_KEY_LENGTH} printable characters without spaces")
    seed = item.get("seed", True)
    if not isinstance(seed, bool):
        raise TenantsFileError(f"tenant {name}: seed must be true or false")
    return TenantSpec(name, tuple(keys), seed)


def parse_specs(data: Any, max_tenants: int) -> list[TenantSpec]:
    items = data.get("tenants") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise TenantsFileError("the tenants file must list at least one tenant")
    if len(items) > max_tenants:
        raise TenantsFileError(f"the tenants file lists {len(items)} tenants; at most "
                               f"{max_tenants} are served")
    specs = [parse_spec(item, f"tenant #{index + 1}") for index, item in enumerate(items)]
    names = [spec.name for spec in specs]
    keys = [key for spec in specs for key in spec.keys]
    if len(set(names)) != len(names):
        raise TenantsFileError("tenant names must be unique")
    if len(set(keys)) != len(keys):
        raise TenantsFileError("a key may select one tenant only")
    return specs


def read_specs(path: str | Path, max_tenants: int) -> list[TenantSpec]:
    """The tenants defined in ``path`` (JSON, or TOML when it ends in ``.toml``)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
        data = tomllib.loads(text) if file.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise TenantsFileError(f"cannot read tenants file {path}: {exc}") from None
    return parse_specs(data, max_tenants)
