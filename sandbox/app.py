"""The application factory: ``create_app(config)`` wires storage, domain and blueprints."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response

from sandbox import events, http, postgres
from sandbox.api import CUSTOMERS, admin, customer, hub, listener
from sandbox.config import API_PREFIX, Config
from sandbox.domain import patterns
from sandbox.domain.customers import CustomerService
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

    # PostgreSQL seeds under an advisory lock: processes starting together seed once.
    db: Database = (postgres.open_store(settings.db_path, settings.seed_file)
                    if postgres.is_postgres_url(settings.db_path)
                    else open_database(settings.db_path))
    try:
        customers = db.table("customer")
        if not isinstance(db, postgres.PgDatabase):
            seed_once(customers, db.table("meta"), settings.seed_file)
        service = app.extensions[CUSTOMERS] = CustomerService(customers)
        # The hub observes the customer service; subscriptions persist like customers.
        app.extensions[events.EXTENSION] = (
            postgres.install_events(settings, db, service) if isinstance(db, postgres.PgDatabase)
            else events.install(settings, db.table("hub"), service))
    except BaseException:
        db.close()  # the store's owner lock goes with the app that failed to start
        raise
    app.extensions["sandbox.db"] = db

    http.register(app)
    app.register_blueprint(customer.bp, url_prefix=API_PREFIX)
    app.register_blueprint(hub.bp, url_prefix=API_PREFIX)
    app.register_blueprint(listener.bp, url_prefix=API_PREFIX)
    app.register_blueprint(admin.bp, url_prefix="/admin")

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
        return http.json_response({
            "apis": [{"name": "TMF629 Customer Management", "version": "4.0.0", "url": base}],
            "admin": [f"{base.removesuffix(API_PREFIX)}/admin/deliveries",
                      f"{base.removesuffix(API_PREFIX)}/admin/received-events"],
        })

    return app
