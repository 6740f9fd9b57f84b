"""Unit tests of the harness's pieces: scenarios, checks, settings, formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctk_runner.client import Reply, describe_error
from ctk_runner.config import (
    ConfigError,
    build_settings,
    load_kit_config,
    normalise_root,
    parse_header,
)
from ctk_runner.kit.builds import load
from ctk_runner.model import Assertion
from ctk_runner.report.formatting import format_duration, format_size, mask_headers
from ctk_runner.strict import checks

CERTIFIED = load("certified")


def test_the_certified_build_has_15_requests_in_three_folders() -> None:
    scenarios = CERTIFIED.scenarios
    folders = [s.folder for s in scenarios]
    assert folders == ["N1"] * 5 + ["N2"] * 9 + ["E1"]
    assert [s.number for s in scenarios] == list(range(1, 16))
    assert [s.name for s in scenarios if s.folder == "N2"] == [
        "/customer?fields=href", "/customer?href={{HREFCU01}}", "/customer?href={{HREFCU02}}",
        "/customer?fields=id", "/customer?id={{IDCU01}}", "/customer?id={{IDCU02}}",
        "/customer?fields=name", "/customer?name={{NAMECU01}}", "/customer?name={{NAMECU02}}",
    ]
    assert [s.number for s in scenarios if not s.kit_tests] == [6, 9, 12]
    assert CERTIFIED.scenario(15).name == "/customer/404ID"
    assert CERTIFIED.scenario(5).description == (
        "This operation search for the other one of the created customer")


def test_urls_resolve_held_variables_like_postman() -> None:
    root = "http://h/api/"
    held = {"IDCU01": "a b/c", "HREFCU01": "http://h/api/customer/1", "NAMECU01": "Moon Club"}
    scenario = CERTIFIED.scenario
    assert scenario(4).url(root, held) == "http://h/api/customer/a%20b%2Fc"
    assert scenario(7).url(root, held) == "http://h/api/customer?href=http://h/api/customer/1"
    assert scenario(13).url(root, held) == "http://h/api/customer?name=Moon%20Club"
    # Never held (create failed): the placeholder stays, as in Postman.
    assert scenario(5).url(root, held) == "http://h/api/customer/%7B%7BIDCU02%7D%7D"
    # Held as undefined: Postman stored null, and sends "null".
    assert scenario(5).url(root, {"IDCU02": None}) == "http://h/api/customer/null"


def test_profile_turns_value_mismatches_into_warnings_or_failures() -> None:
    value = Assertion("name is Moon", False, "differs", "value")
    kit = Assertion("Status code is 200", False, "got 500", "kit")
    assert value.outcome("ctk") == "warning" and value.outcome("strict") == "failed"
    assert kit.outcome("ctk") == "failed"


def test_location_compares_resolved_urls() -> None:
    reply = Reply("POST", "http://h/api/customer", {}, None, status=201,
                  headers={"Location": "/api/customer/1"})
    assert checks.location_equals_href(reply, {"href": "http://h/api/customer/1"}).passed
    assert not checks.location_equals_href(reply, {"href": "http://h/api/customer/2"}).passed


def test_fields_and_filters_strict_checks() -> None:
    rows = [{"id": "1", "href": "h", "name": "A"}, {"id": "2", "href": "h", "status": "x"}]
    result = checks.only_requested_fields(rows, "name")
    assert not result.passed and "status" in result.message
    assert checks.filtered_only_matching([rows[0]], "name", "A").passed
    assert not checks.filtered_only_matching(rows, "name", "A").passed
    assert not checks.filtered_not_empty([], "id", "1").passed


def test_root_url_normalisation_and_headers() -> None:
    assert normalise_root("http://h:1/api") == "http://h:1/api/"
    assert normalise_root("https://h/api/") == "https://h/api/"
    with pytest.raises(ConfigError):
        normalise_root("h/api")
    assert parse_header("Authorization: Bearer a:b") == ("Authorization", "Bearer a:b")
    with pytest.raises(ConfigError):
        parse_header("Bad Name: x")


def test_kit_config_headers_and_payload(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({
        "url": "http://h/api",
        "headers": [{"key": "A", "value": "1"}, {"key": "B", "value": "2", "disabled": True}],
        "payloads": {"Customer": {"POST": {"payload": {
            "name": "X", "engagedParty": {"id": "1", "@referredType": "Organization"}}}}},
    }))
    kit = load_kit_config(path)
    assert kit.headers == {"A": "1"} and kit.payload and kit.payload["name"] == "X"
    settings = build_settings(target_url=None, config_file=str(path), headers=["A: 9"])
    assert settings.target_url == "http://h/api/"
    assert settings.headers == {"A": "9"}  # the command line wins
    assert settings.payloads[0] == settings.payloads[1] == kit.payload


def test_default_payloads_are_moon_and_sun() -> None:
    settings = build_settings(target_url="http://h/")
    assert [p["name"] for p in settings.payloads] == ["Moon Football Club", "Sun Football Club"]


def test_newman_number_formats() -> None:
    assert format_duration(82) == "82ms"
    assert format_duration(9300) == "9.3s"
    assert format_duration(11000) == "11s"
    assert format_duration(97100) == "1m 37.1s"
    assert format_size(149) == "149B"
    assert format_size(17.18 * 1024) == "17.18KB"


def test_secrets_are_masked_and_errors_are_sentences() -> None:
    masked = mask_headers({"Authorization": "Bearer x", "X-Api-Key": "k", "Accept": "a"})
    assert masked == {"Authorization": "***", "X-Api-Key": "***", "Accept": "a"}
    import requests

    text = describe_error(requests.Timeout("read timed out"), "http://h:1/x", 3)
    assert text == "h:1 did not answer within 3 s"
