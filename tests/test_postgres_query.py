"""The query tables on both backends, and a randomized comparison of their answers.

The filter and sort tables of ``test_query`` and ``test_sorting`` run through
``Repository.search`` on a TinyDB file and through ``PgRepository.search`` on a
real PostgreSQL database (its own, dropped afterwards); then seeded random
customers and random queries must get the same page and total from both.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from fixtures import load_json
from sandbox.backends.postgres import PgDatabase, PgServer
from sandbox.backends.tinydb import open_database
from sandbox.domain import patterns, query, sorting
from sandbox.errors import ApiError
from sandbox.repository import Document, SearchResult
from tests import test_query, test_sorting
from tests.pg_support import scratch_database

PREFIX = "http://h/customer/"
BACKENDS = ["tinydb", "postgresql"]


class Backends:
    """The same documents in a TinyDB file and in a PostgreSQL database."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.tiny_db = open_database(tmp / "store.json")
        self.server = PgServer(url, pool_size=4)
        self.pg = PgDatabase(self.server)
        self.repos: dict[str, Any] = {
            "tinydb": self.tiny_db.table("customer"),
            "postgresql": self.pg.table("customer"),
        }

    def load(self, docs: list[Document]) -> None:
        stored = [{k: v for k, v in doc.items() if k != "href"} for doc in docs]
        for repo in self.repos.values():
            repo.insert_many(stored)

    def search(self, backend: str, text: str, sort: str = "", offset: int = 0,
               limit: int | None = None) -> SearchResult:
        filters = query.parse_filters(parse_qsl(text, keep_blank_values=True))
        keys = sorting.parse_sort([sort])
        result: SearchResult = self.repos[backend].search(
            filters, sort=keys, offset=offset, limit=limit, href_prefix=PREFIX)
        return result

    def close(self) -> None:
        self.tiny_db.close()
        self.pg.close()
        self.server.close()


def backends_with(tmp: Path, docs: list[Document]) -> Iterator[Backends]:
    with scratch_database() as url:
        pair = Backends(tmp, url)
        pair.load(docs)
        yield pair
        pair.close()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    yield from backends_with(tmp_path_factory.mktemp("small"), test_query.DOCS)


@pytest.fixture(scope="module")
def sortable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    yield from backends_with(tmp_path_factory.mktemp("sort"), test_sorting.DOCS)


def ids(result: SearchResult) -> list[str]:
    return [doc["id"] for doc in result.items]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("text", "expected"), test_query.FILTERS,
                         ids=[c[0] for c in test_query.FILTERS])
def test_filter_table(small: Backends, backend: str, text: str, expected: list[str]) -> None:
    result = small.search(backend, text)
    assert ids(result) == expected
    assert result.total == len(expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("raw", "expected"), test_sorting.CASES,
                         ids=[c[0] or "empty" for c in test_sorting.CASES])
def test_sort_table(sortable: Backends, backend: str, raw: str, expected: list[str]) -> None:
    assert ids(sortable.search(backend, "", raw)) == expected


WINDOWS = [
    # (filters, sort, offset, limit, expected ids, total)
    ("", "name", 0, 2, ["b", "c"], 4),
    ("", "name", 2, 2, ["a", "d"], 4),
    ("", "name", 3, 10, ["d"], 4),
    ("", "name", 4, 10, [], 4),
    ("", "name", 9, 1, [], 4),
    ("status=Approved", "-name", 1, 5, ["c"], 2),
    ("status=Closed", "", 0, 5, [], 0),
    ("", "", 1, 0, [], 4),
    ("", "", 1, None, ["b", "c", "d"], 4),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("text", "sort", "offset", "limit", "expected", "total"), WINDOWS)
def test_windows_and_totals(sortable: Backends, backend: str, text: str, sort: str,
                            offset: int, limit: int | None, expected: list[str],
                            total: int) -> None:
    result = sortable.search(backend, text, sort, offset, limit)
    assert (ids(result), result.total) == (expected, total)


@pytest.mark.parametrize("backend", BACKENDS)
def test_href_is_the_prefix_and_the_id(small: Backends, backend: str) -> None:
    assert ids(small.search(backend, "href.regex=/2$")) == ["2"]
    assert ids(small.search(backend, "href.ne=http://h/customer/2")) == ["1", "3"]
    assert ids(small.search(backend, "", "-href")) == ["3", "2", "1"]


def test_a_regex_postgresql_cannot_read_is_a_400(small: Backends) -> None:
    # Python's "regex" module accepts named groups; PostgreSQL's engine does not.
    with pytest.raises(ApiError) as caught:
        small.search("postgresql", "name.regex=(?P<club>Moon)")
    assert caught.value.status == 400
    assert "name.regex" in caught.value.message
    # The failed search leaves the pool usable.
    assert ids(small.search("postgresql", "status=Approved")) == ["1"]


# -- randomized comparison ----------------------------------------------------------------

STATUSES = ["Approved", "Pending", "Closed", "Validated", "approved"]
WORDS = ["Moon", "Sun", "Club", "GmbH", "Doe, John", "Über", "alpha", "Alpha", "ß", "2024"]
STAMPS = ["2023-01-01T00:00:00Z", "2024-06-01T00:00:00+02:00", "2024-05-31T22:00:00Z",
          "2019-12-31T23:59:59.5Z", "2020-01-01", "not a date"]
ANY_VALUES: list[Any] = [340, 12.5, -3, 0, "Enterprise", "SME", "100", True, False, None,
                         "2024-01-01T00:00:00Z", {"a": 1}, [1, 2]]


def random_customer(rng: random.Random, n: int) -> Document:
    doc: Document = {"id": f"r{n:04d}", "@type": rng.choice(["Customer", "Individual"]),
                     "name": " ".join(rng.sample(WORDS, rng.randint(1, 3)))}
    if rng.random() < 0.9:
        doc["status"] = rng.choice(STATUSES)
    if rng.random() < 0.8:
        doc["validFor"] = {"startDateTime": rng.choice(STAMPS)}
    doc["creditProfile"] = [{"creditScore": rng.choice([95, 650, 650.0, 700, 742, 900]),
                             "creditProfileDate": rng.choice(STAMPS)}
                            for _ in range(rng.randint(0, 3))]
    doc["contactMedium"] = [{"mediumType": rng.choice(["email", "phone", "postalAddress"]),
                             "preferred": rng.random() < 0.5}
                            for _ in range(rng.randint(0, 3))]
    doc["characteristic"] = [{"name": rng.choice(["segment", "employees", "optIn"]),
                              "value": rng.choice(ANY_VALUES)} for _ in range(rng.randint(0, 3))]
    return doc


PATHS: list[tuple[str, list[str]]] = [
    ("status", STATUSES + ["Approved,Pending", "x"]),
    ("name", WORDS + ["Moon Club", "M", "N"]),
    ("@type", ["Customer", "Individual"]),
    ("validFor.startDateTime", STAMPS[:5] + ["2024-01-01"]),
    ("creditProfile.creditScore", ["650", "700", "95,900", "650.00", "1e3"]),
    ("creditProfile.creditProfileDate", STAMPS[:5]),
    ("contactMedium.mediumType", ["email", "phone", "email,phone"]),
    ("contactMedium.preferred", ["true", "false"]),
    ("characteristic.value", ["340", "12.5", "SME", "100", "true", "null", "Alpha",
                              "2024-01-01T00:00:00Z", '{"a":1}', "1", "Enterprise,SME"]),
    ("characteristic.name", ["segment", "optIn"]),
    ("id", ["r0001", "r0010,r0011"]),
    ("href", [PREFIX + "r0003"]),
]
REGEXES = ["^M", "(?i)club", "b$", "[0-9]", "^$", "l{2}", "a|u", "\\d{3}", "true", "^\\{"]
ORDERED = {"creditProfile.creditScore", "validFor.startDateTime", "name", "status",
           "characteristic.value", "creditProfile.creditProfileDate", "id"}


def random_query(rng: random.Random) -> tuple[str, str, int, int | None]:
    parts = []
    for _ in range(rng.randint(0, 3)):
        path, values = rng.choice(PATHS)
        ops = ["", ".eq", ".ne", ".regex"] + ([".gt", ".gte", ".lt", ".lte"]
                                               if path in ORDERED else [])
        op = rng.choice(ops)
        value = rng.choice(REGEXES if op == ".regex" else values)
        parts.append((path + op, value))
    text = "&".join(f"{name}={value}" for name, value in parts)
    sort_paths = [p for p, _ in PATHS] + ["shoeSize", "contactMedium"]
    keys = [rng.choice(["", "-"]) + rng.choice(sort_paths) for _ in range(rng.randint(0, 3))]
    limit = rng.choice([None, 0, 1, 5, 20])
    return text, ",".join(keys), rng.choice([0, 0, 1, 3, 50]), limit


@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    rng = random.Random(629)
    docs = list(load_json("customers.json")) + [random_customer(rng, n) for n in range(300)]
    yield from backends_with(tmp_path_factory.mktemp("crowd"), docs)


def test_random_queries_get_the_same_answer_from_both_backends(crowd: Backends) -> None:
    rng = random.Random(630)
    differences = []
    for _ in range(400):
        text, sort, offset, limit = random_query(rng)
        try:
            parsed = [(pair[0], pair[1]) for pair in parse_qsl(text, keep_blank_values=True)]
            query.parse_filters(parsed)
        except ApiError:
            continue  # e.g. "true" for a number: both backends refuse it before storage
        tiny = crowd.search("tinydb", text, sort, offset, limit)
        pg = crowd.search("postgresql", text, sort, offset, limit)
        if (ids(tiny), tiny.total) != (ids(pg), pg.total):
            differences.append((text, sort, offset, limit, ids(tiny), ids(pg)))
    assert differences == []


def test_every_query_reached_results(crowd: Backends) -> None:
    # The comparison means something only if queries actually select customers.
    rng = random.Random(630)
    totals = []
    for _ in range(100):
        text, _, _, _ = random_query(rng)
        try:
            totals.append(crowd.search("postgresql", text).total)
        except ApiError:
            continue
    assert sum(1 for t in totals if 0 < t < 325) > 30


def test_a_regex_search_past_its_statement_timeout_is_a_400(crowd: Backends) -> None:
    # PostgreSQL's timer is the regex budget (--regex-budget). Counted repetitions within
    # the pattern limits take PostgreSQL about 10 ms to build and run over 325 customers: past
    # 1 ms whatever the cache holds (a plain pattern over hot pages can finish within it).
    patterns.configure(patterns.PatternLimits(budget_seconds=0.001))
    try:
        with pytest.raises(ApiError) as caught:
            crowd.search("postgresql",
                         "characteristic.value.regex=^([a-z]{1,50}[0-9]{1,50}){1,20}q$", "-name")
        assert caught.value.status == 400 and "takes too long" in caught.value.message
        assert "0.001 s" in caught.value.message
    finally:
        patterns.configure(patterns.PatternLimits())
    # Only that request: the next one (and its connection) is fine.
    assert crowd.search("postgresql", "name.regex=^Moon").total > 0


def test_the_pattern_limits_hold_before_postgresql_sees_a_pattern(crowd: Backends) -> None:
    # Refused while parsing, as on TinyDB: PostgreSQL never compiles these.
    for text, fragment in [("name.regex=(?:(?:a{999}){999}){999}", "expands to"),
                           ("name.regex=a{1001}", "above 1000"),
                           ("name.regex=" + "a" * 257, "longer than 256")]:
        with pytest.raises(ApiError) as caught:
            crowd.search("postgresql", text)
        assert caught.value.status == 400 and fragment in caught.value.message, text
    patterns.configure(patterns.PatternLimits(max_length=3))
    try:
        with pytest.raises(ApiError) as caught:
            crowd.search("postgresql", "name.regex=^Moon")
        assert "longer than 3" in caught.value.message
    finally:
        patterns.configure(patterns.PatternLimits())


def test_long_values_and_json_texts_are_found_without_tokens(tmp_path: Path) -> None:
    # Values too long for the equality index, and whole objects, take the containment path.
    long_name = "Very long name " * 50
    docs: list[Document] = [
        {"id": "long", "name": long_name, "engagedParty": {"id": "1"}},
        {"id": "short", "name": "Short", "engagedParty": {"id": "2"}, "n": 650.0},
    ]
    for pair in backends_with(tmp_path, docs):
        for backend in BACKENDS:
            assert ids(pair.search(backend, urlencode({"name": long_name}))) == ["long"]
            assert ids(pair.search(backend, urlencode({"name": f"Short,{long_name}"}))) == [
                "long", "short"]
            assert ids(pair.search(backend, urlencode({"engagedParty": '{"id":"2"}'}))) == [
                "short"]
            assert ids(pair.search(backend, "n=650&n=6.5e2")) == ["short"]


# -- the fact indexes: texts longer than their cut, documents without the sort key ----------

CUT = "x" * 250  # longer than migrations.INDEXED_CHARS: the index holds its first 200
LONG_TEXTS: list[Document] = [
    {"id": "l1", "name": CUT + "b", "status": "Approved"},
    {"id": "l2", "name": CUT + "a", "status": "Pending"},
    {"id": "l3", "name": CUT, "status": "Approved"},
    {"id": "l4", "name": "x" * 200, "status": "Approved"},
    {"id": "l5", "status": "Approved"},  # no name: sorts last
    {"id": "l6", "name": "w", "status": "Approved"},
    {"id": "l7", "status": "Pending"},
]
LONG_CASES = [
    # (filters, sort, offset, limit, expected ids, total)
    ("", "name", 0, None, ["l6", "l4", "l3", "l2", "l1", "l5", "l7"], 7),
    ("", "-name", 0, None, ["l1", "l2", "l3", "l4", "l6", "l5", "l7"], 7),
    ("", "name", 4, 2, ["l1", "l5"], 7),
    ("", "name", 5, 5, ["l5", "l7"], 7),  # the window starts past every named one
    ("", "-name", 6, 5, ["l7"], 7),
    ("status=Approved", "name", 3, 5, ["l1", "l5"], 5),
    (f"name.gt={CUT}", "name", 0, None, ["l2", "l1"], 2),
    (f"name.gte={CUT}", "-name", 0, None, ["l1", "l2", "l3"], 3),
    (f"name.lt={CUT}a", "", 0, None, ["l3", "l4", "l6"], 3),
    (f"name.lte={'x' * 200}", "", 0, None, ["l4", "l6"], 2),
    (f"name={CUT}a", "", 0, None, ["l2"], 1),
    (f"name={CUT}", "", 0, None, ["l3"], 1),
    (f"name={'x' * 200}", "", 0, None, ["l4"], 1),
    ("name.gt=x&status=Approved", "-name", 1, 1, ["l3"], 3),
    ("status=Approved,Pending&name.lt=y", "name", 0, 3, ["l6", "l4", "l3"], 5),
    ("shoeSize.gt=1", "", 0, None, [], 0),
]


@pytest.fixture(scope="module")
def long_texts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    yield from backends_with(tmp_path_factory.mktemp("long"), LONG_TEXTS)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("text", "sort", "offset", "limit", "expected", "total"), LONG_CASES)
def test_long_texts_and_missing_sort_keys(long_texts: Backends, backend: str, text: str,
                                          sort: str, offset: int, limit: int | None,
                                          expected: list[str], total: int) -> None:
    result = long_texts.search(backend, urlencode(parse_qsl(text)), sort, offset, limit)
    assert (ids(result), result.total) == (expected, total)


def test_fact_rows_follow_every_write(tmp_path: Path) -> None:
    # The triggers keep the fact rows and the collection's size with each write.
    for pair in backends_with(tmp_path, [{"id": "a", "name": "Zed", "n": 5}]):
        repo = pair.repos["postgresql"]
        repo.insert_many([{"id": "b", "name": "Amy", "n": 7}, {"id": "c", "n": 9}])
        repo.update("a", lambda doc: {**doc, "name": "Bob", "n": 1})
        repo.delete("c")
        assert repo.count() == 2
        assert (ids(pair.search("postgresql", "n.lt=6")), ids(pair.search("postgresql", "", "name"))
                ) == (["a"], ["b", "a"])
        assert ids(pair.search("postgresql", "name=Zed")) == []
        with pair.pg.transaction() as conn:
            rows = conn.execute("SELECT count(*), count(DISTINCT seq) FROM fact").fetchone()
        assert rows == (6, 2)  # id, name, n of each


def test_known_paths_draw_no_new_path_ids(tmp_path: Path) -> None:
    for pair in backends_with(tmp_path, [{"id": "a", "name": "A", "n": 1}]):
        repo = pair.repos["postgresql"]
        for n in range(5):
            repo.insert({"id": f"b{n}", "name": "B", "n": n})
        repo.insert({"id": "c", "name": "C", "m": 1})
        with pair.pg.transaction() as conn:
            row = conn.execute("SELECT count(*), max(id) FROM fact_path").fetchone()
        assert row == (4, 4)  # id, name, n, m: numbered once each
