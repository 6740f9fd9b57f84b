"""TMF630 sorting from a table of cases: typed keys, direction, stability, missing last."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.domain.sorting import parse_sort, sort_documents
from sandbox.errors import ApiError

DOCS: list[dict[str, Any]] = [
    {"id": "a", "name": "beta", "status": "Approved",
     "validFor": {"startDateTime": "2023-01-01T00:00:00Z"},
     "creditProfile": [{"creditScore": 95}, {"creditScore": 900}]},
    {"id": "b", "name": "Alpha", "status": "Pending",
     # 2023-01-01T01:00+02:00 is 2022-12-31T23:00Z: earlier than a's, although it reads later.
     "validFor": {"startDateTime": "2023-01-01T01:00:00+02:00"},
     "creditProfile": [{"creditScore": 700}]},
    {"id": "c", "name": "alpha", "status": "Approved"},
    {"id": "d", "name": "gamma", "status": "Pending",
     "validFor": {"startDateTime": "2024-06-01T00:00:00Z"},
     "creditProfile": [{"creditScore": 80}]},
]

CASES = [
    ("name", ["b", "c", "a", "d"]),  # code-point order: capitals first
    ("-name", ["d", "a", "c", "b"]),
    ("+name", ["b", "c", "a", "d"]),
    (" name", ["b", "c", "a", "d"]),  # "+name" unencoded in a URL arrives as " name"
    ("validFor.startDateTime", ["b", "a", "d", "c"]),  # instants; missing last
    ("-validFor.startDateTime", ["d", "a", "b", "c"]),  # missing last, descending too
    # numbers as numbers (95 < 700); through an array the smallest counts ascending...
    ("creditProfile.creditScore", ["d", "a", "b", "c"]),
    # ... and the largest descending
    ("-creditProfile.creditScore", ["a", "b", "d", "c"]),
    ("status", ["a", "c", "b", "d"]),  # stable: equal keys keep their order
    ("-status", ["b", "d", "a", "c"]),  # stable in descending order too
    ("status,-name", ["a", "c", "d", "b"]),
    ("status,name", ["c", "a", "b", "d"]),
    ("shoeSize", ["a", "b", "c", "d"]),  # unknown attribute: sorts as missing
    ("shoeSize,name", ["b", "c", "a", "d"]),
    ("", ["a", "b", "c", "d"]),
    ("name,,", ["b", "c", "a", "d"]),
]


@pytest.mark.parametrize(("raw", "expected"), CASES, ids=[c[0] or "empty" for c in CASES])
def test_sort_orders(raw: str, expected: list[str]) -> None:
    ordered = sort_documents(DOCS, parse_sort([raw]))
    assert [doc["id"] for doc in ordered] == expected


def test_several_sort_parameters_are_one_key_list() -> None:
    keys = parse_sort(["status", "-name"])
    assert [doc["id"] for doc in sort_documents(DOCS, keys)] == ["a", "c", "d", "b"]


@pytest.mark.parametrize("raw", ["-", "+", "name..x", ".name", "-name."])
def test_malformed_sort_keys_are_400(raw: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_sort([raw])
    assert caught.value.status == 400 and "Sort key" in caught.value.message


def test_sorting_leaves_its_input_alone() -> None:
    before = [doc["id"] for doc in DOCS]
    sort_documents(DOCS, parse_sort(["-name"]))
    assert [doc["id"] for doc in DOCS] == before
