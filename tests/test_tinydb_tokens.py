"""The TinyDB store's token indexes answer exactly what the definition answers.

Every path a search filters on with ``.eq`` gets a token index (typed value ->
doc ids), which then also answers ``.ne`` and the ordering operators on that
path. Checked against the definition of a list query (``query.matches`` on
each document) on typed paths (numbers, instants, the schema's ``Any``), after
writes made before and after the index was built, and while it is being
filled outside the lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.backends.tinydb import open_database, tokens
from sandbox.backends.tinydb.table import MAX_PATH_INDEXES, TinyTable
from sandbox.domain import query
from sandbox.repository import MEMORY
from tests.test_storage_search import write

SCORES = st.one_of(st.integers(600, 603), st.sampled_from([601.0, 602.5, "602", None]))
INSTANTS = st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01T01:00:00+01:00",
                            "2024-06-01T12:00:00.5Z", "2025-01-01", "not a date"])
ANY = st.one_of(st.sampled_from(["gold", "Gold", "12", "true", "null", "2024-01-01"]),
                st.integers(10, 13), st.booleans(), st.none(), st.just({"k": 1}))
DOCS = st.fixed_dictionaries({}, optional={
    "creditProfile": st.lists(st.fixed_dictionaries({}, optional={"creditScore": SCORES}),
                              max_size=2),
    "validFor": st.fixed_dictionaries({}, optional={"startDateTime": INSTANTS}),
    "characteristic": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["a", "b"])},
                                                     optional={"value": ANY}), max_size=2),
    "note": st.one_of(ANY, st.lists(ANY, max_size=2)),
})
PATHS = ["creditProfile.creditScore", "validFor.startDateTime", "characteristic.value",
         "characteristic.name", "note"]
OPERATORS = ["", ".ne", ".gt", ".gte", ".lt", ".lte"]
TEXTS = ["600", "601", "602.0", "602,603", "2024-01-01T00:00:00Z", "2024-01-01", "gold",
         "12", "true", "null", "a", "b,a", '{"k":1}', "[1]"]
WRITES = st.lists(st.tuples(st.sampled_from(["insert", "update", "delete"]),
                            st.integers(0, 12), DOCS), max_size=25)


@pytest.fixture
def table() -> Iterator[TinyTable]:
    db = open_database(MEMORY)
    yield db.table("customer")
    db.close()


def parsed(param: str, value: str) -> list[query.Filter] | None:
    try:
        return [query.parse_filter(param, value)]
    except Exception:  # a text the typed path refuses (a 400): nothing to compare
        return None


def definition(table: TinyTable, wanted: list[query.Filter]) -> tuple[list[str], int]:
    found = [doc["id"] for doc in table.all() if query.matches(doc, wanted)]
    return found, len(found)


def answered(table: TinyTable, wanted: list[query.Filter]) -> tuple[list[str], int]:
    result = table.search(wanted)
    return [doc["id"] for doc in result.items], result.total


def build_every_index(table: TinyTable) -> None:
    for path, value in zip(PATHS, ["600", "2024-01-01", "a", "a", "a"], strict=True):
        table.search([query.parse_filter(path, value)], limit=1)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(writes=WRITES, more=WRITES, path=st.sampled_from(PATHS),
       operator=st.sampled_from(OPERATORS), text=st.sampled_from(TEXTS))
def test_token_indexes_are_the_definition(table: TinyTable, writes: Any, more: Any, path: str,
                                          operator: str, text: str) -> None:
    wanted = parsed(path + operator, text)
    if wanted is None:
        return
    write(table, writes)
    build_every_index(table)  # later writes must keep every index right
    write(table, more)
    assert answered(table, wanted) == definition(table, wanted)
    both = [*wanted, query.parse_filter("characteristic.name", "a")]
    assert answered(table, both) == definition(table, both)


def fill_store(table: TinyTable) -> None:
    table.insert_many([{"id": f"c{n}", "creditProfile": [{"creditScore": 600 + n % 5}],
                        "validFor": {"startDateTime": f"2024-01-{1 + n % 28:02d}T00:00:00Z"},
                        "characteristic": [{"name": "segment", "value": ["a", "b"][n % 2]}],
                        "note": [None, True, 12, "12", {"k": n}][n % 5]} for n in range(40)])


@pytest.mark.parametrize(("param", "value", "total"), [
    ("creditProfile.creditScore", "602", 8),
    ("creditProfile.creditScore", "602.00,603", 16),  # numbers compare as numbers
    ("creditProfile.creditScore.gte", "603", 16),
    ("creditProfile.creditScore.ne", "600", 32),
    ("validFor.startDateTime", "2024-01-02T01:00:00+01:00", 2),  # the same instant
    ("validFor.startDateTime.lt", "2024-01-03", 4),
    ("characteristic.value", "a", 20),
    ("note", "12", 16),  # the number 12 and the text "12"
    ("note", "null", 8),
    ("note", "true", 8),
    ("note", '{"k":4}', 1),  # an object: left to the scan, still exact
    ("note.ne", "12", 24),  # objects held there: left to the scan
    ("nothing.here", "x", 0),
])
def test_typed_values_are_found_and_counted(table: TinyTable, param: str, value: str,
                                            total: int) -> None:
    fill_store(table)
    build_every_index(table)
    wanted = [query.parse_filter(param, value)]
    assert answered(table, wanted) == definition(table, wanted)
    assert table.search(wanted, limit=3).total == total


def test_which_filters_an_index_answers(table: TinyTable) -> None:
    fill_store(table)
    index = tokens.PathIndex(("note",))
    index.fill(dict(enumerate(_packed(table), start=1)))
    assert index.objects  # the notes holding an object
    for param, value, answers in [("note", "12", True), ("note", "null", True),
                                  ("note", '{"k":1}', False), ("note.ne", "x", False),
                                  ("note.gt", "10", True), ("note.regex", "1", False),
                                  ("name", "12", False)]:
        assert index.answers(query.parse_filter(param, value)) is answers, (param, value)


def _packed(table: TinyTable) -> list[bytes]:
    return [row for _, row in table.frozen()]


def test_writes_during_a_fill_are_caught_up(table: TinyTable,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The index is filled outside the table's lock: documents written meanwhile are
    brought up to date before it is used."""
    fill_store(table)
    original = tokens.PathIndex.fill

    def racing(index: tokens.PathIndex, rows: Any) -> None:
        table.update("c1", lambda d: {**d, "note": "fresh"})
        table.delete("c5")
        table.insert({"id": "new", "note": "fresh"})
        original(index, rows)

    monkeypatch.setattr(tokens.PathIndex, "fill", racing)
    wanted = [query.parse_filter("note", "fresh")]
    assert answered(table, wanted) == (["c1", "new"], 2)
    for value in ("null", "true", "12"):
        probe = [query.parse_filter("note", value)]
        assert answered(table, probe) == definition(table, probe)


def test_a_failed_fill_keeps_no_index(table: TinyTable,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fill_store(table)

    def failing(index: tokens.PathIndex, rows: Any) -> None:
        raise MemoryError

    monkeypatch.setattr(tokens.PathIndex, "fill", failing)
    with pytest.raises(MemoryError):
        table.search([query.parse_filter("note", "12")])
    monkeypatch.undo()
    wanted = [query.parse_filter("note", "12")]
    assert answered(table, wanted) == definition(table, wanted)


def test_token_indexes_are_bounded(table: TinyTable) -> None:
    """Paths come from clients: past the bound the least recently used index goes, and
    comes back when a search needs it again."""
    fill_store(table)
    for n in range(MAX_PATH_INDEXES + 10):
        table.search([query.parse_filter(f"ext{n}", "x")], limit=1)
    assert len(table._tokens) == MAX_PATH_INDEXES
    wanted = [query.parse_filter("ext0", "x")]
    assert answered(table, wanted) == ([], 0)
    assert ("ext0",) in table._tokens
