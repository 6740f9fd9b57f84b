"""The console covers both API versions: ``?api=v5`` lists and shows a tenant's v5
customers (their own collection), v4 stays the default, and each page links the other."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from tests.conftest import API, MINIMAL

ROOT = Path(__file__).resolve().parents[1]
OAS = json.loads((ROOT / "sandbox/openapi/TMF629-Customer_Management-v5.0.1.oas.json")
                 .read_text(encoding="utf-8"))
V5 = "/tmf-api/customerManagement/v5"


def _v5_customer(name: str) -> dict[str, Any]:
    body = copy.deepcopy(OAS["components"]["examples"]["Customer_Create_example_request"]
                         ["value"])
    body["name"] = name
    return dict(body)


def test_the_console_lists_v5_customers_apart_from_v4(client: FlaskClient) -> None:
    made = client.post(f"{V5}/customer", json=_v5_customer("Only In Five Ltd"))
    assert made.status_code == 201, made.get_data(as_text=True)
    assert client.post(f"{API}/customer", json={**MINIMAL, "name": "Only In Four Ltd"}
                       ).status_code == 201
    four = client.get("/console/").get_data(as_text=True)
    five = client.get("/console/?api=v5").get_data(as_text=True)
    assert "Only In Four Ltd" in four and "Only In Five Ltd" not in four
    assert "Only In Five Ltd" in five and "Only In Four Ltd" not in five
    assert 'href="/console/?api=v5"' in four  # each page links the other version
    assert 'name="api" value="v5"' in five  # the filter stays on v5
    narrowed = client.get("/console/?api=v5&name=Only+In+Five+Ltd").get_data(as_text=True)
    assert 'id="customer-total">1<' in narrowed


def test_a_v5_customer_page_shows_its_v5_document(client: FlaskClient) -> None:
    made = client.post(f"{V5}/customer", json=_v5_customer("Shown In Five Ltd")).get_json()
    page = client.get(f"/console/customers/{made['id']}?api=v5")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Shown In Five Ltd" in text and f"{V5}/customer/{made['id']}" in text
    # The same id is no v4 customer: a TMF 404, as for any unknown id.
    assert client.get(f"/console/customers/{made['id']}").status_code == 404


def test_the_events_page_lists_both_versions_subscriptions(client: FlaskClient) -> None:
    four = client.post(f"{API}/hub", json={"callback": "http://127.0.0.1:9/four"})
    five = client.post(f"{V5}/hub", json={"@type": "Hub",
                                          "callback": "http://127.0.0.1:9/five"})
    assert four.status_code == 201 and five.status_code == 201, five.get_data(as_text=True)
    text = client.get("/console/events").get_data(as_text=True)
    assert "http://127.0.0.1:9/four" in text and "http://127.0.0.1:9/five" in text
    assert 'data-label="API">v5<' in text and 'data-label="API">v4<' in text
