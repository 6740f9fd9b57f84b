"""Strict JSON: a member name repeated in any request body is a 400 naming the member and
the object it is in, and changes nothing; every kind of body, against a real hosted
sandbox process (tenant API, notifications, admin API, tenant administration)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.conftest import MINIMAL
from tests.hosting_support import ACME_KEY, ADMIN_TOKEN, Hosted, hosted_sandbox

TENANT = {"X-API-Key": ACME_KEY}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PARTY = '"engagedParty":{"id":"1"}'
EVENT = ('"eventId":"e1","eventTime":"2024-01-01T00:00:00Z","eventType":"CustomerCreateEvent",'
         '"event":{"customer":{"id":"1","name":"n",' + PARTY + "}}")


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    #: ``api:`` under the tenant's API root, ``root:`` under the server root; ``{id}``: a
    #: customer of the tenant.
    path: str
    body: str
    member: str
    where: str
    media_type: str = "application/json"


CASES = [
    Case("create", "POST", "api:/customer", f'{{"name":"a",{PARTY},"name":"b"}}', "name", "$"),
    Case("create-nested", "POST", "api:/customer",
         '{"name":"a","engagedParty":{"id":"1","id":"2"}}', "id", "$.engagedParty"),
    Case("create-in-array", "POST", "api:/customer",
         f'{{"name":"a",{PARTY},"characteristic":[{{"name":"x","value":1}},'
         '{"name":"y","value":{"k":1,"k":1}}]}', "k", "$.characteristic[1].value"),
    Case("merge-patch", "PATCH", "api:/customer/{id}", '{"status":"A","status":"B"}', "status",
         "$", "application/merge-patch+json"),
    Case("merge-patch-json", "PATCH", "api:/customer/{id}", '{"status":"A","status":"B"}',
         "status", "$"),
    Case("json-patch", "PATCH", "api:/customer/{id}",
         '[{"op":"replace","path":"/status","path":"/name","value":"x"}]', "path", "$[0]",
         "application/json-patch+json"),
    Case("json-patch-query", "PATCH", "api:/customer/{id}",
         '[{"op":"replace","path":"/characteristic/value?name=x","value":{"a":1,"a":2}}]', "a",
         "$[0].value", "application/json-patch-query+json"),
    Case("hub", "POST", "api:/hub",
         '{"callback":"http://127.0.0.1:9/a","callback":"http://127.0.0.1:9/b"}', "callback",
         "$"),
    Case("listener", "POST", "api:/listener/customerCreateEvent",
         '{' + EVENT + ',"eventId":"e2"}', "eventId", "$"),
    Case("admin-fault", "POST", "root:/admin/tenants/acme/faults",
         '{"method":"GET","path":"/x","action":"status","status":503,"status":502}', "status",
         "$"),
    Case("admin-restore", "POST", "root:/admin/tenants/acme/restore",
         '{"format":"tmf629-sandbox-snapshot/1","customers":[],"customers":[]}', "customers",
         "$"),
    Case("admin-tenant", "POST", "root:/admin/tenants", '{"name":"initech","name":"hooli"}',
         "name", "$"),
]


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosted]:
    yield from hosted_sandbox(tmp_path_factory.mktemp("strict"))


def state(hosted: Hosted, ident: str) -> list[Any]:
    """Everything the cases could change, as the server answers it (tenants without their
    request journal's size, which every request grows)."""
    found = [requests.get(url, headers=headers, timeout=10).json() for url, headers in [
        (f"{hosted.api}/customer?sort=id", TENANT),
        (f"{hosted.api}/customer/{ident}", TENANT),
        (f"{hosted.root}/admin/tenants/acme/subscriptions", ADMIN),
        (f"{hosted.root}/admin/tenants/acme/received-events", ADMIN),
        (f"{hosted.root}/admin/tenants/acme/faults", ADMIN),
        (f"{hosted.root}/admin/tenants", ADMIN),
    ]]
    return [*found[:-1], [{k: v for k, v in t.items() if k != "journal"} for t in found[-1]]]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_repeated_member_is_a_400_naming_it_and_changes_nothing(hosted: Hosted,
                                                                   case: Case) -> None:
    made = requests.post(f"{hosted.api}/customer", json={
        **MINIMAL, "characteristic": [{"name": "x", "value": 1}]}, headers=TENANT, timeout=10)
    ident = made.json()["id"]
    before = state(hosted, ident)
    scope, _, path = case.path.partition(":")
    url = (hosted.api if scope == "api" else hosted.root) + path.replace("{id}", ident)
    credentials = TENANT if scope == "api" else ADMIN
    answer = requests.request(case.method, url, data=case.body.encode(), timeout=10,
                              headers={**credentials, "Content-Type": case.media_type})
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    error = answer.json()
    assert error["@type"] == "Error" and error["reason"] == "Duplicate member"
    assert f"The member '{case.member}' appears more than once in the object at " \
           f"{case.where};" in error["message"]
    assert state(hosted, ident) == before
