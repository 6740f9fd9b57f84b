"""TMF629 v5.0.1 beside v4: the rendered schemas, the v5 rules, and real sandbox processes
on both backends serving v5 (CRUD, TMF630 queries, the three PATCH media types, hub,
listeners, v5 events to a real listener) while v4 keeps its own customers."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ctk_runner.embedded import SandboxProcess
from ctk_runner.notifications.listener import EventListener
from sandbox.domain.v5.convert import to_v5
from sandbox.domain.v5.validation import schema_errors
from schemas import v5 as schemas_v5
from schemas.v5 import render
from tests.pg_support import scratch_database

ROOT = Path(__file__).resolve().parents[1]
OAS = json.loads((ROOT / "sandbox/openapi/TMF629-Customer_Management-v5.0.1.oas.json")
                 .read_text(encoding="utf-8"))
EXAMPLES = {name: example["value"] for name, example in OAS["components"]["examples"].items()}
CREATE = EXAMPLES["Customer_Create_example_request"]
V5 = "/tmf-api/customerManagement/v5"
ALIAS = "/tmf-api/customer/v5"
V4 = "/tmf-api/customerManagement/v4"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
QUERY_PATCH = "application/json-patch-query+json"


def with_change(path: str, value: Any, base: dict[str, Any] = CREATE) -> dict[str, Any]:
    """``base`` with the member at a dotted path (list indexes as numbers) set or removed."""
    body = copy.deepcopy(base)
    *parents, last = path.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key: Any = int(last) if isinstance(node, list) else last
    if value is _REMOVE:
        del node[key]
    else:
        node[key] = value
    return body


_REMOVE = object()


# -- the rendered schema and the rules, as plain functions ---------------------------------


def test_the_committed_schema_is_the_rendering_of_the_committed_oas() -> None:
    committed = (ROOT / "schemas/v5/customer.schema.json").read_text(encoding="utf-8")
    assert committed == render.rendered_text(OAS)


@pytest.mark.parametrize("name", ["Create_Cusomter_Notification_Event_request",
                                  "Delete_Cusomter_Notification_Event_request",
                                  "Customer_Attribute_Value_Change_Notification_Event_request",
                                  "Customer_State_Change_Notification_Event_request",
                                  "Customer_Create_example_request"])
def test_every_example_of_the_oas_is_valid(name: str) -> None:
    body = EXAMPLES[name]
    schema = body["@type"] if body["@type"].endswith("Event") else "Customer_FVO"
    assert schema_errors(schema, body) == []


@pytest.mark.parametrize(("schema", "body", "fragment"), [
    ("Customer_FVO", with_change("@type", _REMOVE), "'@type' is a required property"),
    ("Customer_FVO", with_change("@type", "Supplier"), "'Customer' was expected"),
    ("Customer_FVO", with_change("engagedParty", _REMOVE), "'engagedParty' is a required"),
    ("Customer_FVO", with_change("contactMedium.0.emailAddress", "a@b.example"),
     "'emailAddress' is not an attribute"),
    ("Customer_FVO", with_change("contactMedium.0", {
        "mediumType": "email", "characteristic": {"emailAddress": "a@b.example"}}),
     "contactMedium[0]: '@type' is a required property"),
    ("Customer_FVO", with_change("contactMedium.1.@type", "PostalContactMedium"),
     "is not one of ['ContactMedium', 'EmailContactMedium'"),
    ("Customer_FVO", with_change("relatedParty.0.partyOrPartyRole.@type", "Nobody"),
     "'Nobody' is not one of"),
    ("Customer_FVO", with_change("characteristic", [
        {"@type": "IntegerCharacteristic", "name": "n", "value": "ten"}]),
     "'ten' is not of type 'integer'"),
    ("Customer_FVO", with_change("engagedParty.nickname", "x"), "'nickname' is not an attribute"),
    ("Customer_FVO", with_change("validFor", {"startDateTime": "yesterday"}),
     "is not a 'date-time'"),
    ("Customer", {**CREATE, "id": 7}, "7 is not of type 'string'"),
    ("Hub_FVO", {"callback": "http://127.0.0.1:9/"}, "'@type' is a required property"),
    ("Error", {"@type": "Error", "code": "400"}, "'reason' is a required property"),
    ("CustomerCreateEvent", {**EXAMPLES["Create_Cusomter_Notification_Event_request"],
                             "fieldPath": "name"}, "'fieldPath' is not an attribute"),
])
def test_the_v5_schemas_refuse(schema: str, body: Any, fragment: str) -> None:
    errors = schema_errors(schema, body)
    assert errors, f"{schema} accepted {body}"
    assert any(fragment in line for line in errors), errors


@pytest.mark.parametrize(("schema", "body"), [
    # An extension: an unknown @type and attributes of its own, declared by @schemaLocation.
    ("Customer_FVO", with_change("contactMedium.0", {
        "@type": "PagerContactMedium", "@schemaLocation": "https://example.com/pager.json",
        "pagerNumber": "42"})),
    ("Customer_FVO", {**CREATE, "@type": "VipCustomer",
                      "@schemaLocation": "https://example.com/vip.json", "tier": "gold"}),
    ("Customer_FVO", with_change("relatedParty.0.@type", "RelatedPartyOrPartyRole")),
    ("Customer_FVO", with_change("characteristic", [
        {"@type": "StringArrayCharacteristic", "name": "tags", "value": ["a", "b"]},
        {"@type": "ObjectCharacteristic", "name": "o", "value": {"free": {"form": 1}}}])),
])
def test_the_v5_schemas_accept(schema: str, body: Any) -> None:
    assert schema_errors(schema, body) == []


def test_a_wrong_member_is_reported_once_where_it_is() -> None:
    errors = schema_errors("Customer_FVO", with_change("contactMedium.0.faxNumber", "1"))
    assert len(errors) == 1 and errors[0].startswith("$.contactMedium[0]:"), errors


def test_the_linear_walk_agrees_with_the_closed_schema() -> None:
    """The unknown members the walk finds are exactly those the closed schema refuses."""
    cases = [CREATE, with_change("contactMedium.0.faxNumber", "1"),
             with_change("engagedParty.nickname", "x"),
             with_change("relatedParty.0.partyOrPartyRole.partyId", "p"),
             with_change("relatedParty.0.partyOrPartyRole.colour", "red"),
             {**CREATE, "@schemaLocation": "https://example.com/x.json", "extra": 1}]
    for body in cases:
        closed = [e for e in schemas_v5.validator("Customer_FVO").iter_errors(body)
                  if e.validator == "unevaluatedProperties"]
        assert bool(closed) == bool(schema_errors("Customer_FVO", body)), body


def test_a_body_of_a_thousand_items_is_checked() -> None:
    body = with_change("contactMedium", [
        {"@type": "EmailContactMedium", "emailAddress": "a@b.example"}] * 1_000)
    assert schema_errors("Customer_FVO", body) == []
    body["contactMedium"][-1] = {"@type": "EmailContactMedium", "faxNumber": "1"}
    assert "'faxNumber' is not an attribute" in schema_errors("Customer_FVO", body)[0]


def test_every_v4_seed_customer_converts_to_a_valid_v5_customer() -> None:
    seed = json.loads((ROOT / "fixtures/customers.json").read_text(encoding="utf-8"))
    bundled = json.loads((ROOT / "fixtures/customers_v5.json").read_text(encoding="utf-8"))
    converted = [to_v5(customer)[0] for customer in seed]
    assert converted == bundled
    assert all(schema_errors("Customer", customer) == [] for customer in converted)


@pytest.mark.parametrize(("v4", "v5", "lost"), [
    ({"id": "1", "name": "a", "contactMedium": [{"mediumType": "pigeon", "characteristic": {}}]},
     {"@type": "Customer", "id": "1", "name": "a", "contactMedium": []},
     ["contactMedium[0]: mediumType 'pigeon' has no v5 subclass"]),
    ({"id": "1", "relatedParty": [{"id": "p", "role": "owner", "@referredType": "Individual"}]},
     {"@type": "Customer", "id": "1", "relatedParty": [
         {"@type": "RelatedPartyRefOrPartyRoleRef", "role": "owner", "partyOrPartyRole": {
             "@type": "PartyRef", "id": "p", "@referredType": "Individual"}}]}, []),
    ({"id": "1", "characteristic": [{"name": "n", "value": 1.5}, {"name": "b", "value": True}]},
     {"@type": "Customer", "id": "1", "characteristic": [
         {"@type": "NumberCharacteristic", "name": "n", "value": 1.5},
         {"@type": "BooleanCharacteristic", "name": "b", "value": True}]}, []),
])
def test_the_v4_to_v5_mapping(v4: dict[str, Any], v5: dict[str, Any], lost: list[str]) -> None:
    assert to_v5(v4) == (v5, lost)


def test_validators_exist_for_every_entry() -> None:
    for name in schemas_v5.ENTRY_NAMES:
        assert schemas_v5.validator(name) is not None
    with pytest.raises(KeyError):
        schemas_v5.validator("Nothing")


# -- real sandbox processes on both backends -------------------------------------------------


@pytest.fixture(scope="module", params=["tinydb", "postgresql"])
def sandbox(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A sandbox process on each backend; yields the server root (no API prefix)."""
    if request.param == "tinydb":
        db = str(tmp_path_factory.mktemp("v5") / "db.json")
        with SandboxProcess(db=db, extra_args=["--quiet", "--delivery-backoff", "0.1"],
                            command=["tmf629-sandbox"]) as process:
            yield process.url.split(V4)[0]
        return
    with scratch_database() as url, SandboxProcess(
            db=url, extra_args=["--quiet", "--delivery-backoff", "0.1"],
            command=["tmf629-sandbox"]) as process:
        yield process.url.split(V4)[0]


def is_error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert schema_errors("Error", body) == [], body
    return body


def create(root: str, body: dict[str, Any] | None = None, prefix: str = V5) -> dict[str, Any]:
    response = requests.post(f"{root}{prefix}/customer", json=body or CREATE, timeout=10)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert response.headers["Location"] == created["href"]
    return created


def count(root: str, prefix: str = V5) -> int:
    response = requests.get(f"{root}{prefix}/customer?limit=1", timeout=10)
    return int(response.headers["X-Total-Count"])


def test_v5_has_its_own_seeded_customers_and_v4_keeps_its_own(sandbox: str) -> None:
    page = requests.get(f"{sandbox}{V5}/customer", timeout=10)
    assert page.status_code == 200
    assert len(page.json()) == 25
    assert all(schema_errors("Customer", c) == [] for c in page.json())
    assert all(c["href"].startswith(f"{sandbox}{V5}/customer/") for c in page.json())
    created = create(sandbox, with_change("name", "Only In Five"))
    assert requests.get(f"{sandbox}{V4}/customer?name=Only In Five", timeout=10).json() == []
    assert requests.get(f"{sandbox}{V4}/customer/{created['id']}", timeout=10).status_code == 404
    v4 = requests.get(f"{sandbox}{V4}/customer?limit=1", timeout=10).json()[0]
    assert requests.get(f"{sandbox}{V5}/customer/{v4['id']}", timeout=10).status_code == 200
    assert "mediumType" not in json.dumps(
        requests.get(f"{sandbox}{V5}/customer/{v4['id']}", timeout=10).json())


def test_create_retrieve_and_the_alias(sandbox: str) -> None:
    created = create(sandbox)
    assert schema_errors("Customer", created) == []
    assert created["name"] == CREATE["name"] and created["@type"] == "Customer"
    via_alias = requests.get(f"{sandbox}{ALIAS}/customer/{created['id']}", timeout=10)
    assert via_alias.status_code == 200
    assert via_alias.json()["href"] == f"{sandbox}{ALIAS}/customer/{created['id']}"
    fields = requests.get(f"{sandbox}{V5}/customer/{created['id']}?fields=name", timeout=10)
    assert set(fields.json()) == {"id", "href", "@type", "name"}


def test_list_with_filters_sort_paging_and_fields(sandbox: str) -> None:
    for name in ("Filter Zeta", "Filter Alpha", "Filter Mu"):
        create(sandbox, with_change("name", name))
    found = requests.get(f"{sandbox}{V5}/customer?name.regex=^Filter&sort=-name&limit=2"
                         "&fields=name", timeout=10)
    assert found.status_code == 206
    assert found.headers["X-Total-Count"] == "3"
    assert [c["name"] for c in found.json()] == ["Filter Zeta", "Filter Mu"]
    assert all(set(c) == {"id", "href", "@type", "name"} for c in found.json())
    by_type = requests.get(f"{sandbox}{V5}/customer?contactMedium.@type=PhoneContactMedium"
                           "&name=Filter Mu", timeout=10)
    assert [c["name"] for c in by_type.json()] == ["Filter Mu"]
    bad = requests.get(f"{sandbox}{V5}/customer?name.foo=x", timeout=10)
    is_error(bad, 400)


@pytest.mark.parametrize(("media_type", "body", "check"), [
    (MERGE, {"status": "Approved", "description": "patched"},
     lambda c: c["status"] == "Approved" and c["description"] == "patched"),
    ("application/json", EXAMPLES["Customer_Update_example_application-json__request"],
     lambda c: c["name"] == "Sun Football Club" and c["engagedParty"]["id"] == "237"),
    (JSON_PATCH, EXAMPLES["Customer_Update_example_JSON-PATCH__request"],
     lambda c: c["name"] == "Sun Football Club"),
    (QUERY_PATCH, EXAMPLES["Customer_Update_example_JSON-PATCH-QUERY__request"],
     lambda c: [m["preferred"] for m in c["contactMedium"]] == [True, True]),
    (MERGE, {"statusReason": None, "role": "buyer"}, lambda c: c["role"] == "buyer"),
])
def test_patch_in_every_media_type(sandbox: str, media_type: str, body: Any,
                                   check: Any) -> None:
    created = create(sandbox)
    response = requests.patch(f"{sandbox}{V5}/customer/{created['id']}",
                              data=json.dumps(body), headers={"Content-Type": media_type},
                              timeout=10)
    assert response.status_code == 200, response.text
    assert check(response.json())
    assert schema_errors("Customer", response.json()) == []
    again = requests.get(f"{sandbox}{V5}/customer/{created['id']}", timeout=10).json()
    assert again == response.json()


@pytest.mark.parametrize(("media_type", "body", "fragment"), [
    (MERGE, {"contactMedium": [{"mediumType": "email"}]}, "'@type' is a required"),
    (MERGE, {"engagedParty": None}, "engagedParty cannot be removed"),
    (MERGE, {"nickname": "x"}, "'nickname' is not an attribute"),
    (MERGE, {"@type": "Supplier"}, "'Customer' was expected"),
    (JSON_PATCH, [{"op": "add", "path": "/contactMedium/0/emailAddress", "value": "a@b"}],
     "'emailAddress' is not an attribute"),
    (JSON_PATCH, [{"op": "remove", "path": "/@type"}], "'@type' is a required"),
    (QUERY_PATCH, [{"op": "replace", "path": "/contactMedium/@type?city=Paris",
                    "value": "EmailContactMedium"}], "'city' is not an attribute"),
    (JSON_PATCH, [{"op": "replace", "path": "/id", "value": "x"}], "cannot be changed"),
])
def test_a_bad_patch_is_a_400_and_changes_nothing(sandbox: str, media_type: str, body: Any,
                                                   fragment: str) -> None:
    created = create(sandbox)
    response = requests.patch(f"{sandbox}{V5}/customer/{created['id']}",
                              data=json.dumps(body), headers={"Content-Type": media_type},
                              timeout=10)
    assert fragment in is_error(response, 400)["message"]
    assert requests.get(created["href"], timeout=10).json() == created


def test_delete_then_404(sandbox: str) -> None:
    created = create(sandbox)
    assert requests.delete(created["href"], timeout=10).status_code == 204
    is_error(requests.get(created["href"], timeout=10), 404)
    is_error(requests.delete(created["href"], timeout=10), 404)


def deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"a": value}
    return value


#: v5 bodies a hostile or careless client sends; each must be a 400 TMF Error, nothing stored.
HOSTILE = [
    ("deep-object-characteristic", lambda: with_change("characteristic", [
        {"@type": "ObjectCharacteristic", "name": "d", "value": deep(100)}]), "nested more"),
    ("huge-array-of-mismatches", lambda: with_change("contactMedium", [
        {"@type": "EmailContactMedium", "phoneNumber": "1"}] * 1_000), "more"),
    ("too-many-items", lambda: with_change("contactMedium", [
        {"@type": "EmailContactMedium", "emailAddress": "a@b"}] * 1_001), "at most 1000"),
    ("over-the-body-limit", lambda: with_change("description", "x" * 2_000_000), None),
    ("v4-shaped-contact-medium", lambda: with_change("contactMedium", [
        {"mediumType": "email", "preferred": True,
         "characteristic": {"emailAddress": "a@b"}}]), "'@type' is a required"),
    ("wrong-subclass-attribute", lambda: with_change("contactMedium.0.faxNumber", "1"),
     "'faxNumber' is not an attribute"),
    ("phone-typed-as-email", lambda: with_change("contactMedium.0.@type", "EmailContactMedium"),
     "'phoneNumber' is not an attribute"),
    ("missing-type", lambda: with_change("@type", _REMOVE), "'@type' is a required"),
    ("unknown-type", lambda: with_change("@type", "Partner"), "'Customer' was expected"),
    ("party-role-as-party-ref", lambda: with_change("engagedParty.@type", "PartyRoleRef"),
     "'PartyRoleRef' is not one of ['PartyRef']"),
    ("array-for-object", lambda: with_change("engagedParty", [CREATE["engagedParty"]]),
     "is not of type 'object'"),
    ("server-owned-id", lambda: {**CREATE, "id": "mine"}, "must not be sent"),
    ("not-an-object", lambda: [CREATE], "must be a JSON object"),
    ("many-unknown-types", lambda: with_change("characteristic", [
        {"@type": f"T{n}", "name": "n"} for n in range(900)]), "is not one of"),
]


@pytest.mark.parametrize(("name", "body", "fragment"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_v5_bodies(sandbox: str, name: str, body: Any, fragment: str | None) -> None:
    before = count(sandbox)
    response = requests.post(f"{sandbox}{V5}/customer", data=json.dumps(body()),
                             headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code in (400, 413), response.text[:500]
    if response.status_code == 400:  # a 413 may come from waitress, before the app
        error = is_error(response, 400)
        assert fragment is not None and fragment in error["message"], error["message"][:500]
    assert count(sandbox) == before
    assert requests.get(f"{sandbox}{V5}/customer?limit=1", timeout=10).status_code == 206


def test_hub_listeners_and_v5_events(sandbox: str) -> None:
    with EventListener() as listener:
        callback = listener.url.rstrip("/")
        hub = requests.post(f"{sandbox}{V5}/hub", json={"@type": "Hub", "callback": callback,
                                                        "query": "name.regex=("},
                            timeout=10)
        is_error(hub, 400)  # not a TMF630 query of the list syntax
        hub = requests.post(f"{sandbox}{V5}/hub", json={"@type": "Hub", "callback": callback},
                            timeout=10)
        assert hub.status_code == 201, hub.text
        subscription = hub.json()
        assert schema_errors("Hub", subscription) == []
        assert hub.headers["Location"] == subscription["href"]
        read = requests.get(subscription["href"], timeout=10)
        assert read.status_code == 200 and read.json() == subscription
        v4_hub = requests.get(f"{sandbox}{V4}/hub/{subscription['id']}", timeout=10)
        is_error(v4_hub, 404)  # each version its own subscriptions

        created = create(sandbox, with_change("name", "Evented"))
        requests.patch(created["href"], json={"status": "Validated"},
                       headers={"Content-Type": MERGE}, timeout=10).raise_for_status()
        assert requests.delete(created["href"], timeout=10).status_code == 204
        expected = ["CustomerCreateEvent", "CustomerAttributeValueChangeEvent",
                    "CustomerStateChangeEvent", "CustomerDeleteEvent"]
        assert listener.wait_for(lambda r: r.event_type == "CustomerDeleteEvent", 60)
        mine = [r for r in listener.received if isinstance(r.body, dict)
                and r.body.get("event", {}).get("customer", {}).get("id") == created["id"]]
        assert [r.event_type for r in mine] == expected
        for received in mine:
            assert schema_errors(received.event_type or "", received.body) == [], received.body
            assert received.path.endswith("/listener/" + received.event_type[0].lower()
                                          + received.event_type[1:])
        assert mine[1].body["correlationId"] == mine[2].body["correlationId"]
        assert requests.delete(subscription["href"], timeout=10).status_code == 204
        is_error(requests.get(subscription["href"], timeout=10), 404)


def test_listeners_answer_204_and_keep_every_event(sandbox: str) -> None:
    event = EXAMPLES["Create_Cusomter_Notification_Event_request"]
    good = requests.post(f"{sandbox}{V5}/listener/customerCreateEvent", json=event, timeout=10)
    assert good.status_code == 204 and good.content == b""
    v4_shaped = {"eventId": "e", "eventTime": "2024-01-01T00:00:00Z",
                 "eventType": "CustomerCreateEvent", "event": {"customer": {"id": "1"}}}
    bad = requests.post(f"{sandbox}{V5}/listener/customerCreateEvent", json=v4_shaped,
                        timeout=10)
    assert "'@type' is a required" in is_error(bad, 400)["message"]
    wrong = requests.post(f"{sandbox}{V5}/listener/customerDeleteEvent", json=event, timeout=10)
    is_error(wrong, 400)
    is_error(requests.post(f"{sandbox}{V5}/listener/nothing", json=event, timeout=10), 404)
    kept = requests.get(f"{sandbox}/admin/received-events", timeout=10).json()
    mine = [r for r in kept if r.get("api") == "v5"]
    assert [r["accepted"] for r in mine[-3:]] == [True, False, False]


def test_the_v5_contract_is_served(sandbox: str) -> None:
    docs = requests.get(f"{sandbox}{V5}/api-docs", timeout=10)
    assert docs.status_code == 200
    assert docs.json()["openapi"].startswith("3.")
    assert docs.json()["servers"] == [{"url": f"{sandbox}{V5}/"}]
    page = requests.get(f"{sandbox}{V5}/docs/", timeout=10)
    assert page.status_code == 200 and "v5.0.1" in page.text
    roots = requests.get(f"{sandbox}/", timeout=10).json()
    assert [api["version"] for api in roots["apis"]] == ["4.0.0", "5.0.1"]
