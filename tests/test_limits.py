"""The limits as pure functions, from tables: regex size estimates, JSON bodies, the query cap."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sandbox.config import Config
from sandbox.domain import json_body, patterns
from sandbox.errors import ApiError
from sandbox.events.safety import CallbackRefused, callback_host
from sandbox.http import check_query


@pytest.mark.parametrize(
    ("pattern", "size"),
    [
        ("abc", 3),
        ("a{10}", 10),
        # "?" and ":" of "(?:" count as atoms: an over-estimate is safe
        ("(?:a{10}){10}", 120),
        ("(?:(?:a{10}){10}){10}", 1220),
        ("a{2,5}b", 6),
        ("a{3,}", 3),
        ("a{,4}", 4),
        ("[a{999}]", 1),  # a class: the braces are literal
        ("\\{999}", 5),  # an escaped brace: "{999}" is literal text
        ("x{}", 3),
        ("(ab|cd){3}", 15),  # alternatives add up
    ],
)
def test_expansion_estimates_the_compiled_size(pattern: str, size: int) -> None:
    assert patterns.expansion(pattern, 1000) == size


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("(?:(?:a{999}){999}){999}", "expands to about"),
        ("(?:a{999}){15}", "expands to about"),
        ("a{1001}", "above 1000"),
        ("a{99999999999}", "above 1000"),
        ("a{1,99999999999999999999}", "above 1000"),
        ("(?:abc){e<=3}", "fuzzy"),
        ("a" * 257, "longer than 256"),
        ("(unclosed", "invalid regular expression"),
    ],
)
def test_patterns_beyond_the_limits_are_refused_before_compiling(pattern: str,
                                                                 fragment: str) -> None:
    with pytest.raises(patterns.PatternRefused, match=fragment.replace("(", "\\(")):
        patterns.compile_pattern(pattern)


def test_matching_ends_at_the_deadline() -> None:
    compiled = patterns.compile_pattern("^(a+)+b$")
    with pytest.raises(patterns.PatternTimeout):
        patterns.search(compiled, "a" * 5000, time.monotonic() + 0.05)
    assert patterns.search(compiled, "aab", time.monotonic() + 1)


def test_a_request_finding_every_slot_taken_is_turned_away() -> None:
    compiled = patterns.compile_pattern("a")
    held = [patterns._slots.acquire(timeout=1) for _ in range(patterns.limits().slots)]
    try:
        assert all(held)
        with pytest.raises(patterns.PatternBusy):
            patterns.search(compiled, "a", time.monotonic() + 5)
    finally:
        for _ in held:
            patterns._slots.release()
    assert patterns.search(compiled, "a", time.monotonic() + 5)


def deep(levels: int, leaf: Any = 1, *, objects: bool = False) -> str:
    opening, closing = ('{"k":', "}") if objects else ("[", "]")
    return opening * levels + str(leaf) + closing * levels


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (deep(65), "nested more than 64"),
        (deep(65, objects=True), "nested more than 64"),
        (deep(500), "nested more than 64"),
        (deep(100_000), "nested more than 64"),
        ("[" + "9" * 4301 + "]", "at most 100 are accepted"),
        ('{"n": 1e999}', "too large to be stored"),
        ('{"n": -1e400}', "too large to be stored"),
        ('{"n": NaN}', "NaN is not a JSON value"),
        ('{"n": Infinity}', "Infinity is not a JSON value"),
        ('{"name": "\\ud800"}', "lone surrogate"),
        ('{"\\udfff": 1}', "lone surrogate"),
        ('["ok", ["\\ud83d"]]', "lone surrogate"),
        ("{oops", "not valid JSON"),
    ],
)
def test_bodies_beyond_the_limits_are_400(text: str, fragment: str) -> None:
    with pytest.raises(ApiError) as caught:
        json_body.parse(text)
    assert caught.value.status == 400
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (deep(64), json_body.parse(deep(64))),
        ('{"name": "\\ud83d\\ude00 Zo\\u00eb"}', {"name": "\U0001F600 Zoë"}),
        ("[0." + "9" * 98 + "]", [float("0." + "9" * 98)]),
        ('{"x": 1.5e-300}', {"x": 1.5e-300}),
    ],
)
def test_bodies_within_the_limits_parse(text: str, value: Any) -> None:
    assert json_body.parse(text) == value


@pytest.mark.parametrize(
    ("query", "status"),
    [
        (b"", None),
        (b"a=1&" * 99 + b"b=2", None),
        (b"a=1&" * 100 + b"b=2", 400),
        (b"name=" + b"x" * 16_379, None),
        (b"name=" + b"x" * 16_380, 414),
    ],
)
def test_query_caps(query: bytes, status: int | None) -> None:
    if status is None:
        check_query(query, Config())
        return
    with pytest.raises(ApiError) as caught:
        check_query(query, Config())
    assert caught.value.status == status


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://example.com/x", "example.com"),
        ("http://[::1]:8/x", "::1"),
        ("http://bob:pw@Example.COM/", "example.com"),
        ("http://127.0.0.1\\@1.1.1.1/", None),
        ("http://a@b@1.1.1.1/", "1.1.1.1"),
    ],
)
def test_callback_hosts_are_read_one_way(url: str, host: str | None) -> None:
    if host is None:
        with pytest.raises(CallbackRefused):
            callback_host(url)
    else:
        assert callback_host(url) == host
