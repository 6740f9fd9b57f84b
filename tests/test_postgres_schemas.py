"""Stores as schemas on one pool: collision-free names, creation from many processes at
once, a store dropped under a running server, and transactions that never cross stores.

Real PostgreSQL: a database per test; each ``PgServer`` stands for one process.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from sandbox import create_app
from sandbox.backends.postgres import MIGRATIONS, PgDatabase, PgServer, drop_schema, store_schema
from sandbox.backends.postgres.backend import PostgresBackend
from sandbox.config import Config
from sandbox.domain import query
from sandbox.repository import StoreGone
from tests.conftest import API, MINIMAL

#: Two longest names (63 characters) sharing a 56-character prefix.
LONG_A = "a" * 56 + "-first1"
LONG_B = "a" * 56 + "-second"


@pytest.mark.parametrize(("tenant", "generation", "prefix"), [
    ("acme", "", "t_acme_"),
    ("ini-tech", "", "t_ini_tech_"),
    ("acme", "2", "t_acme_"),
    (LONG_A, "", "t_" + "a" * 40 + "_"),
    ("x" * 63, "01HZX3J5Q8", "t_" + "x" * 40 + "_"),
])
def test_store_schema_names(tenant: str, generation: str, prefix: str) -> None:
    name = store_schema(tenant, generation)
    assert name.startswith(prefix) and len(name.encode()) <= 63
    digest = name.removeprefix(prefix)
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert store_schema(tenant, generation) == name  # the same store when reopened


@pytest.mark.parametrize(("one", "other"), [
    ((LONG_A, ""), (LONG_B, "")),           # PostgreSQL would cut both to one name
    (("acme", ""), ("acme", "2")),          # a tenant made again under its name
    (("ini-tech", ""), ("ini_tech", "")),   # the same readable prefix
])
def test_store_schema_names_never_collide(one: tuple[str, str],
                                          other: tuple[str, str]) -> None:
    assert store_schema(*one) != store_schema(*other)


def test_two_long_names_sharing_a_prefix_get_stores_of_their_own(pg_url: str,
                                                                  tmp_path: Path) -> None:
    keys = {LONG_A: "key-a-0123456789abcdef", LONG_B: "key-b-0123456789abcdef"}
    tenants = {"tenants": [{"name": name, "keys": [key], "seed": False}
                           for name, key in keys.items()]}
    (tmp_path / "tenants.json").write_text(json.dumps(tenants))
    app = create_app({"db_path": pg_url, "tenants_file": str(tmp_path / "tenants.json")})
    try:
        client = app.test_client()
        made = client.post(f"{API}/customer", json=MINIMAL, headers={"X-API-Key": keys[LONG_A]})
        assert made.status_code == 201
        assert client.get(f"{API}/customer", headers={"X-API-Key": keys[LONG_B]}).json == []
        mine = client.get(f"{API}/customer", headers={"X-API-Key": keys[LONG_A]}).json
        assert [c["id"] for c in mine] == [made.json["id"]]
    finally:
        app.extensions["sandbox.tenants"].close()
        app.extensions["sandbox.backend"].close()
    with psycopg.connect(pg_url) as conn:
        schemas = {row[0] for row in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%'")}
    assert schemas == {store_schema(LONG_A), store_schema(LONG_B)}


def test_a_tenant_made_again_gets_a_new_store(pg_url: str) -> None:
    backend = PostgresBackend(Config(db_path=pg_url, pg_pool_size=2))
    try:
        first = backend.open_store("acme", None, "1")
        first.table("customer").insert({"id": "old"})
        again = backend.open_store("acme", None, "2")
        assert again.table("customer").all() == []
        backend.drop_store("acme", "1")
        assert again.table("customer").count() == 0  # the new store lives on
        with pytest.raises(StoreGone):
            first.table("customer").get("old")
    finally:
        backend.close()


def test_a_store_kept_by_an_earlier_version_is_adopted_under_its_new_name(
        pg_url: str) -> None:
    """Before digests a hosted tenant's store was ``tenant_<name>``: an upgraded server
    renames it once and serves its customers; a tenant made since (generation) does not."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA tenant_old_timer")
    old = PgDatabase(PgServer(pg_url, pool_size=2), "tenant_old_timer")
    old.table("customer").insert({"id": "kept"})
    old.server.close()
    backend = PostgresBackend(Config(db_path=pg_url, pg_pool_size=2))
    try:
        assert backend.open_store("old-timer", None, "7").table("customer").all() == []
        store = backend.open_store("old-timer", None)
        assert store.table("customer").all() == [{"id": "kept"}]
        assert store_schema("old-timer") in _schemas(pg_url)
        assert "tenant_old_timer" not in _schemas(pg_url)
        assert backend.open_store("old-timer", None).table("customer").count() == 1
    finally:
        backend.close()


def _schemas(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {str(row[0]) for row in conn.execute("SELECT nspname FROM pg_namespace")}


def test_stores_are_created_at_once_by_many_processes_without_error(pg_url: str) -> None:
    schemas = ["s_one", "s_two", "s_three"]
    barrier = threading.Barrier(6)

    def start(n: int) -> list[int]:
        running = PgServer(pg_url, pool_size=1)  # one per "process"
        try:
            barrier.wait(30)
            # Every process creates every store, in its own order.
            stores = [PgDatabase(running, schemas[(n + k) % 3]) for k in range(3)]
            return [store.table("customer").count() for store in stores]
        finally:
            running.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        counts = list(pool.map(start, range(6)))
    assert counts == [[0, 0, 0]] * 6
    with psycopg.connect(pg_url) as conn:
        for schema in schemas:
            rows = conn.execute(f"SELECT count(*) FROM {schema}.schema_migration").fetchone()
            assert rows == (len(MIGRATIONS),)  # each migration applied once


def test_a_dropped_store_raises_store_gone(pg_url: str, pg_server: PgServer) -> None:
    other = PgServer(pg_url, pool_size=1)  # another process, which deletes the tenant
    try:
        mine = PgDatabase(pg_server, "t_doomed")
        kept = PgDatabase(pg_server, "t_kept")
        customers = mine.table("customer")
        customers.insert({"id": "1", "name": "x"})
        kept.table("customer").insert({"id": "1", "name": "y"})
        drop_schema(other, "t_doomed")
    finally:
        other.close()
    with pytest.raises(StoreGone):
        customers.get("1")
    with pytest.raises(StoreGone):
        customers.search(query.parse_filters([("name", "x")]))
    with pytest.raises(StoreGone):
        customers.update("1", lambda doc: doc)
    with pytest.raises(StoreGone), customers.lock:
        customers.insert({"id": "2"})
    # The pool is none the worse: the other store still answers, on the same connections.
    assert kept.table("customer").get("1") == {"id": "1", "name": "y"}


def test_the_public_schema_is_never_dropped(pg_server: PgServer) -> None:
    with pytest.raises(ValueError):
        drop_schema(pg_server, "public")


def test_one_connection_serves_two_stores_without_mixing_them(pg_url: str) -> None:
    single = PgServer(pg_url, pool_size=1)
    try:
        left, right = PgDatabase(single, "s_left"), PgDatabase(single, "s_right")
        for n in range(5):
            left.table("customer").insert({"id": f"l{n}"})
            right.table("customer").insert({"id": f"r{n}"})
        assert [d["id"] for d in left.table("customer").all()] == [f"l{n}" for n in range(5)]
        assert [d["id"] for d in right.table("customer").all()] == [f"r{n}" for n in range(5)]
        with pytest.raises(RuntimeError), left.table("customer").lock:
            left.table("customer").delete("l0")
            raise RuntimeError("rolled back")
        assert left.table("customer").count() == 5 and right.table("customer").count() == 5
        # A section's schema does not leak into the next transaction on the connection.
        assert right.table("customer").get("l1") is None
    finally:
        single.close()


def test_the_write_section_is_reentrant_and_one_transaction(pg_server: PgServer) -> None:
    store = PgDatabase(pg_server, "s_section")
    customers = store.table("customer")
    seen: list[int] = []

    def reader() -> None:
        seen.append(customers.count())

    with customers.lock as outer:
        customers.insert({"id": "1"})
        with customers.lock as inner:
            assert inner is outer
            customers.insert({"id": "2"})
        # Not committed yet: another thread (another transaction) sees nothing.
        thread = threading.Thread(target=reader)
        thread.start()
        thread.join(30)
    assert seen == [0] and customers.count() == 2
