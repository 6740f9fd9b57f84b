"""A hosted sandbox process for the hosting tests: two tenants, an admin token, faults on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from ctk_runner.embedded import SandboxProcess

ACME_KEY = "acme-key-0123456789abcdef"
GLOBEX_KEY = "globex-key-0123456789abcdef"
ADMIN_TOKEN = "operator-token-0123456789abcdef"
TENANTS = {"tenants": [{"name": "acme", "keys": [ACME_KEY], "seed": True},
                       {"name": "globex", "keys": [GLOBEX_KEY], "seed": False}]}


@dataclass
class Hosted:
    """A running hosted sandbox: its root URL (no trailing slash) and API root."""

    process: SandboxProcess
    root: str
    api: str

    def as_tenant(self, key: str) -> requests.Session:
        session = requests.Session()
        session.headers["X-API-Key"] = key
        return session

    def admin(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        return session

    @classmethod
    def of(cls, process: SandboxProcess) -> Hosted:
        """A started hosted process."""
        api = process.url.rstrip("/")
        return cls(process, api.split("/tmf-api/")[0], api)


def hosted_args(directory: Path, *extra: str, tenants: object = TENANTS) -> list[str]:
    """The command-line options of a hosted sandbox (its tenants file in ``directory``)."""
    file = directory / "tenants.json"
    file.write_text(json.dumps(tenants), encoding="utf-8")
    return ["--tenants", str(file), "--admin-token", ADMIN_TOKEN, "--quiet",
            "--journal-size", "50", *extra]


def hosted_sandbox(directory: Path, *extra: str, tenants: object = TENANTS,
                   db: str | None = None) -> Iterator[Hosted]:
    """Start a hosted sandbox; yields it and stops it at the end."""
    args = hosted_args(directory, *extra, tenants=tenants)
    with SandboxProcess(db=db or str(directory / "hosted-db.json"), extra_args=args) as process:
        yield Hosted.of(process)
