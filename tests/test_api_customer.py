"""Every Customer operation and status code through the Flask test client."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import API, MINIMAL

JSON_TYPE = "application/json;charset=utf-8"


def assert_tmf_error(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["Content-Type"] == JSON_TYPE
    body = response.get_json()
    assert body["@type"] == "Error"
    assert body["status"] == str(status)
    assert body["code"] and body["reason"]
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    return body


def count(client: FlaskClient) -> int:
    return int(client.get(f"{API}/customer").headers["X-Total-Count"])


# -- create --------------------------------------------------------------------


def test_create_returns_201_with_id_href_type_and_location(client: FlaskClient) -> None:
    response = client.post(f"{API}/customer", json=MINIMAL)
    assert response.status_code == 201
    assert response.headers["Content-Type"] == JSON_TYPE
    body = response.get_json()
    assert isinstance(body["id"], str) and body["id"]
    assert body["href"] == f"http://localhost{API}/customer/{body['id']}"
    assert response.headers["Location"] == body["href"]
    assert body["@type"] == "Customer"
    assert body["name"] == MINIMAL["name"]
    assert body["engagedParty"] == MINIMAL["engagedParty"]
    # The kit searches the raw text for the href: "/" must not be escaped.
    assert body["href"] in response.get_data(as_text=True)


def test_created_ids_are_unique(client: FlaskClient) -> None:
    ids = {client.post(f"{API}/customer", json=MINIMAL).get_json()["id"] for _ in range(20)}
    assert len(ids) == 20


def test_create_keeps_client_polymorphism_attributes(client: FlaskClient) -> None:
    body = {
        **MINIMAL,
        "@type": "VipCustomer",
        "@baseType": "Customer",
        "@schemaLocation": "https://example.com/schemas/VipCustomer.json",
        "loyaltyLevel": "platinum",
    }
    created = client.post(f"{API}/customer", json=body).get_json()
    stored = client.get(f"{API}/customer/{created['id']}").get_json()
    for key in ("@type", "@baseType", "@schemaLocation", "loyaltyLevel"):
        assert stored[key] == body[key]


@pytest.mark.parametrize(
    ("headers", "base"),
    [
        (
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"},
            "https://api.example.com",
        ),
        (
            {"X-Forwarded-Host": "gw.example.com", "X-Forwarded-Prefix": "/sandbox"},
            "http://gw.example.com/sandbox",
        ),
    ],
)
def test_create_sets_href_from_forwarded_headers_of_a_trusted_proxy(
    app_config: dict[str, Any], headers: dict[str, str], base: str
) -> None:
    from sandbox import create_app

    app = create_app({**app_config, "trusted_proxies": ("127.0.0.0/8",)})
    client = app.test_client()
    response = client.post(f"{API}/customer", json=MINIMAL, headers=headers)
    href = response.get_json()["href"]
    assert href.startswith(f"{base}{API}/customer/")
    assert response.headers["Location"] == href
    # The same headers from an address that is not a trusted proxy change nothing.
    response = client.post(f"{API}/customer", json=MINIMAL, headers=headers,
                           environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.get_json()["href"].startswith(f"http://localhost{API}/customer/")
    app.extensions["sandbox.events"].close(timeout=1)
    app.extensions["sandbox.db"].close()


def test_forwarded_headers_are_ignored_without_trusted_proxy(client: FlaskClient) -> None:
    response = client.post(f"{API}/customer", json=MINIMAL,
                           headers={"X-Forwarded-Host": "evil.example"})
    assert "evil.example" not in response.headers["Location"]
    assert response.get_json()["href"].startswith(f"http://localhost{API}/customer/")


@pytest.mark.parametrize("public_url", ["https://gw.example.com", f"https://gw.example.com{API}/"])
def test_public_url_overrides_href(app_config: dict[str, Any], public_url: str) -> None:
    from sandbox import create_app

    app = create_app({**app_config, "public_url": public_url})
    body = app.test_client().post(f"{API}/customer", json=MINIMAL).get_json()
    assert body["href"] == f"https://gw.example.com{API}/customer/{body['id']}"


BAD_CREATES = [
    ("id", {**MINIMAL, "id": "42"}, "id must not be sent"),
    ("href", {**MINIMAL, "href": "http://x/customer/1"}, "href must not be sent"),
    ("unknown attribute", {**MINIMAL, "shoeSize": 42}, "shoeSize"),
    ("no engagedParty", {"name": "X"}, "'engagedParty' is a required property (rule: required)"),
    ("no name", {"engagedParty": MINIMAL["engagedParty"]}, "'name' is a required property"),
    (
        "engagedParty without id",
        {"name": "X", "engagedParty": {"@referredType": "Organization"}},
        "$.engagedParty: 'id' is a required property",
    ),
    ("name not a string", {**MINIMAL, "name": 5}, "$.name: 5 is not of type 'string' (rule: type)"),
    (
        "bad date-time",
        {**MINIMAL, "validFor": {"startDateTime": "yesterday"}},
        "$.validFor.startDateTime: 'yesterday' is not a 'date-time' (rule: format)",
    ),
    (
        "contact medium without characteristic",
        {**MINIMAL, "contactMedium": [{"mediumType": "email"}]},
        "$.contactMedium[0]: 'characteristic' is a required property",
    ),
    ("array body", [MINIMAL], "JSON object"),
    ("string body", "Moon", "JSON object"),
    ("bad @schemaLocation", {**MINIMAL, "@schemaLocation": "not a uri"}, "(rule: format)"),
]


@pytest.mark.parametrize(("case", "body", "fragment"), BAD_CREATES, ids=[c[0] for c in BAD_CREATES])
def test_invalid_create_is_400_and_stores_nothing(
    client: FlaskClient, case: str, body: Any, fragment: str
) -> None:
    before = count(client)
    assert_tmf_error(client.post(f"{API}/customer", json=body), 400, fragment)
    assert count(client) == before


@pytest.mark.parametrize(
    ("data", "fragment"),
    [(b"{not json", "not valid JSON"), (b"", "empty"), (b"\xff\xfe", "not valid JSON")],
)
def test_malformed_json_is_400(client: FlaskClient, data: bytes, fragment: str) -> None:
    response = client.post(f"{API}/customer", data=data, content_type="application/json")
    assert_tmf_error(response, 400, fragment)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_create_with_other_media_type_is_415(client: FlaskClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(f"{API}/customer", data=b'{"name": "X"}', headers=headers)
    assert_tmf_error(response, 415, "application/json")


def test_oversized_body_is_413(app_config: dict[str, Any]) -> None:
    from sandbox import create_app

    client = create_app({**app_config, "max_body_bytes": 1000}).test_client()
    body = {**MINIMAL, "statusReason": "x" * 2000}
    assert_tmf_error(client.post(f"{API}/customer", json=body), 413, "1000 bytes")


# -- list and retrieve -----------------------------------------------------------


def test_list_returns_seed_with_count_headers(client: FlaskClient) -> None:
    response = client.get(f"{API}/customer")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == JSON_TYPE
    items = response.get_json()
    assert len(items) == 25
    assert response.headers["X-Total-Count"] == "25"
    assert response.headers["X-Result-Count"] == "25"
    for item in items:
        assert {"engagedParty", "@type", "href", "id", "name"} <= item.keys()
        assert item["href"] == f"http://localhost{API}/customer/{item['id']}"


def test_trailing_slash_is_tolerated(client: FlaskClient) -> None:
    assert client.get(f"{API}/customer/").status_code == 200
    assert client.get(f"{API}/").status_code == 200


def test_api_root_links_the_resources(client: FlaskClient) -> None:
    body = client.get(API).get_json()
    assert body["resources"] == {
        "customer": f"http://localhost{API}/customer",
        "hub": f"http://localhost{API}/hub",
    }


def test_fields_selects_first_level_attributes(client: FlaskClient) -> None:
    items = client.get(f"{API}/customer?fields=name,status").get_json()
    assert items and all(set(item) <= {"id", "href", "@type", "name", "status"} for item in items)
    assert all("name" in item and "id" in item and "href" in item for item in items)


def test_fields_applies_on_retrieve(client: FlaskClient, created: dict[str, Any]) -> None:
    body = client.get(f"{API}/customer/{created['id']}?fields=name").get_json()
    assert body == {k: created[k] for k in ("id", "href", "@type", "name")}


FILTERS = [
    ("status=Suspended", lambda c: c.get("status") == "Suspended"),
    (
        "engagedParty.@referredType=Individual",
        lambda c: c["engagedParty"]["@referredType"] == "Individual",
    ),
    (
        "contactMedium.mediumType=postalAddress",
        lambda c: any(m["mediumType"] == "postalAddress" for m in c.get("contactMedium", [])),
    ),
    (
        "characteristic.name=segment",
        lambda c: any(ch["name"] == "segment" for ch in c.get("characteristic", [])),
    ),
    (
        "status=Approved&engagedParty.@referredType=Organization",
        lambda c: (
            c.get("status") == "Approved" and c["engagedParty"]["@referredType"] == "Organization"
        ),
    ),
]


@pytest.mark.parametrize(("query", "predicate"), FILTERS, ids=[f[0] for f in FILTERS])
def test_equality_filters_return_exactly_the_matching_customers(
    client: FlaskClient, query: str, predicate: Any
) -> None:
    everything = client.get(f"{API}/customer").get_json()
    expected = sorted(c["id"] for c in everything if predicate(c))
    response = client.get(f"{API}/customer?{query}")
    got = sorted(c["id"] for c in response.get_json())
    assert got == expected
    assert 0 < len(got) < len(everything)
    assert response.headers["X-Total-Count"] == str(len(expected))


@pytest.mark.parametrize("attribute", ["id", "href", "name"])
def test_filter_on_kit_attributes_finds_the_created_customer(
    client: FlaskClient, created: dict[str, Any], attribute: str
) -> None:
    items = client.get(f"{API}/customer", query_string={attribute: created[attribute]}).get_json()
    assert [item["id"] for item in items] == [created["id"]]


def test_filter_values_are_url_decoded(client: FlaskClient, created: dict[str, Any]) -> None:
    items = client.get(f"{API}/customer?name=Moon%20Football%20Club").get_json()
    assert [item["id"] for item in items] == [created["id"]]


def test_filter_without_match_is_an_empty_list(client: FlaskClient) -> None:
    response = client.get(f"{API}/customer?name=Nobody")
    assert response.status_code == 200
    assert response.get_json() == []
    assert response.headers["X-Total-Count"] == "0"
    assert response.headers["X-Result-Count"] == "0"


def test_retrieve_returns_the_customer(client: FlaskClient, created: dict[str, Any]) -> None:
    response = client.get(f"{API}/customer/{created['id']}")
    assert response.status_code == 200
    assert response.get_json() == created


def test_retrieve_unknown_is_404(client: FlaskClient) -> None:
    response = client.get(f"{API}/customer/f0425514-22ec-4937-a579-563c575142f5")
    assert_tmf_error(response, 404, "f0425514-22ec-4937-a579-563c575142f5")
