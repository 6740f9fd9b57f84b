"""Hosted tenants on the PostgreSQL backend: a schema each, isolated, with the admin
operations. Skips without PostgreSQL unless ``TMF629_REQUIRE_POSTGRES=1``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
from psycopg import sql

from sandbox import create_app
from sandbox.backends.postgres import store_schema
from sandbox.hosting.registry import REFRESH_INTERVAL
from sandbox.hosting.tenants_file import key_digest
from tests import pg_support
from tests.conftest import API, MINIMAL
from tests.hosting_support import ACME_KEY, ADMIN_TOKEN, GLOBEX_KEY, TENANTS, hosted_sandbox


def test_tenants_live_in_schemas_of_their_own(tmp_path: Path) -> None:
    (tmp_path / "tenants.json").write_text(json.dumps(TENANTS))
    with pg_support.scratch_database() as url:
        app = create_app({"db_path": url, "tenants_file": str(tmp_path / "tenants.json"),
                          "admin_token": ADMIN_TOKEN})
        tenants = app.extensions["sandbox.tenants"]
        try:
            client = app.test_client()
            acme, globex = {"X-API-Key": ACME_KEY}, {"Authorization": f"Bearer {GLOBEX_KEY}"}
            seeded = client.get(f"{API}/customer", headers=acme)
            assert int(seeded.headers["X-Total-Count"]) > 0
            assert client.get(f"{API}/customer", headers=globex).json == []
            created = client.post(f"{API}/customer", json=MINIMAL, headers=globex).json
            assert client.get(f"{API}/customer/{created['id']}", headers=acme).status_code == 404
            assert client.get(f"{API}/customer/{created['id']}",
                              headers=globex).status_code == 200
            assert client.get(f"{API}/customer", headers={}).status_code == 401
            admin = {"X-Admin-Token": ADMIN_TOKEN}
            kept = client.get("/admin/tenants/globex/snapshot", headers=admin).json
            assert client.post("/admin/tenants/globex/empty", headers=admin).status_code == 204
            assert client.get(f"{API}/customer", headers=globex).json == []
            assert client.post("/admin/tenants/globex/restore", json=kept,
                               headers=admin).json["customers"] == 1
            assert client.get(f"{API}/customer/{created['id']}",
                              headers=globex).status_code == 200
        finally:
            tenants.close()
            app.extensions["sandbox.backend"].close()
        acme, globex = store_schema("acme"), store_schema("globex")
        with psycopg.connect(url) as conn:
            assert tenant_schemas(conn) == {acme, globex}
            ids = {row[0] for row in conn.execute(sql.SQL(
                "SELECT id FROM {}.document WHERE collection = 'customer'").format(
                    sql.Identifier(globex)))}
            assert ids == {created["id"]}
            in_acme = conn.execute(sql.SQL("SELECT count(*) FROM {}.document WHERE id = %s"
                                           ).format(sql.Identifier(acme)),
                                   (created["id"],)).fetchone()
            assert in_acme == (0,)


def tenant_schemas(conn: psycopg.Connection[tuple[object, ...]]) -> set[str]:
    return {str(row[0]) for row in conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%'")}


def test_created_tenants_are_kept_in_the_database_keys_hashed(tmp_path: Path) -> None:
    """A tenant the admin API creates is known to a second process sharing the database
    and to a restarted one; its key is stored as a sha256 digest, never in clear."""
    with pg_support.scratch_database() as url:
        (tmp_path / "other").mkdir()
        first = hosted_sandbox(tmp_path, db=url)
        second = hosted_sandbox(tmp_path / "other", db=url)
        one, two = next(first), next(second)
        try:
            created = one.admin().post(f"{one.root}/admin/tenants", json={"name": "initech"},
                                       timeout=10)
            assert created.status_code == 201
            key = created.json()["apiKeys"][0]
            assert one.as_tenant(key).get(f"{one.api}/customer", timeout=10).status_code == 200
            # The other process learns of it from the database (after its refresh interval).
            time.sleep(REFRESH_INTERVAL + 0.2)
            assert two.as_tenant(key).get(f"{two.api}/customer", timeout=10).status_code == 200
        finally:
            for running in (first, second):
                running.close()
        with psycopg.connect(url) as conn:
            stored = json.dumps(conn.execute("SELECT * FROM public.hosted_tenant").fetchall())
        assert key not in stored and key_digest(key) in stored
        restarted = hosted_sandbox(tmp_path, db=url)
        again = next(restarted)
        try:
            assert again.as_tenant(key).get(f"{again.api}/customer",
                                            timeout=10).status_code == 200
            assert again.as_tenant("not-a-key-0123456789").get(
                f"{again.api}/customer", timeout=10).status_code == 401
            assert again.admin().delete(f"{again.root}/admin/tenants/initech",
                                        timeout=10).status_code == 204
        finally:
            restarted.close()
        gone = hosted_sandbox(tmp_path, db=url)
        later = next(gone)
        try:
            assert later.as_tenant(key).get(f"{later.api}/customer",
                                            timeout=10).status_code == 401
        finally:
            gone.close()


def test_a_deleted_tenant_leaves_no_schema(tmp_path: Path) -> None:
    with pg_support.scratch_database() as url:
        running = hosted_sandbox(tmp_path, db=url)
        hosted = next(running)
        try:
            admin = hosted.admin()
            made = admin.post(f"{hosted.root}/admin/tenants", json={"name": "ini-tech"},
                              timeout=10)
            assert made.status_code == 201
            assert admin.delete(f"{hosted.root}/admin/tenants/ini-tech",
                                timeout=20).status_code == 204
        finally:
            running.close()
        with psycopg.connect(url) as conn:
            assert tenant_schemas(conn) == {store_schema("acme"), store_schema("globex")}
