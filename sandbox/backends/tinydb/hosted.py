"""Hosted state beside a file store: the tenant directory and each store's fault rules.

One process owns a file store (its owner lock says so), so what it keeps
apart from the stores is read once and then held in memory; every change is
written to a small JSON file, atomically (temporary file, fsync, rename):

- ``<db stem>.tenants/_admin.json``: the admin API's tenant creations (keys as
  digests, with their generation) and deletions, in the format earlier
  versions wrote (which stays readable);
- ``<store>.faults``: a store's fault rules, removed with the store's other
  files when its tenant is deleted.

The request journal and the delivery log stay in memory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox.backends.tinydb.snapshot import remove_leftovers, write_atomically
from sandbox.hosting.directory import Changes, MemoryDirectory, changes_from_json, changes_to_json
from sandbox.hosting.faults import MemoryRules
from sandbox.hosting.tenants_file import TenantsFileError


def read_json(path: Path) -> Any:
    """The JSON document at ``path``; None when there is none yet."""
    remove_leftovers(path)  # of a write a crash interrupted
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TenantsFileError(f"cannot read {path}: {exc}") from None


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, [json.dumps(data, indent=1).encode()])


class FileDirectory(MemoryDirectory):
    """The tenant directory in ``_admin.json``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(changes_from_json(read_json(path)))

    def _keep(self, changes: Changes) -> None:
        write_json(self.path, changes_to_json(changes))


class FileRules(MemoryRules):
    """One store's fault rules in ``<store>.faults`` (``{"rules": [...]}``)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        kept = read_json(path)
        rules = kept.get("rules") if isinstance(kept, dict) else None
        if kept is not None and not (isinstance(rules, list)
                                     and all(isinstance(r, dict) for r in rules)):
            raise TenantsFileError(f"{path}: the kept fault rules must be "
                                   "{\"rules\": [objects]}")
        self._rules = rules

    def _keep(self, rules: list[dict[str, Any]]) -> None:
        write_json(self.path, {"rules": rules})
