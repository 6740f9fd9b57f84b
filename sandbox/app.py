"""The application factory: ``create_app(config)`` wires storage, domain and blueprints."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response

from sandbox import events, http, tenancy
from sandbox.api import CUSTOMERS, admin, console, customer, docs, hub, listener, v5
from sandbox.backends import Backend, open_backend
from sandbox.config import API_PREFIX, Config
from sandbox.domain import patterns
from sandbox.domain.customers import CustomerService
from sandbox.domain.v5.rules import V5Rules
from sandbox.errors import ApiError
from sandbox.events.model_v5 import V5_EVENTS
from sandbox.hosting.faults import FaultRules, rules_for
from sandbox.hosting.journal import RequestJournal
from sandbox.hosting.registry import Registry
from sandbox.hosting.tenant import Tenant, v5_customer_errors
from sandbox.hosting.tenants_file import TenantSpec, read_specs
from sandbox.seed import Seed
from sandbox.versions import V5


class SandboxFlask(Flask):
    """Flask, told that every view and hook here is a plain function."""

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        # Flask asks inspect whether each hook and view is a coroutine function, on every
        # request: seven times a GET. None is, so each is called as it is.
        return func


def create_app(config: Config | dict[str, Any] | None = None) -> Flask:
    """Build the sandbox app; ``config`` is a :class:`Config` or overrides of its defaults."""
    settings = config if isinstance(config, Config) else Config().with_overrides(config)
    # No static folder: /static//x would be one more non-JSON answer.
    app = SandboxFlask(__name__, static_folder=None)
    app.config.update(SANDBOX=settings, MAX_CONTENT_LENGTH=settings.max_body_bytes)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    # "//" must not be merged into a 308 redirect with an HTML body: it is a 404.
    app.url_map.merge_slashes = False
    if settings.trusted_proxies:
        # Behind a trusted proxy Werkzeug rewrites the request from X-Forwarded-Proto/Host,
        # so hrefs built from request.host_url are the ones the client can reach. Without
        # one nothing reads X-Forwarded-* (Werkzeug alone never does): no middleware.
        app.wsgi_app = http.TrustedProxies(  # type: ignore[method-assign]
            app.wsgi_app, settings.trusted_proxies)
    patterns.configure(patterns.PatternLimits(
        max_length=settings.regex_max_length, max_repeat=settings.regex_max_repeat,
        max_expansion=settings.regex_max_expansion, budget_seconds=settings.regex_budget,
        slots=settings.regex_slots, cache_size=settings.regex_cache_size))

    specs = (read_specs(settings.tenants_file, settings.max_tenants)
             if settings.tenants_file else None)
    faults = _read_faults(settings.faults_file)
    backend = open_backend(settings)
    hosted = specs is not None
    try:
        tenants = Registry(lambda spec: build_tenant(settings, backend, spec, faults, hosted),
                           specs, settings.max_tenants,
                           directory=backend.directory() if hosted else None,
                           drop=lambda spec: drop_tenant(backend, spec), on_close=backend.close)
    except BaseException:
        backend.close()  # its pool and threads would outlive the app that failed to start
        raise
    app.extensions["sandbox.backend"] = backend
    if tenants.open:  # the single-store names, as before tenancy
        app.extensions[CUSTOMERS] = tenants.default.customers
        app.extensions[events.EXTENSION] = tenants.default.notifications
        app.extensions["sandbox.db"] = tenants.default.db

    http.register(app)
    tenancy.install(app, tenants)
    app.register_blueprint(customer.bp, url_prefix=API_PREFIX)
    app.register_blueprint(hub.bp, url_prefix=API_PREFIX)
    app.register_blueprint(listener.bp, url_prefix=API_PREFIX)
    admin.register(app)
    app.register_blueprint(docs.bp, url_prefix=API_PREFIX)
    v5.register(app)
    app.register_blueprint(console.bp, url_prefix="/console")

    @app.get(API_PREFIX + "/", strict_slashes=False)
    def api_root() -> Response:
        base = http.api_base_url()
        return http.json_response({
            "name": "TMF629 Customer Management",
            "version": "4.0.0",
            "resources": {"customer": f"{base}/customer", "hub": f"{base}/hub"},
        })

    @app.get("/")
    def roots() -> Response:
        base = http.api_base_url()
        root = base.removesuffix(API_PREFIX)
        v5_base = root + V5.prefix
        return http.json_response({
            "apis": [{"name": "TMF629 Customer Management", "version": "4.0.0", "url": base,
                      "description": f"{base}/api-docs", "docs": f"{base}/docs/"},
                     {"name": "TMF629 Customer Management", "version": V5.number,
                      "url": v5_base, "description": f"{v5_base}/api-docs",
                      "docs": f"{v5_base}/docs/",
                      "aliases": [root + prefix for prefix in V5.prefixes[1:]]}],
            "admin": [f"{root}/admin/deliveries", f"{root}/admin/received-events",
                      f"{root}/admin/tenants"],
            "console": f"{root}/console/",
        })

    return app


def _read_faults(path: str | None) -> Any:
    if path is None:
        return []
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read faults file {path}: {exc}") from None


def build_tenant(settings: Config, backend: Backend, spec: TenantSpec, faults: Any,
                 hosted: bool) -> Tenant:
    """One tenant: its store, customer service, notifications, journal and fault rules."""
    seed = settings.seed_file if spec.seed else None
    # The v5 seed goes with the v4 one: --no-seed and an unseeded tenant start empty in both.
    seed_v5 = settings.seed_file_v5 if seed is not None else None
    name = spec.name if hosted else None
    db = backend.open_store(name, seed, spec.generation, more_seeds=[
        Seed(V5.collection, seed_v5, "seeded_v5", v5_customer_errors)])
    try:
        state = backend.hosted_state(name, spec.generation)
        rules = FaultRules(state.rules, settings.max_fault_rules, settings.max_fault_delay_ms)
        try:
            rules.start_with(rules_for(faults, spec.name))
        except ApiError as exc:
            raise ValueError(f"faults file {settings.faults_file}: {exc.message}") from None
        service = CustomerService(db.table("customer"))
        # The hub observes the customer service; subscriptions persist like customers.
        notifications = backend.install_events(db, service, deliveries=state.deliveries)
        service_v5 = CustomerService(db.table(V5.collection), rules=V5Rules())
        try:
            # One delivery log and one listener sink for both versions: an operator sees
            # every delivery and every received event in one place.
            notifications_v5 = backend.install_events(
                db, service_v5, deliveries=notifications.deliveries,
                flavour=V5_EVENTS)
            notifications_v5.received = notifications.received
        except BaseException:
            notifications.close()
            raise
    except BaseException:
        db.close()
        raise
    return Tenant(spec, db, service, notifications, seed,
                  RequestJournal(settings.journal_size, settings.journal_body_bytes,
                                 state.journal, recording=hosted or settings.journal), rules,
                  customers_v5=service_v5, notifications_v5=notifications_v5,
                  seed_file_v5=seed_v5, v5_collection=V5.collection)


def drop_tenant(backend: Backend, spec: TenantSpec) -> None:
    """Remove a deleted (and closed) tenant's store and hosted state."""
    backend.drop_store(spec.name, spec.generation)
    backend.hosted_state(spec.name, spec.generation).forget()
