"""``/hub``: register, read, unregister; bad input and refused callbacks are 400s."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sandbox import create_app
from tests.conftest import API

HUB = f"{API}/hub"
PUBLIC_IP = "http://93.184.216.34:8080/hooks"


@pytest.fixture
def make_client(db_path: Path) -> Iterator[Callable[..., FlaskClient]]:
    """A client of an app built with config overrides (bind host, networks)."""
    apps: list[Flask] = []

    def make(**overrides: Any) -> FlaskClient:
        app = create_app({"db_path": str(db_path), **overrides})
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions["sandbox.events"].close()
        app.extensions["sandbox.db"].close()


def assert_error(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["@type"] == "Error" and body["status"] == str(status)
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    return body


def test_register_read_unregister(client: FlaskClient) -> None:
    response = client.post(HUB, json={"callback": "http://127.0.0.1:9000/hooks"})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"id", "callback", "query"}
    assert body["callback"] == "http://127.0.0.1:9000/hooks" and body["query"] == ""
    assert response.headers["Location"] == f"http://localhost{HUB}/{body['id']}"
    assert client.get(f"{HUB}/{body['id']}").get_json() == body
    assert client.delete(f"{HUB}/{body['id']}").status_code == 204
    assert_error(client.get(f"{HUB}/{body['id']}"), 404, body["id"])
    assert_error(client.delete(f"{HUB}/{body['id']}"), 404)


def test_query_is_kept(client: FlaskClient) -> None:
    query = "eventType=CustomerCreateEvent,CustomerDeleteEvent"
    body = client.post(HUB, json={"callback": "http://localhost:1/", "query": query}).get_json()
    assert body["query"] == query
    assert client.get(f"{HUB}/{body['id']}").get_json()["query"] == query


def test_tmf_v5_polymorphism_members_are_tolerated(client: FlaskClient) -> None:
    response = client.post(HUB, json={"callback": "http://localhost:1/", "@type": "Hub"})
    assert response.status_code == 201
    assert "@type" not in response.get_json()


def test_subscriptions_persist_in_the_store(make_client: Callable[..., FlaskClient]) -> None:
    first = make_client()
    ident = first.post(HUB, json={"callback": "http://localhost:1/"}).get_json()["id"]
    # One process owns a store: the first app stops, as before a restart.
    first.application.extensions["sandbox.db"].close()
    again = make_client()
    assert again.get(f"{HUB}/{ident}").get_json()["callback"] == "http://localhost:1/"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "must be a JSON object"),
        ({}, "'callback' is a required property"),
        ({"callback": 42}, "42 is not of type 'string'"),
        ({"callback": "/listener"}, "is not an absolute http"),
        ({"callback": "ftp://example.com/"}, "is not an absolute http"),
        ({"callback": "example.com"}, "is not an absolute http"),
        ({"callback": "http://example.com:70000/"}, "invalid port"),
        ({"callback": "http://localhost:1/", "id": "mine"}, "the server assigns it"),
        ({"callback": "http://localhost:1/", "topic": "x"}, "Unknown attribute(s)"),
        ({"callback": "http://localhost:1/", "query": 5}, "5 is not of type 'string'"),
        ({"callback": "http://localhost:1/", "query": "eventType"}, "name=value"),
    ],
    ids=["array", "no-callback", "callback-number", "relative", "ftp", "no-scheme",
         "bad-port", "id", "unknown", "query-number", "query-no-value"],
)
def test_bad_registrations_are_400(client: FlaskClient, body: Any, fragment: str) -> None:
    assert_error(client.post(HUB, json=body), 400, fragment)


def test_registration_needs_json(client: FlaskClient) -> None:
    response = client.post(HUB, data="callback=http://x/", content_type="text/plain")
    assert_error(response, 415)


def test_hub_collection_has_no_get(client: FlaskClient) -> None:
    response = client.get(HUB)
    assert_error(response, 405)
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize(
    ("callback", "fragment"),
    [
        ("http://127.0.0.1:8080/", "127.0.0.1 is a loopback address"),
        ("http://[::1]:8080/", "::1 is a loopback address"),
        ("http://localhost:8080/", "is a loopback address"),
        ("http://10.0.0.7/", "10.0.0.7 is a private address"),
        ("http://192.168.1.20/", "is a private address"),
        ("http://169.254.169.254/latest/meta-data", "is a link-local address"),
    ],
)
def test_a_public_sandbox_refuses_internal_callbacks(
        make_client: Callable[..., FlaskClient], callback: str, fragment: str) -> None:
    client = make_client(bind_host="0.0.0.0")
    body = assert_error(client.post(HUB, json={"callback": callback}), 400, fragment,
                        "--allow-callback-network", "listens on 0.0.0.0")
    assert body["reason"] == "Callback not allowed"


def test_a_public_sandbox_accepts_public_callbacks(
        make_client: Callable[..., FlaskClient]) -> None:
    client = make_client(bind_host="0.0.0.0")
    assert client.post(HUB, json={"callback": PUBLIC_IP}).status_code == 201


def test_allowed_networks_replace_the_default(make_client: Callable[..., FlaskClient]) -> None:
    client = make_client(bind_host="0.0.0.0", callback_networks=("10.0.0.0/8",))
    assert client.post(HUB, json={"callback": "http://10.1.2.3/"}).status_code == 201
    assert_error(client.post(HUB, json={"callback": PUBLIC_IP}), 400,
                 "outside the allowed callback networks", "10.0.0.0/8")


def test_a_loopback_sandbox_accepts_any_callback(make_client: Callable[..., FlaskClient]) -> None:
    client = make_client(bind_host="127.0.0.1")
    for callback in ("http://127.0.0.1:1/", "http://10.0.0.7/", "http://unresolvable.invalid/"):
        assert client.post(HUB, json={"callback": callback}).status_code == 201


def test_bad_notification_settings_are_refused(db_path: Path) -> None:
    for overrides in ({"callback_mode": "sideways"}, {"delivery_attempts": 0},
                      {"callback_networks": ("intranet",)}):
        with pytest.raises(ValueError):
            create_app({"db_path": str(db_path), **overrides})
