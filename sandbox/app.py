"""The application factory: ``create_app(config)`` wires storage, domain and blueprints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Flask, Response

from sandbox import events, http, postgres, tenancy
from sandbox.api import CUSTOMERS, admin, console, customer, docs, hub, listener
from sandbox.config import API_PREFIX, Config
from sandbox.domain import patterns
from sandbox.domain.customers import CustomerService
from sandbox.errors import ApiError
from sandbox.events.budget import ThreadBudget
from sandbox.hosting.faults import FaultRules, rules_for
from sandbox.hosting.journal import RequestJournal
from sandbox.hosting.registry import Registry
from sandbox.hosting.tenant import Tenant, tenant_store
from sandbox.hosting.tenants_file import ChangeStore, JsonFile, TenantSpec, read_specs
from sandbox.repository import Database
from sandbox.seed import seed_once
from sandbox.storage import open_database


def create_app(config: Config | dict[str, Any] | None = None) -> Flask:
    """Build the sandbox app; ``config`` is a :class:`Config` or overrides of its defaults."""
    settings = config if isinstance(config, Config) else Config().with_overrides(config)
    # No static folder: /static//x would be one more non-JSON answer.
    app = Flask(__name__, static_folder=None)
    app.config.update(SANDBOX=settings, MAX_CONTENT_LENGTH=settings.max_body_bytes)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    # "//" must not be merged into a 308 redirect with an HTML body: it is a 404.
    app.url_map.merge_slashes = False
    # Behind a trusted proxy Werkzeug rewrites the request from X-Forwarded-Proto/Host,
    # so hrefs built from request.host_url are the ones the client can reach.
    app.wsgi_app = http.TrustedProxies(  # type: ignore[method-assign]
        app.wsgi_app, settings.trusted_proxies)
    patterns.configure(patterns.PatternLimits(
        max_length=settings.regex_max_length, max_repeat=settings.regex_max_repeat,
        max_expansion=settings.regex_max_expansion, budget_seconds=settings.regex_budget,
        slots=settings.regex_slots, cache_size=settings.regex_cache_size))

    specs = (read_specs(settings.tenants_file, settings.max_tenants)
             if settings.tenants_file else None)
    faults = _read_faults(settings.faults_file)
    # Hosted, --delivery-workers bounds the delivery threads of all tenants together.
    budget = ThreadBudget(settings.delivery_workers) if specs is not None else None
    tenants = Registry(lambda spec: build_tenant(settings, spec, faults, specs is not None,
                                                 budget),
                       specs, settings.max_tenants, changes=_change_store(settings),
                       drop=lambda spec: drop_store(settings, spec))
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
        return http.json_response({
            "apis": [{"name": "TMF629 Customer Management", "version": "4.0.0", "url": base,
                      "description": f"{base}/api-docs", "docs": f"{base}/docs/"}],
            "admin": [f"{root}/admin/deliveries", f"{root}/admin/received-events",
                      f"{root}/admin/tenants"],
            "console": f"{root}/console/",
        })

    return app


#: Connections each hosted tenant's PostgreSQL pool may open.
HOSTED_CONNECTIONS = 4


def _change_store(settings: Config) -> ChangeStore | None:
    """Where the admin API's tenant changes are kept: the ``public`` schema of a PostgreSQL
    store (every process sharing it sees them), a file beside the tenants' TinyDB stores,
    or nowhere for ``:memory:`` (they last as long as the process).
    """
    if not settings.tenants_file or settings.db_path == ":memory:":
        return None
    if postgres.is_postgres_url(settings.db_path):
        return ChangeStore(postgres.PgKeptDocument(settings.db_path, "hosted-tenants"))
    # "_": no tenant is named so, so the file is never a tenant's store.
    return ChangeStore(JsonFile(Path(tenant_store(settings.db_path, "x")).with_name("_admin.json")))


def _read_faults(path: str | None) -> Any:
    if path is None:
        return []
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read faults file {path}: {exc}") from None


def open_store(settings: Config, spec: TenantSpec, hosted: bool) -> Database:
    """The tenant's store: the ``--db`` store itself, or its own beside it when hosted.

    A hosted tenant gets ``<db stem>.tenants/<name>.json`` (TinyDB) or the
    schema ``tenant_<name>`` (PostgreSQL): stores apart, so no query can
    reach another tenant's documents.
    """
    seed = settings.seed_file if spec.seed else None
    if postgres.is_postgres_url(settings.db_path):
        # PostgreSQL seeds under an advisory lock: processes starting together seed once.
        if not hosted:
            return postgres.open_store(settings.db_path, seed)
        # Many tenants share one server's connections: a small pool each.
        return postgres.open_store(settings.db_path, seed, max_connections=HOSTED_CONNECTIONS,
                                   schema=tenant_schema(spec.name))
    path = tenant_store(settings.db_path, spec.name) if hosted else settings.db_path
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db: Database = open_database(path)
    try:
        seed_once(db.table("customer"), db.table("meta"), seed)
    except BaseException:
        db.close()  # the store's owner lock goes with the app that failed to start
        raise
    return db


def tenant_schema(name: str) -> str:
    return f"tenant_{name.replace('-', '_')}"


def drop_store(settings: Config, spec: TenantSpec) -> None:
    """Remove a deleted (and closed) tenant's store: its schema, or its files (snapshot,
    journal segments, lock). Names hold no '.', so ``<name>.json*`` is this tenant's only."""
    if postgres.is_postgres_url(settings.db_path):
        postgres.drop_schema(settings.db_path, tenant_schema(spec.name))
        return
    if settings.db_path == ":memory:":
        return
    store = Path(tenant_store(settings.db_path, spec.name))
    for path in store.parent.glob(f"{store.name}*"):
        path.unlink(missing_ok=True)


def build_tenant(settings: Config, spec: TenantSpec, faults: Any, hosted: bool,
                 budget: ThreadBudget | None = None) -> Tenant:
    """One tenant: its store, customer service, notifications, journal and fault rules."""
    db = open_store(settings, spec, hosted)
    try:
        service = CustomerService(db.table("customer"))
        # The hub observes the customer service; subscriptions persist like customers.
        notifications = (
            # Hosted on PostgreSQL: one deliverer per tenant (its outbox is shared by every
            # process, so the processes together deliver in parallel).
            postgres.install_events(settings, db, service, 1 if hosted else None)
            if isinstance(db, postgres.PgDatabase)
            else events.install(settings, db.table("hub"), service, budget))
        rules = FaultRules(settings.max_fault_rules, settings.max_fault_delay_ms)
        for rule in rules_for(faults, spec.name):
            try:
                rules.add(rule)
            except ApiError as exc:
                raise ValueError(f"faults file {settings.faults_file}: {exc.message}") from None
    except BaseException:
        db.close()
        raise
    return Tenant(spec, db, service, notifications,
                  settings.seed_file if spec.seed else None,
                  RequestJournal(settings.journal_size, settings.journal_body_bytes), rules)
