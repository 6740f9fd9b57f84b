"""Three hosted sandbox processes on one PostgreSQL database, as behind a load balancer:
tenants, fault rules and the request journal are the same whichever process answers.

Real processes on real ports; a change made through one is asserted on the others by
outcome, with generous deadlines (the design's bound is about a second). Skips without
PostgreSQL unless ``TMF629_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from psycopg import sql
from psycopg.types.json import Jsonb

from sandbox import create_app
from sandbox.backends.postgres.hosted import PgDirectory, PgHosted
from sandbox.backends.postgres.migrations import MIGRATIONS, PUBLIC, migrate
from sandbox.backends.postgres.naming import store_schema
from sandbox.backends.postgres.server import PgServer
from sandbox.hosting.directory import Changes
from sandbox.hosting.tenants_file import TenantSpec, key_digest
from tests import pg_support
from tests.conftest import API, MINIMAL, wait_until
from tests.hosting_support import (
    ACME_KEY,
    ADMIN_TOKEN,
    GLOBEX_KEY,
    TENANTS,
    Hosted,
    hosted_sandbox,
)

#: How long a change may take to reach every process here (the design: about a second).
DEADLINE = 10.0


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Hosted]]:
    """Three processes started at the same moment on one new database."""
    with pg_support.scratch_database() as url:
        runs = [hosted_sandbox(tmp_path_factory.mktemp(f"process{n}"), db=url)
                for n in range(3)]
        started: dict[int, Hosted] = {}
        failed: list[BaseException] = []

        def start(n: int) -> None:
            try:
                started[n] = next(runs[n])
            except BaseException as exc:  # noqa: B036 (reported below, in the test's thread)
                failed.append(exc)

        threads = [threading.Thread(target=start, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            assert not failed, failed
            yield [started[n] for n in range(3)]
        finally:
            for run in runs:
                run.close()


def all_become(check: Callable[[], Any], expected: Any) -> bool:
    return wait_until(lambda: check() == expected, DEADLINE)


def status(session: requests.Session, url: str) -> int:
    return session.get(url, timeout=10).status_code


def test_a_rule_added_through_one_process_fires_on_all_and_its_deletion_too(
        trio: list[Hosted]) -> None:
    one, two, three = trio
    probe = f"/customer/probe-{uuid.uuid4().hex[:8]}"
    rules = f"{one.root}/admin/tenants/acme/faults"
    added = one.admin().post(rules, timeout=10, json={
        "method": "GET", "path": probe, "action": "status", "status": 418})
    assert added.status_code == 201, added.text
    for process in (two, three, one):
        acme = process.as_tenant(ACME_KEY)
        assert all_become(lambda a=acme, p=process: status(a, p.api + probe), 418)
        # ... for acme only
        assert status(process.as_tenant(GLOBEX_KEY), process.api + probe) == 404
    assert [r["id"] for r in two.admin().get(
        f"{two.root}/admin/tenants/acme/faults", timeout=10).json()] == [added.json()["id"]]
    deleted = three.admin().delete(
        f"{three.root}/admin/tenants/acme/faults/{added.json()['id']}", timeout=10)
    assert deleted.status_code == 204
    for process in (one, two, three):
        acme = process.as_tenant(ACME_KEY)
        assert all_become(lambda a=acme, p=process: status(a, p.api + probe), 404)


def test_the_journal_lists_through_one_process_what_the_others_served(
        trio: list[Hosted]) -> None:
    one, two, three = trio
    marker = f"/customer/journal-{uuid.uuid4().hex[:8]}"
    assert status(two.as_tenant(GLOBEX_KEY), two.api + marker) == 404
    assert status(three.as_tenant(GLOBEX_KEY), three.api + marker + "x") == 404

    def listed() -> list[str]:
        entries = one.admin().get(f"{one.root}/admin/tenants/globex/journal", timeout=10,
                                  params={"path": marker}).json()
        return sorted(e["path"].rsplit("/", 1)[-1] for e in entries)

    name = marker.rsplit("/", 1)[-1]
    assert all_become(listed, [name, name + "x"])


def test_the_journal_stays_bounded_per_tenant(trio: list[Hosted]) -> None:
    """``--journal-size 50``: the newest 50 of acme's requests, whoever served them."""
    marker = uuid.uuid4().hex[:8]
    for n in range(60):
        process = trio[n % 3]
        process.as_tenant(ACME_KEY).get(f"{process.api}/customer/{marker}-{n}", timeout=10)

    def kept() -> list[str]:
        entries = trio[0].admin().get(f"{trio[0].root}/admin/tenants/acme/journal",
                                      timeout=10).json()
        return [e["path"].rsplit("/", 1)[-1] for e in entries]

    assert all_become(lambda: f"{marker}-59" in kept(), True)
    entries = kept()
    assert len(entries) == 50  # the newest, by their time (a tie at the edge may swap 9/10)
    assert {f"{marker}-{n}" for n in range(11, 60)} <= set(entries)
    assert not {f"{marker}-{n}" for n in range(9)} & set(entries)


def test_a_deleted_tenant_is_refused_everywhere_and_made_again_starts_afresh(
        trio: list[Hosted]) -> None:
    one, two, three = trio
    name = f"lifecycle-{uuid.uuid4().hex[:6]}"
    made = one.admin().post(f"{one.root}/admin/tenants", json={"name": name, "seed": False},
                            timeout=10)
    assert made.status_code == 201, made.text
    old_key = made.json()["apiKeys"][0]
    for process in trio:
        assert all_become(lambda p=process: status(p.as_tenant(old_key), f"{p.api}/customer"),
                          200)
    assert two.as_tenant(old_key).post(f"{two.api}/customer", json=MINIMAL,
                                       timeout=10).status_code == 201

    assert one.admin().delete(f"{one.root}/admin/tenants/{name}", timeout=30).status_code == 204
    seen: list[int] = []
    for process in (two, three, one):
        def refused(p: Hosted = process) -> bool:
            seen.append(status(p.as_tenant(old_key), f"{p.api}/customer"))
            return seen[-1] == 401
        assert wait_until(refused, DEADLINE)
        listed = process.admin().get(f"{process.root}/admin/tenants", timeout=10)
        assert listed.status_code == 200 and name not in [t["name"] for t in listed.json()]
    assert set(seen) <= {200, 401}  # never a 500 while the news travels

    again = one.admin().post(f"{one.root}/admin/tenants", json={"name": name, "seed": False},
                             timeout=10)
    assert again.status_code == 201, again.text
    new_key = again.json()["apiKeys"][0]
    for process in trio:
        fresh = process.as_tenant(new_key)
        assert all_become(lambda f=fresh, p=process: status(f, f"{p.api}/customer"), 200)
        assert fresh.get(f"{process.api}/customer", timeout=10).json() == []
        assert status(process.as_tenant(old_key), f"{process.api}/customer") == 401
    assert three.admin().delete(f"{three.root}/admin/tenants/{name}",
                                timeout=30).status_code == 204


def test_processes_creating_tenants_at_the_same_moment_never_error(
        trio: list[Hosted]) -> None:
    tag = uuid.uuid4().hex[:6]
    answers: list[tuple[str, int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(9)

    def create(process: Hosted, name: str) -> None:
        barrier.wait(30)
        answer = process.admin().post(f"{process.root}/admin/tenants",
                                      json={"name": name, "seed": False}, timeout=60)
        with lock:
            answers.append((name, answer.status_code))

    # Each process creates two names of its own and all three one common name.
    jobs = [(process, f"c{tag}-{n}-{k}") for n, process in enumerate(trio) for k in range(2)]
    jobs += [(process, f"c{tag}-all") for process in trio]
    threads = [threading.Thread(target=create, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    common = sorted(code for name, code in answers if name.endswith("-all"))
    assert common == [201, 409, 409]
    assert sorted(code for name, code in answers if not name.endswith("-all")) == [201] * 6
    names = {name for name, _ in answers}
    for process in trio:
        def lists_all(p: Hosted = process) -> bool:
            listed = p.admin().get(f"{p.root}/admin/tenants", timeout=10)
            return listed.status_code == 200 and names <= {t["name"] for t in listed.json()}
        assert wait_until(lists_all, DEADLINE)
    for name in names:
        assert trio[0].admin().delete(f"{trio[0].root}/admin/tenants/{name}",
                                      timeout=30).status_code == 204



def test_a_request_meeting_its_dropped_store_is_refused_and_the_list_stays_up(
        tmp_path: Path) -> None:
    """The store of a tenant goes (its deletion through another process, not yet heard of
    here): its key gets a 401, an operator's view of its data a 404, never a 500."""
    (tmp_path / "tenants.json").write_text(json.dumps(TENANTS))
    with pg_support.scratch_database() as url:
        app = create_app({"db_path": url, "tenants_file": str(tmp_path / "tenants.json"),
                          "admin_token": ADMIN_TOKEN})
        try:
            client, admin = app.test_client(), {"X-Admin-Token": ADMIN_TOKEN}
            globex = {"X-API-Key": GLOBEX_KEY}
            assert client.get(f"{API}/customer", headers=globex).status_code == 200
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(
                    sql.Identifier(store_schema("globex"))))
            refused = client.get(f"{API}/customer", headers=globex)
            assert refused.status_code == 401 and refused.json["status"] == "401"
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            gone = client.get("/admin/tenants/globex/snapshot", headers=admin)
            assert gone.status_code == 404 and gone.json["status"] == "404"
            listed = client.get("/admin/tenants", headers=admin)
            assert listed.status_code == 200
            assert [t["name"] for t in listed.json] == ["acme"]
            assert client.get(f"{API}/customer", headers={"X-API-Key": ACME_KEY}
                              ).status_code == 200
        finally:
            app.extensions["sandbox.tenants"].close()


def test_tenants_an_earlier_version_kept_are_carried_into_the_directory() -> None:
    """Before shared migration 1 the admin API's tenants were one JSON document in
    ``public.document``; the migration moves them (clear keys as digests) to the tables."""
    legacy = {"created": [{"name": "hashed", "keyHashes": [key_digest(ACME_KEY)], "seed": False},
                          {"name": "clear", "keys": [GLOBEX_KEY]}],
              "deleted": ["globex"]}
    with pg_support.scratch_database() as url:
        with psycopg.connect(url) as conn:
            # The store tables an earlier version made in public (its migrations 1 and 2).
            migrate(conn, PUBLIC, MIGRATIONS[:2])
            conn.execute("INSERT INTO public.document (collection, id, doc, facts) VALUES "
                         "('kept', 'hosted-tenants', %s, '{}')",
                         (Jsonb({"id": "hosted-tenants", "data": legacy}),))
        server = PgServer(url)
        try:
            hosted = PgHosted(server)
            changes = PgDirectory(hosted).read()
            hosted.close()
        finally:
            server.close()
    assert changes == Changes(
        (TenantSpec("hashed", (), False, (key_digest(ACME_KEY),)),
         TenantSpec("clear", (), True, (key_digest(GLOBEX_KEY),))), frozenset({"globex"}))
