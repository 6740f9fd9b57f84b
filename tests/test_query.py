"""TMF630 filters and typed values, from tables of cases (no Flask, no server)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest

from sandbox.domain import attributes, query
from sandbox.errors import ApiError

MOON = {
    "id": "1", "href": "http://h/customer/1", "@type": "Customer", "name": "Moon Football Club",
    "status": "Approved", "validFor": {"startDateTime": "2023-01-01T00:00:00Z"},
    "creditProfile": [{"creditProfileDate": "2023-01-01T00:00:00Z", "creditScore": 650,
                       "validFor": {"startDateTime": "2023-01-01T00:00:00Z"}}],
    "contactMedium": [
        {"mediumType": "email", "preferred": True,
         "characteristic": {"emailAddress": "club@moon.example"}},
        {"mediumType": "phone", "preferred": False, "characteristic": {"phoneNumber": "+1"}},
    ],
    "characteristic": [{"name": "segment", "value": "Enterprise"},
                       {"name": "employees", "value": 340}],
}
SUN = {
    "id": "2", "href": "http://h/customer/2", "@type": "Customer", "@baseType": "Party",
    "name": "Sun Football Club", "status": "Pending",
    # 2024-06-01T00:00 at +02:00 is 2024-05-31T22:00Z: instants, not text, are compared.
    "validFor": {"startDateTime": "2024-06-01T00:00:00+02:00"},
    "creditProfile": [
        {"creditProfileDate": "2024-01-01T00:00:00Z", "creditScore": 95,
         "validFor": {"startDateTime": "2024-01-01T00:00:00Z"}},
        {"creditProfileDate": "2024-02-01T00:00:00Z", "creditScore": 750,
         "validFor": {"startDateTime": "2024-02-01T00:00:00Z"}},
    ],
    "contactMedium": [{"mediumType": "phone", "preferred": True,
                       "characteristic": {"phoneNumber": "+2"}}],
    "characteristic": [{"name": "segment", "value": "SME"}],
}
DOE = {"id": "3", "href": "http://h/customer/3", "@type": "Individual", "name": "Doe, John",
       "status": "Closed"}
DOCS: list[dict[str, Any]] = [MOON, SUN, DOE]


def run(text: str) -> list[str]:
    filters = query.parse_filters(parse_qsl(text, keep_blank_values=True))
    return [doc["id"] for doc in DOCS if query.matches(doc, filters)]


FILTERS = [
    # equality on first-level attributes, dotted paths, arrays (any element)
    ("status=Approved", ["1"]),
    ("name=Sun Football Club", ["2"]),
    ("validFor.startDateTime=2023-01-01T00:00:00Z", ["1"]),
    ("contactMedium.mediumType=email", ["1"]),
    ("contactMedium.mediumType=phone", ["1", "2"]),
    ("characteristic.name=segment", ["1", "2"]),
    ("contactMedium.characteristic.phoneNumber=%2B2", ["2"]),  # "+" in a URL is a space
    ("contactMedium.preferred=true", ["1", "2"]),
    ("contactMedium.preferred=FALSE", ["1"]),
    ("characteristic.value=340", ["1"]),
    ("characteristic.value=340.0", ["1"]),
    ("creditProfile.creditScore=650", ["1"]),
    ("creditProfile.creditScore=650.00", ["1"]),
    # @type, @baseType and href are attributes like any other
    ("@type=Individual", ["3"]),
    ("@baseType=Party", ["2"]),
    ("href=http://h/customer/2", ["2"]),
    # several filters: AND; a comma: OR
    ("status=Approved,Pending", ["1", "2"]),
    ("status=Approved,Pending&contactMedium.mediumType=email", ["1"]),
    ("name=Doe, John", ["3"]),  # a comma inside free text still matches the whole value
    ("creditProfile.creditScore=95,650", ["1", "2"]),
    # operators
    ("status.eq=Closed", ["3"]),
    ("status.ne=Approved", ["2", "3"]),
    ("status.ne=Approved,Pending", ["3"]),
    ("creditProfile.creditScore.gte=700", ["2"]),
    ("creditProfile.creditScore.gt=650", ["2"]),
    ("creditProfile.creditScore.gte=650", ["1", "2"]),
    ("creditProfile.creditScore.lt=100", ["2"]),
    ("creditProfile.creditScore.lte=650", ["1", "2"]),
    ("creditProfile.creditScore.gt=1e3", []),
    ("validFor.startDateTime.lt=2024-01-01T00:00:00Z", ["1"]),
    ("validFor.startDateTime.gte=2024-05-31T22:00:00Z", ["2"]),
    ("validFor.startDateTime.gt=2024-05-31T22:00:00Z", []),
    ("validFor.startDateTime.gt=2024-05-31", ["2"]),
    ("validFor.startDateTime.eq=2024-05-31T22:00:00.000Z", ["2"]),
    ("name.gt=N", ["2"]),  # plain text compares as text
    ("name.regex=^Moon", ["1"]),
    ("name.regex=(?i)football", ["1", "2"]),
    ("name.regex=Club$", ["1", "2"]),
    ("contactMedium.characteristic.emailAddress.regex=@moon\\.example$", ["1"]),
    ("name.regex=o{2}n", ["1"]),
    ("name.regex=l{2,3}", ["1", "2"]),  # a comma in a regex is no OR
    # unknown attributes match nothing; a customer without the attribute never matches
    ("shoeSize=42", []),
    ("statusReason.ne=x", []),
    # untyped (Any) values: equality by the stored type, ordering by the query's
    ("characteristic.value.gt=100", ["1"]),
    ("characteristic.value.gt=Alpha", ["1", "2"]),
    ("characteristic.value=Enterprise,SME", ["1", "2"]),
]


@pytest.mark.parametrize(("text", "expected"), FILTERS, ids=[c[0] for c in FILTERS])
def test_filters_select_the_matching_customers(text: str, expected: list[str]) -> None:
    assert run(text) == expected


BAD_FILTERS = [
    ("name.=x", "not a valid attribute path"),
    (".name=x", "not a valid attribute path"),
    ("name.like=Moon", "'like' is not a supported operator"),
    ("creditProfile.creditScore.between=1", "'between' is not a supported operator"),
    ("creditProfile.creditScore.gte=high", "'high' is not a number"),
    ("creditProfile.creditScore=700,lots", "'lots' is not a number"),
    ("validFor.startDateTime.lt=yesterday", "'yesterday' is not a date-time"),
    ("validFor.startDateTime.lt=2024-13-01", "not a date-time"),
    ("contactMedium.preferred=maybe", "'maybe' is not true or false"),
    ("contactMedium.preferred.gt=true", "is a boolean"),
    ("validFor.gt=2024-01-01", "is an object"),
    ("name.regex=(unclosed", "invalid regular expression"),
    ("name.regex=" + "a" * 300, "longer than 256 characters"),
]


@pytest.mark.parametrize(("text", "fragment"), BAD_FILTERS, ids=[c[1] for c in BAD_FILTERS])
def test_bad_filters_are_400_naming_the_parameter(text: str, fragment: str) -> None:
    with pytest.raises(ApiError) as caught:
        run(text)
    assert caught.value.status == 400
    assert fragment in caught.value.message
    assert text.split("=")[0] in caught.value.message


def test_reserved_parameters_are_not_filters() -> None:
    pairs = [("fields", "id"), ("offset", "1"), ("limit", "2"), ("sort", "name")]
    assert query.parse_filters(pairs) == []


def test_a_catastrophic_regex_ends_in_a_400_not_a_busy_server() -> None:
    filters = query.parse_filters([("name.regex", "(a|aa)+$")])
    victim = {"id": "x", "name": "a" * 64 + "!"}
    with pytest.raises(ApiError) as caught:
        query.matches(victim, filters)
    assert caught.value.status == 400 and "takes too long" in caught.value.message


def test_the_regexes_of_one_request_share_one_budget() -> None:
    filters = query.parse_filters([("name.regex", "M"), ("status.regex", "A")])
    assert filters[0].deadline == filters[1].deadline


def test_the_regex_budget_is_per_request() -> None:
    # A deadline already passed (a clock stuck in the past) refuses further matching.
    filters = query.parse_filters([("name.regex", "Moon")], clock=lambda: -1e9)
    with pytest.raises(ApiError, match="takes too long"):
        query.matches(MOON, filters)


# -- the one walk along attribute paths ----------------------------------------------------

WALKS: list[tuple[Any, list[tuple[tuple[str, ...], Any]]]] = [
    ({"a": 1}, [(("a",), 1)]),
    ({"a": [1, [2, [3]]]}, [(("a",), 1), (("a",), 2), (("a",), 3)]),  # nested arrays too
    ({"a": [], "b": None}, [(("b",), None)]),
    ({"a": {"b": [{"c": 1}, "x"]}}, [(("a",), {"b": [{"c": 1}, "x"]}), (("a", "b"), {"c": 1}),
                                     (("a", "b", "c"), 1), (("a", "b"), "x")]),
    ([{"a": 1}, {"a": 2}], [(("a",), 1), (("a",), 2)]),
    ("text", []),
]


@pytest.mark.parametrize(("document", "expected"), WALKS, ids=[str(w[0]) for w in WALKS])
def test_walk_reaches_every_path_arrays_fanning_out(document: Any, expected: list[Any]) -> None:
    assert list(attributes.walk(document)) == expected


@pytest.mark.parametrize("document", [doc for doc, _ in WALKS] + DOCS, ids=str)
def test_values_at_reaches_what_walk_reaches_at_its_path(document: Any) -> None:
    walked: dict[tuple[str, ...], list[Any]] = {}
    for path, value in attributes.walk(document):
        walked.setdefault(path, []).append(value)
    for path, values in walked.items():
        assert attributes.values_at(document, path) == values, path
    assert attributes.values_at(document, ("missing", "path")) == []
    assert attributes.values_at(document, ()) == (
        document if isinstance(document, list) else [document])


# -- what a filter compares with (both backends use these) ----------------------------------

DAY = datetime(2024, 1, 1, tzinfo=timezone.utc)
CANDIDATES = [
    ("status", "Approved", [("string", "Approved")]),
    ("name", "Doe, John", [("string", "Doe, John"), ("string", "Doe"), ("string", " John")]),
    # schema-typed attributes: the parsed values only
    ("creditProfile.creditScore", "650,95", [("number", Decimal(650)), ("number", Decimal(95))]),
    ("validFor.startDateTime", "2024-01-01", [("date-time", DAY)]),
    ("contactMedium.preferred", "TRUE", [("boolean", True)]),
    # untyped: every stored value the text reads as
    ("characteristic.value", "340", [("string", "340"), ("number", Decimal(340))]),
    ("characteristic.value", "true", [("string", "true"), ("boolean", True)]),
    ("characteristic.value", "null", [("string", "null"), ("json", "null")]),
    ("characteristic.value", '{"a":1}', [("string", '{"a":1}'), ("json", '{"a":1}')]),
    ("characteristic.value", "2024-01-01", [("string", "2024-01-01"), ("date-time", DAY)]),
    ("shoeSize", "1e3", [("string", "1e3"), ("number", Decimal(1000))]),
    # a string attribute holding a number equals the number
    ("name", "12", [("string", "12"), ("number", Decimal(12))]),
]


@pytest.mark.parametrize(("name", "raw", "expected"), CANDIDATES,
                         ids=[f"{c[0]}={c[1]}" for c in CANDIDATES])
def test_the_candidates_of_an_equality_filter(name: str, raw: str,
                                              expected: list[tuple[str, Any]]) -> None:
    for op in ("", ".eq", ".ne"):
        f = query.parse_filter(name + op, raw)
        assert list(query.candidates(f)) == expected
        assert query.equal_texts(f) == {key for rank, key in expected if rank == "string"}


BOUNDS = [
    ("creditProfile.creditScore", "700,1e3", [("number", Decimal(700)), ("number", Decimal(1000))]),
    ("validFor.startDateTime", "2024-01-01", [("date-time", DAY)]),
    ("name", "100", [("string", "100")]),  # a string attribute compares as text
    # untyped: the query text's own type, the first it reads as
    ("characteristic.value", "100", [("number", Decimal(100))]),
    ("characteristic.value", "2024-01-01", [("date-time", DAY)]),
    ("characteristic.value", "SME,true",
     [("string", "SME,true"), ("string", "SME"), ("string", "true")]),
]


@pytest.mark.parametrize(("name", "raw", "expected"), BOUNDS,
                         ids=[f"{c[0]}={c[1]}" for c in BOUNDS])
def test_the_bounds_of_an_ordering_filter(name: str, raw: str,
                                          expected: list[tuple[str, Any]]) -> None:
    for op in (".gt", ".gte", ".lt", ".lte"):
        assert list(query.bounds(query.parse_filter(name + op, raw))) == expected


# -- typed values ------------------------------------------------------------------------

UTC = timezone.utc
INSTANTS = [
    ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=UTC)),
    ("2024-01-01t00:00:00z", datetime(2024, 1, 1, tzinfo=UTC)),
    ("2024-01-01", datetime(2024, 1, 1, tzinfo=UTC)),
    ("2024-01-01T10:30", datetime(2024, 1, 1, 10, 30, tzinfo=UTC)),
    ("2024-01-01T10:30:00.5Z", datetime(2024, 1, 1, 10, 30, 0, 500000, tzinfo=UTC)),
    ("2024-01-01T10:30:00.123456789Z", datetime(2024, 1, 1, 10, 30, 0, 123456, tzinfo=UTC)),
    ("2024-01-01T12:00:00+02:00", datetime(2024, 1, 1, 10, tzinfo=UTC)),
    ("2024-01-01T12:00:00+0200", datetime(2024, 1, 1, 10, tzinfo=UTC)),
    ("2024-01-01 12:00:00-01:30", datetime(2024, 1, 1, 13, 30, tzinfo=UTC)),
    # "+02:00" sent unencoded in a URL arrives as " 02:00"
    ("2024-01-01T12:00:00 02:00", datetime(2024, 1, 1, 10, tzinfo=UTC)),
    ("2024-02-30T00:00:00Z", None),
    ("2024-01-01T24:00:00Z", None),
    ("20240101", None),
    ("yesterday", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), INSTANTS, ids=[c[0] or "empty" for c in INSTANTS])
def test_instants_parse_on_every_supported_python(text: str, expected: datetime | None) -> None:
    parsed = attributes.parse_instant(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() is not None and parsed.astimezone(UTC) == expected


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("700", "number", Decimal(700)), ("-1.5", "number", Decimal("-1.5")),
        ("1e3", "number", Decimal(1000)), ("NaN", "number", None), ("Infinity", "number", None),
        ("0x10", "number", None), ("", "number", None),
        ("true", "boolean", True), ("False", "boolean", False), ("1", "boolean", None),
        ("text", "string", "text"),
    ],
)
def test_query_text_as_typed_values(text: str, kind: str, expected: Any) -> None:
    assert attributes.parse_as(text, kind) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("name",), "string"),
        (("validFor", "startDateTime"), "date-time"),
        (("creditProfile", "creditScore"), "number"),
        (("contactMedium", "preferred"), "boolean"),
        (("engagedParty",), "object"),
        (("characteristic", "value"), "any"),
        (("@type",), "string"),
        (("shoeSize",), None),
        (("name", "first"), None),
    ],
)
def test_attribute_types_come_from_the_customer_schema(
    path: tuple[str, ...], expected: str | None
) -> None:
    assert attributes.attribute_type(path) == expected


def test_comparables_rank_values_by_type() -> None:
    instant = attributes.comparable("2024-01-01T00:00:00Z")
    assert instant == ("date-time", datetime(2024, 1, 1, tzinfo=UTC))
    assert attributes.comparable("2024-01-01T00:00:00Z", "string")[0] == "string"
    assert attributes.comparable(True) == ("boolean", True)
    assert attributes.comparable(2.5) == ("number", Decimal("2.5"))
    assert attributes.comparable({"a": 1}) == ("json", '{"a":1}')
    later = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=1)
    assert attributes.sort_key(instant) < attributes.sort_key(("date-time", later))
