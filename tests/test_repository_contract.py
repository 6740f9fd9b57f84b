"""The repository contract, run against every backend (the ``database`` fixture).

Each test takes ``database`` (or ``repo``, its customer table) from
``tests/conftest.py``, parametrized over ``STORES``: a new backend adds one
entry there and every test here then runs on it too. Results are checked
against a full scan with ``query.matches`` on the presented documents, the
definition of a filter. Two tests at the end of the failure section are the
TinyDB file's own: what a failed or torn batch leaves in its journal.
"""

from __future__ import annotations

import os
import random
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.backends.tinydb import journal as journal_module
from sandbox.backends.tinydb import open_database
from sandbox.backends.tinydb.journal import segments
from sandbox.domain import query, sorting
from sandbox.repository import Database, Document, Repository
from tests.conftest import STORES, StoreKind

PREFIX = "http://h/tmf/customer/"
DURABLE = [kind for kind in STORES if kind.durable]


@pytest.fixture
def repo(database: Database) -> Repository:
    return database.table("customer")


def customer(n: int, **extra: Any) -> Document:
    return {"id": f"c{n:03d}", "name": f"Customer {n}", "status": "Approved" if n % 5 < 2
            else "Pending", "engagedParty": {"id": f"p{n % 7}"}, "@type": "Customer",
            "contactMedium": [{"mediumType": "email" if n % 2 else "phone"}], **extra}


def filters(**params: str) -> list[query.Filter]:
    return query.parse_filters(params.items())


def scan(repo: Repository, wanted: list[query.Filter]) -> list[str]:
    """The ids a full scan of presented documents accepts, in storage order."""
    return [doc["id"] for doc in repo.all()
            if query.matches({"href": PREFIX + doc["id"], **doc}, wanted)]


def ids(repo: Repository, wanted: list[query.Filter], **options: Any) -> list[str]:
    return [doc["id"] for doc in repo.search(wanted, href_prefix=PREFIX, **options).items]


# -- CRUD ----------------------------------------------------------------------------


def test_crud_and_copies(repo: Repository) -> None:
    repo.insert({"id": "1", "tags": ["a"]})
    doc = repo.get("1")
    assert doc == {"id": "1", "tags": ["a"]}
    doc["tags"].append("b")
    assert repo.get("1") == {"id": "1", "tags": ["a"]}
    assert repo.update("1", lambda d: {**d, "tags": []}) == (
        {"id": "1", "tags": ["a"]}, {"id": "1", "tags": []})
    assert repo.update("missing", lambda d: d) is None
    repo.insert_many([{"id": "2", "tags": ["x"]}, {"id": "3"}])
    assert repo.count() == 3
    found = repo.all()
    found[1]["tags"].append("y")
    assert repo.get("2") == {"id": "2", "tags": ["x"]}
    assert repo.delete("1") == {"id": "1", "tags": []}
    assert repo.delete("1") is None and repo.get("1") is None
    assert [d["id"] for d in repo.all()] == ["2", "3"]


def test_a_duplicate_id_is_refused_and_changes_nothing(repo: Repository) -> None:
    repo.insert({"id": "1", "v": 1})
    with pytest.raises(ValueError, match="already stored"):
        repo.insert({"id": "1", "v": 2})
    assert repo.all() == [{"id": "1", "v": 1}]


BAD_BATCHES = [
    ("an id already stored", [customer(5), customer(1), customer(6)]),
    ("an id twice in the batch", [customer(5), customer(6), customer(5)]),
    ("a value JSON cannot hold", [customer(5), customer(6), {**customer(7), "when": object()}]),
    ("a number JSON cannot hold", [customer(5), {**customer(6), "score": float("nan")}]),
]


@pytest.mark.parametrize(("why", "batch"), BAD_BATCHES, ids=[why for why, _ in BAD_BATCHES])
def test_a_batch_that_fails_anywhere_stores_none_of_it(
        store_kind: StoreKind, tmp_path: Path, why: str, batch: list[Document]) -> None:
    db = store_kind.open(tmp_path)
    try:
        repo = db.table("customer")
        repo.insert(customer(1))
        with pytest.raises((TypeError, ValueError)):
            repo.insert_many(batch)
        assert repo.all() == [customer(1)] and repo.count() == 1
        assert repo.get("c005") is None and ids(repo, filters(**{"@type": "Customer"})) == [
            "c001"]
        # Nothing of the batch holds its ids: the good part goes in afterwards.
        repo.insert_many([customer(5), customer(6)])
    finally:
        db.close()
    if store_kind.durable:
        again = store_kind.open(tmp_path)
        try:
            assert again.table("customer").all() == [customer(1), customer(5), customer(6)]
        finally:
            again.close()


def test_a_refused_batch_inside_a_write_section_leaves_the_section_usable(
        store_kind: StoreKind, tmp_path: Path) -> None:
    db = store_kind.open(tmp_path)
    try:
        repo = db.table("customer")
        repo.insert(customer(1))
        with repo.lock:
            with pytest.raises(ValueError):
                repo.insert_many([customer(5), customer(1)])
            repo.insert(customer(7))  # the section goes on after the refusal
        assert [doc["id"] for doc in repo.all()] == ["c001", "c007"]
    finally:
        db.close()
    if store_kind.durable:
        again = store_kind.open(tmp_path)
        try:
            assert [doc["id"] for doc in again.table("customer").all()] == ["c001", "c007"]
        finally:
            again.close()


def test_a_batch_whose_journal_write_fails_leaves_none_of_it_on_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The TinyDB file's journal: the disk fills up while the batch's third document is
    # written. Nothing of the batch stays in memory, nor in the journal a restart replays.
    path = tmp_path / "store" / "db.json"
    db = open_database(path)
    repo = db.table("customer")
    repo.insert(customer(1))
    real_write = os.write

    def full_at_c004(fd: int, data: Any) -> int:
        chunk = bytes(data)
        if b'"c004"' not in chunk:
            return real_write(fd, chunk)
        real_write(fd, chunk[:chunk.index(b'"c004"')])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_module.os, "write", full_at_c004)
    with pytest.raises(OSError, match="No space"):
        repo.insert_many([customer(n) for n in range(2, 7)])
    monkeypatch.setattr(journal_module.os, "write", real_write)
    assert repo.all() == [customer(1)] and repo.get("c002") is None
    shutil.copytree(path.parent, tmp_path / "crashed")  # the disk as a crash leaves it
    db.close()
    for directory in (path.parent, tmp_path / "crashed"):
        again = open_database(directory / "db.json")
        assert again.table("customer").all() == [customer(1)], directory
        again.close()


def test_a_torn_batch_is_replayed_not_at_all(tmp_path: Path) -> None:
    # A crash tears the batch's journal record: the restart shows none of its documents.
    path = tmp_path / "store" / "db.json"
    db = open_database(path)
    db.table("customer").insert(customer(1))
    db.table("customer").insert_many([customer(n) for n in range(2, 7)])
    shutil.copytree(path.parent, tmp_path / "crashed")
    db.close()
    [(_, segment)] = segments(tmp_path / "crashed" / "db.json")
    os.truncate(segment, segment.stat().st_size - 40)
    again = open_database(tmp_path / "crashed" / "db.json")
    try:
        assert again.table("customer").all() == [customer(1)]
    finally:
        again.close()


def test_tables_are_separate(database: Database) -> None:
    database.table("a").insert({"id": "1"})
    assert database.table("b").get("1") is None
    assert database.table("a").get("1") == {"id": "1"}


@pytest.mark.parametrize("kind", DURABLE, ids=[kind.name for kind in DURABLE])
def test_data_survives_a_reopen(kind: StoreKind, tmp_path: Path) -> None:
    db = kind.open(tmp_path)
    repo = db.table("customer")
    repo.insert_many([customer(n) for n in range(5)])
    repo.update("c001", lambda d: {**d, "status": "Rejected"})
    repo.delete("c003")
    db.close()
    again = kind.open(tmp_path)
    try:
        assert again.table("customer").all() == [
            customer(0), {**customer(1), "status": "Rejected"}, customer(2), customer(4)]
    finally:
        again.close()


# -- a failed write changes nothing (issue 9) -----------------------------------------


def test_a_change_that_raises_stores_nothing(repo: Repository) -> None:
    repo.insert(customer(1))

    def half_done(doc: Document) -> Document:
        doc["name"] = "half"
        doc.clear()
        raise RuntimeError("change failed")

    with pytest.raises(RuntimeError):
        repo.update("c001", half_done)
    assert repo.get("c001") == customer(1)
    assert ids(repo, filters(name="Customer 1")) == ["c001"]
    assert ids(repo, filters(name="half")) == []


def test_a_value_that_cannot_be_stored_stores_nothing(repo: Repository) -> None:
    repo.insert(customer(1))
    with pytest.raises((TypeError, ValueError)):
        repo.update("c001", lambda d: {**d, "status": "Gone", "note": {1, 2}})
    with pytest.raises((TypeError, ValueError)):
        repo.update("c001", lambda d: {**d, "status": "Gone", "score": float("nan")})
    with pytest.raises((TypeError, ValueError)):
        repo.insert({**customer(2), "when": object()})
    assert repo.all() == [customer(1)]
    assert ids(repo, filters(status="Gone")) == [] and repo.get("c002") is None


# -- search ----------------------------------------------------------------------------


@pytest.fixture
def filled(repo: Repository) -> Repository:
    repo.insert_many([customer(n) for n in range(40)])
    repo.insert({"id": "odd", "name": 42, "status": ["Approved"], "engagedParty": "x"})
    repo.insert({"id": "a-null", "status": None, "engagedParty": {"id": None}})
    return repo


SEARCHES = [
    {}, {"name": "Customer 7"}, {"name": "Customer 7,Customer 9"}, {"name": "nobody"},
    {"status": "Approved"}, {"status": "Approved", "engagedParty.id": "p3"},
    {"engagedParty.id": "p1,p2"}, {"@type": "Customer"}, {"id": "c005"},
    {"id": "c005,c006,zzz"}, {"href": PREFIX + "c010"}, {"href": "http://other/c010"},
    {"href.regex": "c01[0-3]$"}, {"name": "42"}, {"status.ne": "Approved"},
    {"contactMedium.mediumType": "email", "status": "Pending"}, {"name.regex": "^Customer 3"},
    {"id": "c005", "status": "Pending"}, {"id.gte": "c030"},
    # a stored null equals "null", also where an index answers
    {"status": "null"}, {"engagedParty.id": "null"}, {"status": "null,Pending"},
]


@pytest.mark.parametrize("params", SEARCHES, ids=str)
def test_search_agrees_with_a_full_scan(filled: Repository, params: dict[str, str]) -> None:
    wanted = filters(**params)
    result = filled.search(wanted, href_prefix=PREFIX)
    assert [d["id"] for d in result.items] == scan(filled, wanted)
    assert result.total == len(result.items)


def test_search_pages_sorts_and_counts(filled: Repository) -> None:
    wanted = filters(status="Approved", **{"@type": "Customer"})
    every = scan(filled, wanted)
    result = filled.search(wanted, offset=3, limit=4, href_prefix=PREFIX)
    assert [d["id"] for d in result.items] == every[3:7] and result.total == len(every)
    assert ids(filled, wanted, offset=len(every)) == []
    assert ids(filled, wanted, limit=0) == []
    backwards = ids(filled, wanted, sort=sorting.parse_sort(["-name"]))
    assert backwards == sorted(every, key=lambda i: f"Customer {int(i[1:])}", reverse=True)
    by_href = ids(filled, [], sort=sorting.parse_sort(["-href"]), limit=3)
    assert by_href == ["odd", "c039", "c038"]


@pytest.mark.parametrize(("offset", "limit"), [(0, 1), (1, 2), (3, 20), (15, None), (40, 5)])
def test_search_pages_an_indexed_filter(filled: Repository, offset: int,
                                        limit: int | None) -> None:
    for params in ({"status": "Approved"}, {"href": PREFIX + "c003"}, {}):
        wanted = filters(**params)
        every = scan(filled, wanted)
        result = filled.search(wanted, offset=offset, limit=limit, href_prefix=PREFIX)
        end = None if limit is None else offset + limit
        assert [d["id"] for d in result.items] == every[offset:end]
        assert result.total == len(every)


def test_search_results_are_copies(filled: Repository) -> None:
    page = filled.search(filters(id="c001")).items
    page[0]["engagedParty"]["id"] = "changed"
    assert filled.get("c001") == customer(1)


def test_search_does_not_see_href_without_a_prefix(filled: Repository) -> None:
    assert filled.search(filters(href=PREFIX + "c001")).total == 0


# -- indexes stay consistent -------------------------------------------------------------

VALUES = st.sampled_from(["A", "B", "C"])
DOCS = st.fixed_dictionaries({}, optional={
    "name": st.one_of(VALUES, st.integers(0, 2)),
    "status": VALUES,
    "engagedParty": st.one_of(st.fixed_dictionaries({"id": VALUES}),
                              st.lists(st.fixed_dictionaries({"id": VALUES}), max_size=2)),
    "@type": VALUES,
})
OPERATIONS = st.lists(st.tuples(st.sampled_from(["insert", "update", "delete"]),
                                st.integers(0, 6), DOCS), max_size=30)
PROBES = [{path: value} for path in ("name", "status", "engagedParty.id", "@type", "id")
          for value in ("A", "B", "C", "1", "k3", "A,B")]


def check_indexes(repo: Repository) -> None:
    for params in PROBES:
        wanted = filters(**params)
        assert ids(repo, wanted) == scan(repo, wanted), params


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_indexes_match_a_full_scan_after_any_writes(
    store_kind: StoreKind, operations: list[tuple[str, int, Document]],
    tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("store")
    db = store_kind.open(directory)
    try:
        repo = db.table("customer")
        for op, key, body in operations:
            ident = f"k{key}"
            if op == "insert" and repo.get(ident) is None:
                repo.insert({"id": ident, **body})
            elif op == "update":
                repo.update(ident, lambda d, body=body: {"id": d["id"], **body})  # type: ignore[misc]
            elif op == "delete":
                repo.delete(ident)
        check_indexes(repo)
        expected = repo.all()
    finally:
        db.close()
    if store_kind.durable:
        again = store_kind.open(directory)
        try:
            assert again.table("customer").all() == expected
            check_indexes(again.table("customer"))
        finally:
            again.close()


def test_concurrent_writers_and_readers(repo: Repository) -> None:
    repo.insert_many([customer(n) for n in range(20)])
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        rnd = random.Random(seed)
        try:
            for _ in range(60):
                n = rnd.randrange(20)
                repo.update(f"c{n:03d}", lambda d: {**d, "status": rnd.choice(["Approved", "X"])})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(60):
                result = repo.search(filters(status="Approved"))
                assert all(d["status"] == "Approved" for d in result.items)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    check_indexes(repo)
