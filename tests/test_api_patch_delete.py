"""PATCH (JSON Merge Patch), DELETE and the protocol-level errors."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import API
from tests.test_api_customer import JSON_TYPE, assert_tmf_error

MERGE = "application/merge-patch+json"


def patch(client: FlaskClient, ident: str, body: Any, content_type: str = MERGE) -> Any:
    return client.patch(f"{API}/customer/{ident}", json=body, content_type=content_type)


@pytest.mark.parametrize(
    "content_type", [MERGE, "application/json", "application/json; charset=utf-8"]
)
def test_patch_applies_merge_patch(
    client: FlaskClient, created: dict[str, Any], content_type: str
) -> None:
    body = {"status": "Approved", "engagedParty": {"name": "Moon FC Ltd"}}
    response = patch(client, created["id"], body, content_type)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == JSON_TYPE
    result = response.get_json()
    assert result["status"] == "Approved"
    assert result["engagedParty"] == {**created["engagedParty"], "name": "Moon FC Ltd"}
    assert result["href"] == created["href"]
    assert client.get(f"{API}/customer/{created['id']}").get_json() == result


def test_patch_null_removes_a_member(client: FlaskClient, created: dict[str, Any]) -> None:
    patch(client, created["id"], {"status": "Pending", "statusReason": "KYC"})
    result = patch(client, created["id"], {"statusReason": None}).get_json()
    assert "statusReason" not in result
    assert result["status"] == "Pending"


def test_patch_may_repeat_id_and_href_unchanged(
    client: FlaskClient, created: dict[str, Any]
) -> None:
    body = {"id": created["id"], "href": created["href"], "name": "Renamed"}
    assert patch(client, created["id"], body).get_json()["name"] == "Renamed"


BAD_PATCHES = [
    ("change id", {"id": "other"}, "'id' cannot be changed"),
    ("change href", {"href": "http://elsewhere/customer/1"}, "'href' cannot be changed"),
    ("remove id", {"id": None}, "'id' cannot be changed"),
    ("remove engagedParty", {"engagedParty": None}, "'engagedParty' is a required property"),
    ("remove name", {"name": None}, "name cannot be removed"),
    ("remove @type", {"@type": None}, "@type cannot be removed"),
    ("wrong type", {"status": 3}, "$.status: 3 is not of type 'string'"),
    ("unknown attribute", {"shoeSize": 42}, "shoeSize"),
    ("bad nested", {"creditProfile": [{"creditScore": 700}]}, "'creditProfileDate' is a required"),
    ("array body", [{"op": "replace"}], "JSON object"),
]


@pytest.mark.parametrize(("case", "body", "fragment"), BAD_PATCHES, ids=[c[0] for c in BAD_PATCHES])
def test_invalid_patch_is_400_and_changes_nothing(
    client: FlaskClient, created: dict[str, Any], case: str, body: Any, fragment: str
) -> None:
    assert_tmf_error(patch(client, created["id"], body), 400, fragment)
    assert client.get(f"{API}/customer/{created['id']}").get_json() == created


def test_patch_malformed_json_is_400(client: FlaskClient, created: dict[str, Any]) -> None:
    response = client.patch(f"{API}/customer/{created['id']}", data=b"{", content_type=MERGE)
    assert_tmf_error(response, 400, "not valid JSON")


@pytest.mark.parametrize("content_type", ["application/xml", "text/plain"])
def test_patch_with_unsupported_media_type_is_415(
    client: FlaskClient, created: dict[str, Any], content_type: str
) -> None:
    response = client.patch(
        f"{API}/customer/{created['id']}", data=b'{"status": "X"}', content_type=content_type
    )
    assert_tmf_error(response, 415, MERGE)
    assert MERGE in response.headers["Accept-Patch"]
    assert client.get(f"{API}/customer/{created['id']}").get_json() == created


def test_patch_unknown_customer_is_404(client: FlaskClient) -> None:
    assert_tmf_error(patch(client, "nope", {"status": "Approved"}), 404, "nope")


def test_delete_then_404(client: FlaskClient, created: dict[str, Any]) -> None:
    response = client.delete(f"{API}/customer/{created['id']}")
    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert_tmf_error(client.get(f"{API}/customer/{created['id']}"), 404)
    assert_tmf_error(client.delete(f"{API}/customer/{created['id']}"), 404)
    assert_tmf_error(patch(client, created["id"], {"status": "Approved"}), 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("put", "/customer", {"GET", "POST"}),
        ("delete", "/customer", {"GET", "POST"}),
        ("post", "/customer/abc", {"GET", "PATCH", "DELETE"}),
        ("put", "/customer/abc", {"GET", "PATCH", "DELETE"}),
    ],
)
def test_wrong_method_is_405_with_allow(
    client: FlaskClient, method: str, path: str, allowed: set[str]
) -> None:
    response = getattr(client, method)(f"{API}{path}", json={})
    assert_tmf_error(response, 405, method.upper())
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


@pytest.mark.parametrize("path", ["/tmf-api/customerManagement/v3/customer", f"{API}/party",
                                  f"{API}//customer", "/static//x"])
def test_unknown_path_is_404_json(client: FlaskClient, path: str) -> None:
    assert_tmf_error(client.get(path), 404, path)


def test_root_lists_the_api(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.get_json()["apis"][0]["url"] == f"http://localhost{API}"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("query", ["offset=-1", "limit=abc", "offset=1.5", "name.=x", ".name=x"])
def test_bad_query_parameters_are_400(client: FlaskClient, query: str) -> None:
    assert_tmf_error(client.get(f"{API}/customer?{query}"), 400)


NASTY = [
    ("post", f"{API}/customer", {"data": b"\x00\x01", "content_type": "application/json"}),
    ("post", f"{API}/customer", {"data": b"[" * 100000, "content_type": "application/json"}),
    ("post", f"{API}/customer", {"data": b'{"a":' * 5000, "content_type": "application/json"}),
    ("post", f"{API}/customer", {"data": b"{}", "content_type": "application/json; charset=nope"}),
    ("post", f"{API}/customer", {"json": {"name": None, "engagedParty": None}}),
    ("get", f"{API}/customer?fields=", {}),
    ("get", f"{API}/customer?%ff=%fe", {}),
    ("get", f"{API}/customer/%00", {}),
    ("patch", f"{API}/customer/x", {"data": b"null", "content_type": MERGE}),
]


@pytest.mark.parametrize(("method", "url", "kwargs"), NASTY)
def test_hostile_input_never_gives_500_or_html(
    client: FlaskClient, method: str, url: str, kwargs: dict[str, Any]
) -> None:
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code < 500
    assert response.headers["Content-Type"] == JSON_TYPE
    if response.status_code >= 400:
        assert response.get_json()["@type"] == "Error"


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/customer", {"GET", "POST"}), ("/customer/x", {"GET", "PATCH", "DELETE"})],
)
def test_options_lists_the_allowed_methods_without_a_body(
    client: FlaskClient, path: str, allowed: set[str]
) -> None:
    response = client.options(f"{API}{path}")
    assert response.status_code == 204
    assert response.data == b""
    assert "text/html" not in response.headers.get("Content-Type", "")
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}
