"""The TinyDB store's search shortcuts give exactly what the definition gives.

Byte pre-filter, projected decoding, regexes on distinct values, sorting and
regexes through the equality indexes (:mod:`sandbox.backends.tinydb.scan`,
:mod:`sandbox.backends.tinydb.projection`, :mod:`sandbox.backends.tinydb.indexes`) are
checked against the definition of a list query: ``query.matches`` on each
presented document, ``sorting.sort_documents``, then the page. Documents are
generated with the values the shortcuts could get wrong: numbers, booleans,
``null`` and instants where text belongs, arrays, quotes, backslashes,
control characters and non-ASCII text.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.backends.tinydb import open_database
from sandbox.backends.tinydb.projection import projection
from sandbox.backends.tinydb.scan import needles
from sandbox.backends.tinydb.snapshot import write_snapshot
from sandbox.backends.tinydb.table import TinyTable
from sandbox.domain import patterns, query, sorting
from sandbox.repository import MEMORY

PREFIX = "http://h/customer/"
TEXTS = ["Ann", "Bob", "bob", 'Say "hi"', "back\\slash", "tab\there", "Zoë", "null", "true",
         "12", "2024-01-01", "[1]", "A,B", "A", "B"]
SCALARS = st.one_of(st.sampled_from(TEXTS), st.integers(-2, 12), st.booleans(), st.none())
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))
MEDIUM = st.fixed_dictionaries({}, optional={"mediumType": VALUES, "preferred": st.booleans()})
DOCS = st.fixed_dictionaries({}, optional={
    "name": VALUES, "status": VALUES, "@type": st.sampled_from(["Customer", "Other"]),
    "engagedParty": st.one_of(st.fixed_dictionaries({"id": VALUES}), SCALARS),
    "contactMedium": st.one_of(st.lists(MEDIUM, max_size=3), MEDIUM, SCALARS),
    "note": VALUES,
})
PATHS = ["name", "status", "engagedParty.id", "contactMedium.mediumType", "note", "@type", "id"]
TEXT = st.sampled_from([*TEXTS, "Ann,Bob", "c1", "nobody"])
FILTERS = st.one_of(
    st.tuples(st.sampled_from(PATHS), TEXT),
    st.tuples(st.sampled_from([p + ".ne" for p in PATHS]), TEXT),
    st.tuples(st.sampled_from([p + ".regex" for p in PATHS]),
              st.sampled_from(["^A", "^B", "o", "^Zo", '"', "^\\d", "^(A|B)$", "b+", "^bob?"])),
    st.tuples(st.just("href.regex"), st.sampled_from(["c1$", "^http://h/customer/c2"])),
)
SORTS = st.lists(st.sampled_from(["name", "-name", "status", "-status", "note", "-@type",
                                  "contactMedium.mediumType", "-engagedParty.id"]), max_size=2)
WRITES = st.lists(st.tuples(st.sampled_from(["insert", "update", "delete"]),
                            st.integers(0, 14), DOCS), max_size=25)


@pytest.fixture
def table() -> Iterator[TinyTable]:
    db = open_database(MEMORY)
    yield db.table("customer")
    db.close()


def expected(table: TinyTable, wanted: list[query.Filter], sort: list[sorting.SortKey],
             offset: int, limit: int | None) -> tuple[list[str], int]:
    shown = [{"href": PREFIX + doc["id"], **doc} for doc in table.all()]
    found = [doc for doc in shown if query.matches(doc, wanted)]
    ordered = sorting.sort_documents(found, sort) if sort else found
    end = None if limit is None else offset + limit
    return [doc["id"] for doc in ordered[offset:end]], len(found)


def write(table: TinyTable, writes: list[tuple[str, int, dict[str, Any]]]) -> None:
    for op, key, body in writes:
        ident = f"c{key}"
        if op == "insert" and table.get(ident) is None:
            table.insert({"id": ident, **body})
        elif op == "update":
            table.update(ident, lambda d, body=body: {"id": d["id"], **body})  # type: ignore[misc]
        elif op == "delete":
            table.delete(ident)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(writes=WRITES, more=WRITES, params=st.lists(FILTERS, min_size=1, max_size=2), sort=SORTS,
       offset=st.integers(0, 4), limit=st.one_of(st.none(), st.integers(0, 6)))
def test_search_is_the_definition(table: TinyTable, writes: Any, more: Any, params: Any,
                                  sort: list[str], offset: int, limit: int | None) -> None:
    wanted = query.parse_filters(params)
    keys = sorting.parse_sort(sort) if sort else []
    write(table, writes)
    # A first search builds the sorted keys of an index; later writes must keep them right.
    table.search(wanted, sort=keys, limit=1, href_prefix=PREFIX)
    write(table, more)
    result = table.search(wanted, sort=keys, offset=offset, limit=limit, href_prefix=PREFIX)
    assert ([doc["id"] for doc in result.items], result.total) == expected(
        table, wanted, keys, offset, limit)


@pytest.mark.parametrize(("param", "value", "tested"), [
    ("contactMedium.mediumType", "email", (b'"email"',)),
    ("name", 'Say "hi"', (b'"Say \\"hi\\""',)),
    ("name", "Doe, John", (b'"Doe, John"', b'"Doe"', b'" John"')),
    ("name", "12", None),  # a stored 12 equals it too
    ("note", "true", None),  # and a stored true
    ("note", "null", None),  # and null
    ("note", "2024-01-01", None),  # and an instant written otherwise
    ("note", "[1]", None),  # and an array
    ("name", "tab\there", None),  # encoders escape control characters differently
    ("validFor.startDateTime", "2024-01-01T00:00:00Z", None),  # typed: compared as instants
    ("name.ne", "x", None),
])
def test_the_byte_pre_filter_is_used_only_where_it_is_exact(
        param: str, value: str, tested: tuple[bytes, ...] | None) -> None:
    assert needles(query.parse_filter(param, value)) == tested


@pytest.mark.parametrize("params", [
    [("contactMedium.mediumType", "Ann")], [("note", "Ann,Bob")], [("note", 'Say "hi"')],
    [("note", "back\\slash")], [("note", "Zoë")], [("note", "12")], [("note", "true")],
    [("note", "null")], [("status", "Ann"), ("note", "Bob")], [("note.regex", "^B")],
    [], [("name.regex", "^(A|B)$")],
])
@pytest.mark.parametrize("sort", [[], ["name"], ["-status"], ["note"]])
def test_a_fixed_store_agrees_with_the_definition(table: TinyTable, params: Any,
                                                  sort: list[str]) -> None:
    table.insert_many([{"id": f"c{n}", "name": TEXTS[n % len(TEXTS)],
                        "status": TEXTS[(n * 7) % len(TEXTS)],
                        "note": [12, True, None, *TEXTS][n % (len(TEXTS) + 3)],
                        "contactMedium": [{"mediumType": TEXTS[n % 4]}]} for n in range(60)])
    wanted, keys = query.parse_filters(params), sorting.parse_sort(sort) if sort else []
    for offset, limit in [(0, None), (2, 5), (0, 1)]:
        result = table.search(wanted, sort=keys, offset=offset, limit=limit, href_prefix=PREFIX)
        found = ([doc["id"] for doc in result.items], result.total)
        assert found == expected(table, wanted, keys, offset, limit)
        assert result.total > 0 or params[0][0] == "status"


def test_a_projection_holds_only_the_paths_asked_for() -> None:
    view = projection(frozenset({("contactMedium", "mediumType"), ("@type",)}))
    packed = (b'{"id":"c1","name":"x","@type":"Customer","contactMedium":'
              b'[{"mediumType":"email","preferred":true},{"other":1}]}')
    assert view.view(packed) == {"id": "c1", "@type": "Customer",
                                 "contactMedium": [{"mediumType": "email"}, {}]}
    # A shape the types do not describe is decoded whole.
    odd = b'{"id":"c1","contactMedium":"by post"}'
    assert view.view(odd) == {"id": "c1", "contactMedium": "by post"}


@pytest.mark.parametrize(("pattern", "literal", "anchored"), [
    ("^Brauerei", "Brauerei", True), ("Brauerei", "Brauerei", False),
    ("^Brauereii?", "Brauerei", True), ("^a|b", "", False), ("(?i)abc", "", False),
    ("^\\d+", "", True), ("x.y", "x", False), ("ab{2}", "a", False),
])
def test_the_literal_every_match_needs(pattern: str, literal: str, anchored: bool) -> None:
    assert patterns.required_text(pattern) == (literal, anchored)


def test_the_regex_budget_pays_for_matching_not_for_reading(table: TinyTable) -> None:
    table.insert_many([{"id": f"c{n}", "note": f"text {n}"} for n in range(50)])
    late = query.parse_filters([("note.regex", "^text 1")], clock=lambda: -1e9)
    # The deadline passed long ago: no budget left to match, whatever the store's size.
    with pytest.raises(Exception, match="takes too long"):
        table.search(late)
    # Seconds spent reading the store before matching move the deadline back.
    spent = query.matching_texts(late[0], ["text 1", "text 2"], scanning=2e9)
    assert spent == {"text 1"}


def test_text_escaped_in_a_snapshot_is_found(tmp_path: Path) -> None:
    # A snapshot in the sandbox's own layout, written by another encoder (ASCII escapes).
    path = tmp_path / "db.json"
    write_snapshot(path, [("customer", [(1, b'{"id":"c1","note":"H\\u00f4pital \\/ A"}'),
                                        (2, b'{"id":"c2","note":"plain"}')])])
    db = open_database(path)
    try:
        found = db.table("customer").search(query.parse_filters([("note", "Hôpital / A")]))
        assert [doc["id"] for doc in found.items] == ["c1"]
    finally:
        db.close()
