"""PostgreSQL's own promises: transactions, migrations, seeding once, the admin command.

Each test has a real PostgreSQL database of its own, dropped after it. (The
repository contract itself runs on every backend in test_repository_contract.)
"""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from ctk_runner.notifications.listener import EventListener, Received
from sandbox import create_app
from sandbox.backends.postgres import MIGRATIONS, PgServer, migrate, open_store
from sandbox.backends.postgres.facts import facts_of
from sandbox.domain import patterns, query, sorting
from tests.conftest import API, MINIMAL
from tests.pg_support import database_exists, pg_store, scratch_database

SEED_COUNT = 25


@pytest.fixture
def store() -> Iterator[Any]:
    with scratch_database() as url, pg_store(url) as pg:
        yield pg.table("customer")


def test_a_failing_write_section_rolls_every_write_back(store: Any) -> None:
    # The CRUD contract is tests/test_repository_contract.py (every backend); here,
    # what only PostgreSQL promises: a section is one transaction.
    store.insert({"id": "a", "n": 1})
    with pytest.raises(RuntimeError), store.lock:
        store.insert({"id": "b"})
        store.update("a", lambda doc: {**doc, "n": 2})
        raise RuntimeError("after the writes")
    assert store.get("b") is None and store.get("a") == {"id": "a", "n": 1}


# -- PostgreSQL only: migrations, seeding, admin -------------------------------------------


def test_migrations_apply_once_and_are_recorded(pg_url: str) -> None:
    for _ in range(2):
        with pg_store(pg_url):
            pass
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT version FROM schema_migration ORDER BY version").fetchall()
    assert [row[0] for row in rows] == [version for version, _, _ in MIGRATIONS]


def test_concurrent_starts_seed_once(pg_url: str, tmp_path: Path) -> None:
    def start(_: int) -> int:
        server = PgServer(pg_url, pool_size=2)  # one each, as processes have
        try:
            return open_store(server, _seed_file()).table("customer").count()
        finally:
            server.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = list(pool.map(start, range(4)))
    assert counts == [SEED_COUNT] * 4


def test_a_database_whose_customers_were_deleted_is_not_seeded_again(pg_url: str) -> None:
    app = create_app({"db_path": pg_url})
    client = app.test_client()
    for customer in client.get(f"{API}/customer").get_json():
        assert client.delete(f"{API}/customer/{customer['id']}").status_code == 204
    _close(app)
    again = create_app({"db_path": pg_url})
    assert again.test_client().get(f"{API}/customer").get_json() == []
    _close(again)


def test_data_survives_a_restart_and_is_shared_by_two_apps(pg_url: str) -> None:
    first, second = create_app({"db_path": pg_url}), create_app({"db_path": pg_url})
    created = first.test_client().post(f"{API}/customer", json=MINIMAL).get_json()
    seen = second.test_client().get(f"{API}/customer/{created['id']}")
    assert seen.status_code == 200 and seen.get_json()["name"] == MINIMAL["name"]
    _close(first)
    _close(second)
    third = create_app({"db_path": pg_url})
    assert third.test_client().get(f"{API}/customer").headers["X-Total-Count"] == "26"
    _close(third)


def test_the_migrate_command(pg_url: str) -> None:
    first = subprocess.run(["tmf629-sandbox", "migrate", "--db", pg_url],
                           capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "Applied migration(s) 1" in first.stdout
    again = subprocess.run(["tmf629-sandbox", "migrate", "--db", pg_url, "--list"],
                           capture_output=True, text=True)
    assert again.returncode == 0 and "applied" in again.stdout and "pending" not in again.stdout


def test_an_unreachable_database_is_a_sentence_not_a_traceback() -> None:
    result = subprocess.run(
        ["tmf629-sandbox", "--db", "postgresql://nobody@127.0.0.1:1/none", "--port", "0"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "cannot connect to PostgreSQL" in result.stderr and "Traceback" not in result.stderr


def test_scratch_databases_are_dropped() -> None:
    with scratch_database() as url:
        name = url.rsplit("/", 1)[1]
        assert database_exists(name)
    assert not database_exists(name)


def test_a_nul_character_is_a_400_not_a_500(pg_url: str) -> None:
    app = create_app({"db_path": pg_url, "seed_file": None})
    response = app.test_client().post(f"{API}/customer", json={**MINIMAL, "name": "a\u0000b"})
    assert response.status_code == 400
    assert response.get_json()["@type"] == "Error"
    assert app.test_client().get(f"{API}/customer").get_json() == []
    _close(app)


def test_a_regex_search_on_postgresql_takes_a_regex_slot(pg_url: str) -> None:
    # The pattern bounds hold before PostgreSQL sees a pattern, and so does --regex-slots.
    app = create_app({"db_path": pg_url, "regex_slots": 1})
    client = app.test_client()
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with patterns.slot():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        busy = client.get(f"{API}/customer?name.regex=.")
        assert busy.status_code == 503 and busy.get_json()["reason"] == "Busy"
        assert client.get(f"{API}/customer?name=x").status_code == 200  # no regex, no slot
    finally:
        release.set()
        holder.join()
    try:
        answered = client.get(f"{API}/customer?name.regex=.")
        assert answered.status_code == 200 and answered.get_json()
        bomb = client.get(f"{API}/customer?name.regex=(?:(?:a{{999}}){{999}}){{999}}")
        assert bomb.status_code == 400 and "expands to" in bomb.get_json()["message"]
    finally:
        _close(app)
        patterns.configure(patterns.PatternLimits())


def _seed_file() -> str:
    from sandbox.config import default_seed_file

    return default_seed_file()


def _close(app: Any) -> None:
    app.extensions["sandbox.events"].close(timeout=1)
    app.extensions["sandbox.db"].close()
    app.extensions["sandbox.backend"].close()


# -- the outbox ---------------------------------------------------------------------------


def test_a_failed_attempt_is_retried_before_the_next_event_goes(pg_url: str) -> None:
    answers = iter([503])

    def responder(item: Received) -> int:
        return next(answers, 201)

    with EventListener(responder=responder) as listener:
        app = create_app({"db_path": pg_url, "seed_file": None, "delivery_backoff": 0.2})
        client = app.test_client()
        assert client.post(f"{API}/hub", json={"callback": listener.url}).status_code == 201
        for name in ("First", "Second"):
            assert client.post(f"{API}/customer", json={**MINIMAL, "name": name}).status_code \
                == 201
        arrived = listener.wait_count(3, timeout=20)
        _close(app)
    names = [item.body["event"]["customer"]["name"] for item in arrived]
    assert names == ["First", "First", "Second"]
    assert arrived[0].body["eventId"] == arrived[1].body["eventId"]


def test_a_user_who_may_not_create_tables_gets_a_sentence(pg_url: str) -> None:
    role = f"tmf629_reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        # PostgreSQL 15 grants no CREATE on the public schema to other users.
        parts = urlsplit(pg_url)
        url = urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.rpartition('@')[2]}"))
        result = subprocess.run(["tmf629-sandbox", "--db", url, "--port", "0"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2
        assert "cannot prepare the schema" in result.stderr and "Traceback" not in result.stderr
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_store_of_migration_2_gets_its_fact_rows_and_sizes(pg_url: str) -> None:
    # A database an earlier version kept: migration 4 fills the fact table and the
    # collection sizes from the documents already stored, and searches use them.
    docs = [{"id": f"c{n}", "name": f"N{9 - n}", "creditProfile": [{"creditScore": 600 + n}]}
            for n in range(6)]
    with psycopg.connect(pg_url) as conn:
        assert migrate(conn, migrations=MIGRATIONS[:2]) == [1, 2]
        with conn.transaction():
            for doc in docs:
                conn.execute("INSERT INTO document (collection, id, doc, facts) VALUES "
                             "('customer', %s, %s, %s)", (doc["id"], Jsonb(
                                 doc), Jsonb(facts_of(doc))))
    with pg_store(pg_url) as pg:
        repo = pg.table("customer")
        assert repo.count() == 6
        found = repo.search(query.parse_filters([("creditProfile.creditScore.gte", "603")]),
                            sort=sorting.parse_sort(["name"]))
        assert ([d["id"] for d in found.items], found.total) == (["c5", "c4", "c3"], 3)
        repo.insert({"id": "c9", "name": "A", "creditProfile": [{"creditScore": 700}]})
        assert repo.search(query.parse_filters([("creditProfile.creditScore.gt", "604")]),
                           sort=sorting.parse_sort(["name"])).items[0]["id"] == "c9"
    with psycopg.connect(pg_url) as conn:
        columns = [row[0] for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'document'")]
    assert "tokens" not in columns
