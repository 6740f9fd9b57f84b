"""Sandbox settings, shared by the app factory and the command line."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib.resources import files
from typing import Any

API_PREFIX = "/tmf-api/customerManagement/v4"


def default_seed_file() -> str:
    return str(files("fixtures").joinpath("customers.json"))


@dataclass(frozen=True)
class Config:
    """Everything ``create_app`` needs; the defaults serve a local sandbox."""

    db_path: str = "./sandbox-db.json"
    seed_file: str | None = field(default_factory=default_seed_file)
    public_url: str | None = None
    max_body_bytes: int = 1024 * 1024
    trusted_proxy_hops: int = 1

    def with_overrides(self, overrides: dict[str, Any] | None) -> Config:
        return replace(self, **(overrides or {}))
