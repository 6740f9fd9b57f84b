"""The file store's postings (bitmaps) and its one-pass snapshot load give exact answers.

Postings are checked against Python sets: each bucket change, unions and
intersections on random ids. A snapshot loaded in one pass (``bulk.Filling``)
must give the very indexes that adding the same documents one by one gives
(the id map, equality and token indexes), and every search on it, paged deep
into thousands of matches, must give what the definition of a list query
gives on the documents.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from sandbox.backends.tinydb import StoreCorruptError, open_database, postings
from sandbox.backends.tinydb.snapshot import write_snapshot
from sandbox.backends.tinydb.table import TinyTable
from sandbox.backends.tinydb.tokens import COMMON_PATHS
from sandbox.domain import query, sorting
from tests.test_storage_search import DOCS as SEARCH_DOCS
from tests.test_storage_search import expected
from tests.test_tinydb_tokens import DOCS as TOKEN_DOCS

PREFIX = "http://h/customer/"
IDS = st.lists(st.integers(0, 300), max_size=40)


@pytest.mark.parametrize(("steps", "ids"), [
    ([("add", 5)], [5]),
    ([("add", 5), ("add", 5)], [5]),
    ([("add", 5), ("add", 3)], [3, 5]),
    ([("add", 5), ("add", 3), ("discard", 5)], [3]),
    ([("add", 5), ("discard", 5)], []),
    ([("add", 5), ("discard", 4)], [5]),
    ([("discard", 4)], []),
    ([("add", 1), ("add", 2), ("add", 3), ("discard", 2), ("discard", 1)], [3]),
    ([("add", postings.MAX_DOC_ID), ("add", 0)], [0, postings.MAX_DOC_ID]),
])
def test_a_bucket_is_an_id_a_bitmap_or_nothing(steps: list[tuple[str, int]],
                                              ids: list[int]) -> None:
    bucket: postings.Bucket | None = None
    for step, doc_id in steps:
        bucket = postings.add(bucket, doc_id) if step == "add" else postings.discard(
            bucket, doc_id)
    if not ids:
        assert bucket is None
    elif len(ids) == 1:
        assert bucket == ids[0] and isinstance(bucket, int)
    else:
        assert isinstance(bucket, BitMap) and list(bucket) == ids


@settings(max_examples=200, deadline=None)
@given(groups=st.lists(st.one_of(st.none(), st.integers(0, 300), IDS), max_size=5))
def test_unions_and_intersections_are_set_operations(groups: list[Any]) -> None:
    buckets = [g if g is None or isinstance(g, int) else postings.grouped({0: g}).get(0)
               if g else None for g in groups]
    as_sets = [set() if g is None else {g} if isinstance(g, int) else set(g) for g in groups]
    union = postings.union(buckets)
    assert list(union) == sorted(set().union(*as_sets))
    if buckets:
        common = postings.intersection(postings.bitmap(b) for b in buckets)
        assert list(common) == sorted(set.intersection(*as_sets))
    # The union is a bitmap of its own: changing it leaves the buckets as they were.
    union.add(10**6)
    assert all(10**6 not in postings.bitmap(b) for b in buckets)


@settings(max_examples=100, deadline=None)
@given(lists=st.dictionaries(st.sampled_from("abcde"), IDS.filter(bool), max_size=5))
def test_gathered_ids_become_the_same_buckets_as_ids_added_one_by_one(
        lists: dict[str, list[int]]) -> None:
    gathered: dict[str, postings.Held] = {}
    added: dict[str, postings.Bucket] = {}
    for key, ids in lists.items():
        for doc_id in ids:
            postings.note(gathered, key, doc_id)
            added[key] = postings.add(added.get(key), doc_id)
    built = postings.grouped(gathered)
    assert {k: list(postings.bitmap(b)) for k, b in built.items()} == {
        k: list(postings.bitmap(b)) for k, b in added.items()}
    assert {k: isinstance(b, int) for k, b in built.items()} == {
        k: isinstance(b, int) for k, b in added.items()}


def _tokens(table: TinyTable) -> dict[Any, Any]:
    """Every token index as plain values."""
    return {path: index.shape() for path, index in table._tokens.items()}


def _snapshot(path: Path, docs: list[dict[str, Any]], ids: list[int]) -> None:
    write_snapshot(path, [("customer", [(doc_id, orjson.dumps(doc))
                                        for doc_id, doc in zip(ids, docs, strict=False)])])


MIXED = st.one_of(SEARCH_DOCS, TOKEN_DOCS)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(docs=st.lists(MIXED, max_size=20), gaps=st.lists(st.integers(1, 3), min_size=20,
                                                          max_size=20))
def test_a_snapshot_loaded_in_one_pass_has_the_indexes_of_one_by_one(
        tmp_path_factory: pytest.TempPathFactory, docs: list[dict[str, Any]],
        gaps: list[int]) -> None:
    path = tmp_path_factory.mktemp("bulk") / "db.json"
    ids = [sum(gaps[:n + 1]) for n in range(len(docs))]
    docs = [{"id": f"c{n % 7}", **doc} for n, doc in enumerate(docs)]  # ids repeat too
    _snapshot(path, docs, ids)
    one_by_one = open_database(":memory:").table("customer")
    for doc_id, doc in zip(ids, docs, strict=False):
        one_by_one.load(doc_id, orjson.loads(orjson.dumps(doc)), orjson.dumps(doc))
    db = open_database(path)
    try:
        loaded = db.table("customer")
        assert loaded.shape() == one_by_one.shape()
        assert _tokens(loaded) == _tokens(one_by_one)
        assert set(loaded._tokens) == set(COMMON_PATHS)
        assert loaded.frozen() == one_by_one.frozen()
        # The next document goes after the last one the snapshot held.
        loaded.insert({"id": "new"})
        assert loaded.frozen()[-1][0] == (ids[len(docs) - 1] + 1 if docs else 1)
    finally:
        db.close()


@pytest.mark.parametrize("docs", [
    # Raw values that type alike share one token: numbers, instants, the schema's Any.
    [{"creditProfile": [{"creditScore": 601}]}, {"creditProfile": [{"creditScore": 601.0}]},
     {"creditProfile": {"creditScore": 601}}],
    [{"validFor": {"startDateTime": "2024-01-01T00:00:00Z"}},
     {"validFor": {"startDateTime": "2024-01-01T01:00:00+01:00"}}],
    [{"characteristic": [{"value": 1}, {"value": True}, {"value": 1.0}, {"value": "1"}]},
     {"characteristic": [{"value": True}]}, {"characteristic": {"value": [1, [True]]}}],
    [{"characteristic": [{"value": {"k": 1}}, {"value": None}]}, {"characteristic": "x"},
     {"contactMedium": [[{"mediumType": "email"}], {"mediumType": ["fax", "email"]}]}],
])
def test_typed_alike_values_share_a_token_after_a_one_pass_load(
        tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    docs = [{"id": f"c{n}", **doc} for n, doc in enumerate(docs)]
    _snapshot(tmp_path / "db.json", docs, list(range(1, len(docs) + 1)))
    one_by_one = open_database(":memory:").table("customer")
    one_by_one.insert_many(docs)
    db = open_database(tmp_path / "db.json")
    try:
        assert _tokens(db.table("customer")) == _tokens(one_by_one)
    finally:
        db.close()


MEDIUMS = ["email", "phone", "postalAddress", "fax"]
STATUSES = ["Approved", "Pending", "Closed"]
SEGMENTS = ["SME", "Consumer", "Enterprise", 12, True]


def _big_store(rnd: random.Random, count: int) -> list[dict[str, Any]]:
    return [{"id": f"c{n:05d}", "name": f"n{rnd.randrange(count)}",
             "status": rnd.choice(STATUSES),
             "contactMedium": [{"mediumType": rnd.choice(MEDIUMS)}
                               for _ in range(rnd.randrange(3))],
             "characteristic": [{"name": "segment", "value": rnd.choice(SEGMENTS)}]
             if rnd.random() < 0.8 else [],
             "creditProfile": [{"creditScore": rnd.randrange(500, 900)}]}
            for n in range(count)]


@pytest.mark.parametrize("params", [
    [("contactMedium.mediumType", "email")],
    [("contactMedium.mediumType", "email,phone")],
    [("status", "Approved"), ("contactMedium.mediumType", "email")],
    [("status", "Approved,Closed"), ("contactMedium.mediumType", "email,fax"),
     ("characteristic.name", "segment")],
    [("characteristic.value", "12")],
    [("characteristic.value.ne", "SME"), ("status", "Pending")],
    [("creditProfile.creditScore.gte", "700"), ("contactMedium.mediumType", "phone")],
    [("contactMedium.mediumType", "nothing")],
    [],
])
@pytest.mark.parametrize("sort", [[], ["-name"]])
def test_pages_deep_in_thousands_of_matches_are_the_definition(
        tmp_path: Path, params: list[tuple[str, str]], sort: list[str]) -> None:
    docs = _big_store(random.Random(19), 3000)
    path = tmp_path / "db.json"
    _snapshot(path, docs, list(range(1, len(docs) + 1)))
    db = open_database(path)
    try:
        table = db.table("customer")
        table.delete("c00007")  # a write after the load: indexes kept up to date
        table.update("c00011", lambda d: {**d, "contactMedium": [{"mediumType": "fax"}]})
        wanted, keys = query.parse_filters(params), sorting.parse_sort(sort) if sort else []
        for offset, limit in [(0, 100), (1, 7), (1500, 100), (2990, 100), (5000, 10),
                              (0, None)]:
            result = table.search(wanted, sort=keys, offset=offset, limit=limit,
                                  href_prefix=PREFIX)
            assert ([doc["id"] for doc in result.items], result.total) == expected(
                table, wanted, keys, offset, limit), (offset, limit)
    finally:
        db.close()


def test_a_document_given_twice_in_a_snapshot_keeps_the_last(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    write_snapshot(path, [("customer", [(1, b'{"id":"a","status":"Old"}'),
                                        (2, b'{"id":"b","status":"Old"}'),
                                        (1, b'{"id":"a","status":"New"}')])])
    db = open_database(path)
    try:
        table = db.table("customer")
        assert table.search(query.parse_filters([("status", "New")])).total == 1
        assert table.search(query.parse_filters([("status", "Old")])).total == 1
        assert table.get("a") == {"id": "a", "status": "New"}
    finally:
        db.close()


def test_a_doc_id_beyond_32_bits_is_refused_with_the_store_named(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    write_snapshot(path, [("customer", [(postings.MAX_DOC_ID + 1, b'{"id":"a"}')])])
    with pytest.raises(StoreCorruptError, match="doc id"):
        open_database(path)
