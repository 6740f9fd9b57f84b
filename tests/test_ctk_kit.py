"""The kit's semantics, piece by piece: JavaScript rules, script steps, the two builds.

The proof that these add up to Newman's verdict is tests/test_ctk_newman.py;
these tables pin each rule on its own, so a regression names the rule.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ctk_runner.client import Reply
from ctk_runner.kit import js
from ctk_runner.kit.builds import BUILDS, load
from ctk_runner.kit.script import KitScript, body_includes, is_string, mandatory

U = js.UNDEFINED


@pytest.mark.parametrize(("a", "b", "equal"), [
    (U, None, True), (None, None, True), (U, "x", False), ("7", 7, True), (7, 7.0, True),
    ("a", "a", True), ("a", "b", False), ([1, 2], "1,2", True), ({}, "[object Object]", True),
    ({}, {}, False), (True, 1, True), ("", 0, True), (None, 0, False),
])
def test_loose_equality_is_javascripts(a: Any, b: Any, equal: bool) -> None:
    assert js.loose_equals(a, b) is equal
    assert js.loose_equals(b, a) is equal


@pytest.mark.parametrize(("value", "text"), [
    (U, "undefined"), (None, "null"), (True, "true"), (2366, "2366"), (1.5, "1.5"),
    (2.0, "2"), ("abc", "abc"), ([1, None, "a"], "1,,a"), ({"a": 1}, "[object Object]"),
])
def test_string_concatenation_is_javascripts(value: Any, text: str) -> None:
    assert js.to_string(value) == text


@pytest.mark.parametrize(("value", "keys"), [
    ({"a": 1, "b": 2}, ["a", "b"]), ([7, 8], ["0", "1"]), ("ab", ["0", "1"]), (5, []),
])
def test_object_keys(value: Any, keys: list[str]) -> None:
    assert js.keys(value) == keys


def test_property_access_on_null_throws_and_elsewhere_is_undefined() -> None:
    with pytest.raises(js.ScriptError, match="null"):
        js.get(None, "id")
    assert js.get("text", "id") is U and js.get([1], "id") is U and js.get({}, "id") is U
    assert js.get({"id": None}, "id") is None


def test_the_kit_tests_say_plainly_what_they_saw() -> None:
    text = '"do some magic!"'
    assert mandatory("do some magic!", ["id"]).message == (
        'expected a JSON object with id; got a JSON string "do some magic!"')
    assert not mandatory([], ["id"]).passed
    assert mandatory({"id": "1", "name": "n"}, ["id", "name", "id"]).passed
    assert is_string({"id": 7}, "id").message == (
        "customer 7 has id = the JSON number 7, not a string")
    assert not is_string(None, "id").passed
    assert not body_includes("do some magic!", "href", text).passed
    # chai's include coerces: a number is searched as its text.
    assert body_includes({"id": 2366}, "id", '{"id": 2366}').passed


def _reply(status: int | None, body: Any, *, raw: str | None = None) -> Reply:
    text = raw if raw is not None else json.dumps(body)
    return Reply("GET", "http://h/c", {}, None, status=status, text=text,
                 error=None if status is not None else "timed out")


PUBLISHED = load("published")


Outcomes = tuple[list[tuple[str, bool]], str | None]


def _names(build: str, number: int, reply: Reply,
           held: dict[str, dict[str, Any]] | None = None) -> Outcomes:
    script = KitScript(load(build), held if held is not None else {})
    run = script.run(load(build).scenario(number).script, reply)
    # As the kit counts them: a value check that did not hold still passes there.
    return [(a.name, a.outcome("ctk") != "failed") for a in run.assertions], run.error


CUSTOMER = {"id": "1", "href": "http://h/c/1", "name": "Moon", "@type": "Customer",
            "engagedParty": {"id": "9"}}
HELD = {"CU01": {"id": "1", "href": "http://h/c/1", "name": "Moon"}}


def test_published_branch_checks_an_empty_array_as_one_instance() -> None:
    names, error = _names("published", 6, _reply(200, []), HELD)
    assert error is None
    assert [n for n, ok in names if not ok] == [
        "Instance has all mandatory attributes", "Response has @type attribute",
        "Response has href attribute", "Response has id attribute",
        "Response has name attribute", "Body includes value held on href",
        "Body includes value held on id", "Body includes value held on name"]


def test_published_branch_loops_over_an_array_from_a_retrieve() -> None:
    names, error = _names("published", 3, _reply(200, [CUSTOMER]), HELD)
    assert error is None and all(ok for _, ok in names)
    assert names[-3:] == [("href is http://h/c/1", True), ("id is 1", True), ("name is Moon", True)]


def test_certified_list_stops_on_a_body_that_is_no_array() -> None:
    names, error = _names("certified", 3, _reply(200, CUSTOMER), HELD)
    assert names == [("Status code is 200", True)]
    assert error is not None and "a JSON object" in error


def test_a_missing_id_compares_undefined_like_the_kit() -> None:
    # IDCU02 is never set in the published build: an instance without id "is" CU02.
    names, _ = _names("published", 3, _reply(404, {"code": "404", "@type": "Error"}), HELD)
    assert ("IDCU02 not expected on this test", True) in names
    # Held as undefined (the create had no id): it matches null, and is named so.
    names, _ = _names("published", 3, _reply(404, {"code": "404"}),
                      {"CU01": {"id": None, "href": "h", "name": "Moon"}})
    assert ("id is null", True) in names and ("href is h", True) in names


def test_no_response_fails_the_status_and_stops_the_script() -> None:
    names, error = _names("published", 2, _reply(None, None, raw=""))
    assert names == [("Status code is 200", False)] and error is not None


def test_create_holds_and_flags_an_array() -> None:
    held: dict[str, dict[str, Any]] = {}
    names, error = _names("published", 1, _reply(201, [CUSTOMER]), held)
    assert names[0] == ("Array not expected as response", False) and error is None
    assert held == {"CU01": {"href": None, "id": None, "name": None}}


def test_value_checks_always_pass_in_the_kit_but_say_what_differed() -> None:
    script = KitScript(PUBLISHED, {"CU01": {"id": "1", "href": "h", "name": "Moon"}})
    run = script.run(PUBLISHED.scenario(3).script, _reply(200, {**CUSTOMER, "href": "x"}))
    value = next(a for a in run.assertions if a.name == "href is h")
    assert value.kind == "value" and not value.passed
    assert value.outcome("ctk") == "warning" and value.outcome("strict") == "failed"
    assert "held" in value.message


@pytest.mark.parametrize("name", BUILDS)
def test_every_build_describes_its_requests_completely(name: str) -> None:
    build = load(name)
    assert [s.number for s in build.scenarios] == list(range(1, len(build.scenarios) + 1))
    assert {s.folder for s in build.scenarios} == set(build.folders)
    assert len(build.scenarios) == {"certified": 15, "published": 10}[name]
    creates = [s for s in build.scenarios if s.kind == "create"]
    assert [s.subject for s in creates] == list(build.subjects)
