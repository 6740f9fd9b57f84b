"""Sandbox settings, shared by the app factory and the command line."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib.resources import files
from typing import Any

API_PREFIX = "/tmf-api/customerManagement/v4"
#: TMF629 v5.0.1: the prefix of the OAS's examples, and its ``servers`` entry as an alias.
API_PREFIX_V5 = "/tmf-api/customerManagement/v5"
API_ALIAS_V5 = "/tmf-api/customer/v5"


def default_seed_file() -> str:
    return str(files("fixtures").joinpath("customers.json"))


def default_v5_seed_file() -> str:
    return str(files("fixtures").joinpath("customers_v5.json"))


@dataclass(frozen=True)
class Config:
    """Everything ``create_app`` needs; the defaults serve a local sandbox."""

    db_path: str = "./sandbox-db.json"
    seed_file: str | None = field(default_factory=default_seed_file)
    #: The v5 customers a new store starts with (None: none); seeded when ``seed_file`` is.
    seed_file_v5: str | None = field(default_factory=default_v5_seed_file)
    public_url: str | None = None
    max_body_bytes: int = 1024 * 1024
    #: Addresses/CIDRs whose X-Forwarded-* headers are believed (one proxy hop).
    trusted_proxies: tuple[str, ...] = ()
    #: Largest page a list returns; a bigger or absent ``limit`` is capped to it.
    max_limit: int = 1000
    # -- limits on what one anonymous request may cost (docs/limits.md) --
    max_json_depth: int = 64
    max_number_length: int = 100
    max_query_params: int = 100
    max_query_bytes: int = 16 * 1024
    regex_max_length: int = 256
    regex_max_repeat: int = 1000
    regex_max_expansion: int = 10_000
    #: Seconds of regex matching one request (or one event's routing) may spend.
    regex_budget: float = 0.5
    #: Regex evaluations running at once in the whole server.
    regex_slots: int = 2
    regex_cache_size: int = 128
    # -- slow clients (sandbox.serving): the peer address counts, never X-Forwarded-For --
    #: Connections one client address (an IPv6 client: its /64) may hold open at once.
    max_connections_per_address: int = 50
    #: Seconds to send a request's line and headers: for the first request of a connection
    #: counted from the connect, for later ones from their first byte.
    head_timeout: float = 10.0
    #: Seconds to send a request's body, counted from the end of its head.
    body_timeout: float = 30.0
    # -- notifications (sandbox.events) --
    #: The interface the server listens on: decides the default callback policy.
    bind_host: str = "127.0.0.1"
    #: CIDRs (or "global") callbacks may target; None: automatic by ``bind_host``.
    callback_networks: tuple[str, ...] | None = None
    #: "listener": POST to <callback>/listener/<eventName>; "exact": to the callback.
    callback_mode: str = "listener"
    delivery_attempts: int = 5
    #: Seconds before the first retry; each further retry waits twice as long.
    delivery_backoff: float = 1.0
    #: (connect, read) timeouts of one delivery attempt, in seconds.
    delivery_timeout: tuple[float, float] = (3.0, 10.0)
    #: Threads delivering events, shared by every subscription (and tenant).
    delivery_workers: int = 4
    #: Threads of the slow lane: attempts slower than a second, and the subscriptions
    #: known to be that slow, so they never hold up the others.
    slow_delivery_workers: int = 8
    max_subscriptions: int = 100
    #: Bytes of received events the listener sink keeps (oldest dropped first).
    sink_max_bytes: int = 8 * 1024 * 1024
    #: PostgreSQL connections in the process's one pool, shared by every store (tenant);
    #: the process holds one more, its listener.
    pg_pool_size: int = 10
    # -- hosting (sandbox.hosting, docs/hosting.md) --
    #: JSON or TOML file of tenants (name, keys, seed); None: one open default tenant.
    tenants_file: str | None = None
    #: The operator's token for /admin; required when hosting tenants or not loopback-only.
    admin_token: str | None = None
    #: JSON file of fault rules loaded at start (a rule without "tenant" applies to all).
    faults_file: str | None = None
    #: Honour "Prefer: code=503" / "Prefer: delay=200"; None: only on a loopback bind_host.
    prefer_faults: bool | None = None
    max_tenants: int = 100
    #: Whether the open sandbox journals its API requests too (hosted tenants always do):
    #: off, a request pays nothing for a journal nobody reads.
    journal: bool = False
    #: Requests each tenant's journal keeps, and bytes of each body it keeps.
    journal_size: int = 200
    journal_body_bytes: int = 4096
    max_fault_rules: int = 50
    max_fault_delay_ms: int = 10_000
    #: Requests that may sleep on a delay fault at once, server-wide (each holds a thread).
    max_delayed_requests: int = 4
    #: A console sign-in ends after this long unused (sessions live in the process).
    console_idle_hours: float = 8.0
    #: Console sessions kept at once; past it the least recently used one ends.
    max_console_sessions: int = 1000

    def with_overrides(self, overrides: dict[str, Any] | None) -> Config:
        return replace(self, **(overrides or {}))
