"""TMF630 end to end: filters, sorting, paging, fields and PATCH types over real HTTP.

Every test runs on both backends: a TinyDB file and a PostgreSQL database.

A real ``python -m sandbox`` process on a free port with a file store, spoken
to with ``requests``. Expected results are computed here, independently, from
the full listing, so the tests hold whatever the seed holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from ctk_runner.embedded import SandboxProcess
from tests.pg_support import scratch_database

Customer = dict[str, Any]
MINIMAL = {"name": "TMF630 Club", "engagedParty": {"@referredType": "Organization", "id": "1"}}
PATCH_TYPES = ["application/merge-patch+json", "application/json",
               "application/json-patch+json", "application/json-patch-query+json"]


@pytest.fixture(scope="module", params=["tinydb", "postgresql"])
def root(request: pytest.FixtureRequest) -> Iterator[str]:
    """A sandbox process on a TinyDB file, then one on a PostgreSQL database of its own."""
    if request.param == "tinydb":
        with SandboxProcess() as sandbox:
            yield sandbox.url
        return
    with scratch_database() as url, SandboxProcess(db=url) as sandbox:
        yield sandbox.url


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture
def everything(root: str, http: requests.Session) -> list[Customer]:
    response = http.get(root + "customer")
    assert response.status_code == 200
    return list(response.json())


@pytest.fixture
def created(root: str, http: requests.Session) -> Iterator[Customer]:
    body = {**MINIMAL, "contactMedium": [
        {"mediumType": "email", "preferred": False,
         "characteristic": {"emailAddress": "club@tmf630.example"}},
        {"mediumType": "phone", "preferred": True, "characteristic": {"phoneNumber": "+1"}}],
        "characteristic": [{"name": "segment", "value": "SME"},
                           {"name": "employees", "value": 12}]}
    customer = http.post(root + "customer", json=body).json()
    yield customer
    http.delete(root + "customer/" + customer["id"])


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def scores(c: Customer) -> list[int]:
    return [p["creditScore"] for p in c.get("creditProfile", []) if "creditScore" in p]


def start(c: Customer) -> datetime | None:
    text = c.get("validFor", {}).get("startDateTime")
    return instant(text) if text else None


FILTERS: list[tuple[str, Callable[[Customer], bool]]] = [
    ("status=Approved", lambda c: c["status"] == "Approved"),
    ("status=Approved,Pending", lambda c: c["status"] in ("Approved", "Pending")),
    ("status.ne=Approved", lambda c: c["status"] != "Approved"),
    ("contactMedium.mediumType=email",
     lambda c: any(m["mediumType"] == "email" for m in c.get("contactMedium", []))),
    ("characteristic.name=segment",
     lambda c: any(ch["name"] == "segment" for ch in c.get("characteristic", []))),
    ("creditProfile.creditScore.gte=700", lambda c: any(s >= 700 for s in scores(c))),
    ("creditProfile.creditScore.gt=742", lambda c: any(s > 742 for s in scores(c))),
    ("creditProfile.creditScore.lt=600", lambda c: any(s < 600 for s in scores(c))),
    ("creditProfile.creditScore.lte=655", lambda c: any(s <= 655 for s in scores(c))),
    ("validFor.startDateTime.lt=2018-01-01T00:00:00Z",
     lambda c: (start(c) or instant("9999-01-01T00:00:00Z")) < instant("2018-01-01T00:00:00Z")),
    ("validFor.startDateTime.gte=2020-01-01",
     lambda c: (start(c) or instant("0001-01-01T00:00:00Z")) >= instant("2020-01-01T00:00:00Z")),
    ("name.regex=^B", lambda c: c["name"].startswith("B")),
    ("name.regex=(?i)gmbh", lambda c: "gmbh" in c["name"].lower()),
    ("@type=Customer", lambda c: c["@type"] == "Customer"),
    ("engagedParty.@referredType=Individual",
     lambda c: c["engagedParty"]["@referredType"] == "Individual"),
    ("status=Approved&creditProfile.creditScore.gte=700",
     lambda c: c["status"] == "Approved" and any(s >= 700 for s in scores(c))),
]


@pytest.mark.parametrize(("text", "predicate"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filters(root: str, http: requests.Session, everything: list[Customer], text: str,
                 predicate: Callable[[Customer], bool]) -> None:
    expected = [c["id"] for c in everything if predicate(c)]
    response = http.get(f"{root}customer?{text}")
    assert response.status_code == 200
    assert [c["id"] for c in response.json()] == expected
    assert response.headers["X-Total-Count"] == response.headers["X-Result-Count"] \
        == str(len(expected))


def test_href_is_filterable(root: str, http: requests.Session,
                            everything: list[Customer]) -> None:
    target = everything[3]
    found = http.get(root + "customer", params={"href": target["href"]}).json()
    assert [c["id"] for c in found] == [target["id"]]


BAD = [
    ("name.like=x", "name.like"),
    ("creditProfile.creditScore.gte=high", "'high' is not a number"),
    ("validFor.startDateTime.lt=soon", "'soon' is not a date-time"),
    ("name.regex=(", "invalid regular expression"),
    ("name.regex=" + "x" * 300, "longer than 256"),
    ("sort=-", "Sort key"),
    ("offset=-1", "'offset' must be a non-negative integer"),
    ("limit=1.5", "'limit' must be a non-negative integer"),
]


@pytest.mark.parametrize(("text", "fragment"), BAD, ids=[b[1] for b in BAD])
def test_bad_queries_are_tmf_errors(root: str, http: requests.Session, text: str,
                                    fragment: str) -> None:
    response = http.get(f"{root}customer?{text}")
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()
    assert error["@type"] == "Error" and error["status"] == "400"
    assert fragment in error["message"]


def test_catastrophic_regex_is_refused_in_bounded_time(root: str,
                                                       http: requests.Session) -> None:
    response = http.get(root + "customer", params={"name.regex": "(.*a){25}$"}, timeout=30)
    # Either the pattern matched nothing quickly or the budget ran out: never a 500.
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert "takes too long" in response.json()["message"]


def test_sort_newest_first_missing_last(root: str, http: requests.Session,
                                        everything: list[Customer]) -> None:
    dated = sorted((c for c in everything if start(c)), key=lambda c: start(c) or 0,
                   reverse=True)
    undated = [c for c in everything if not start(c)]
    response = http.get(root + "customer?sort=-validFor.startDateTime,name")
    expected = [c["id"] for c in dated] + [c["id"] for c in sorted(undated,
                                                                     key=lambda c: c["name"])]
    assert [c["id"] for c in response.json()] == expected


def test_sort_by_name_then_fields(root: str, http: requests.Session,
                                  everything: list[Customer]) -> None:
    response = http.get(root + "customer?sort=name&fields=name")
    names = [c["name"] for c in response.json()]
    assert names == sorted(c["name"] for c in everything)


def link_rels(response: requests.Response) -> dict[str, str]:
    return {rel: link["url"] for rel, link in response.links.items()}


def test_pages_are_206_and_links_walk_the_whole_set(root: str, http: requests.Session,
                                                     everything: list[Customer]) -> None:
    seen: list[str] = []
    url: str | None = root + "customer?sort=name&limit=7"
    while url:
        response = http.get(url)
        assert response.status_code == 206
        assert response.headers["X-Total-Count"] == str(len(everything))
        assert response.headers["X-Result-Count"] == str(len(response.json()))
        rels = link_rels(response)
        assert {"first", "last"} <= set(rels)
        assert all(dict(parse_qsl(urlsplit(u).query))["sort"] == "name" for u in rels.values())
        seen += [c["id"] for c in response.json()]
        url = rels.get("next")
    assert seen == [c["id"] for c in sorted(everything, key=lambda c: c["name"])]


def test_filtered_page_counts_only_the_matches(root: str, http: requests.Session,
                                               everything: list[Customer]) -> None:
    approved = [c for c in everything if c["status"] == "Approved"]
    response = http.get(root + "customer?status=Approved&offset=2&limit=3")
    assert response.status_code == 206
    assert [c["id"] for c in response.json()] == [c["id"] for c in approved[2:5]]
    assert response.headers["X-Total-Count"] == str(len(approved))
    assert response.headers["X-Result-Count"] == "3"
    rels = link_rels(response)
    assert set(rels) == {"first", "prev", "next", "last"}
    assert dict(parse_qsl(urlsplit(rels["next"]).query)) == {
        "status": "Approved", "offset": "5", "limit": "3"}
    assert rels["next"].startswith(root + "customer?")


@pytest.mark.parametrize(("query", "status", "count"), [
    ("", 200, None), ("limit=1000", 200, None), ("offset=1000", 200, 0),
    ("name=Nobody", 200, 0), ("limit=0", 206, 0),
])
def test_whole_set_is_200_and_counts_are_always_there(
    root: str, http: requests.Session, everything: list[Customer], query: str, status: int,
    count: int | None,
) -> None:
    response = http.get(f"{root}customer?{query}")
    assert response.status_code == status
    expected = len(everything) if count is None else count
    assert response.headers["X-Result-Count"] == str(expected)
    assert len(response.json()) == expected
    assert "X-Total-Count" in response.headers


def test_max_limit_caps_every_page() -> None:
    with SandboxProcess(extra_args=["--max-limit", "5"]) as sandbox, requests.Session() as http:
        http.trust_env = False
        for query in ("", "?limit=100"):
            response = http.get(sandbox.url + "customer" + query)
            assert response.status_code == 206
            assert len(response.json()) == 5 and response.headers["X-Result-Count"] == "5"
            assert int(response.headers["X-Total-Count"]) > 5
            assert "limit=5" in response.links["next"]["url"]


def test_fields_none_and_nested_on_list_and_retrieve(root: str, http: requests.Session,
                                                     created: Customer) -> None:
    listed = http.get(root + "customer", params={"id": created["id"], "fields": "none"}).json()
    read = http.get(root + "customer/" + created["id"], params={"fields": "none"}).json()
    assert listed == [read] == [{k: created[k] for k in ("id", "href", "@type")}]
    nested = http.get(root + "customer/" + created["id"],
                      params={"fields": "engagedParty.id,contactMedium.mediumType,nope"}).json()
    assert nested["engagedParty"] == {"id": "1"}
    assert nested["contactMedium"] == [{"mediumType": "email"}, {"mediumType": "phone"}]
    assert set(nested) == {"id", "href", "@type", "engagedParty", "contactMedium"}


PATCHES = [
    (PATCH_TYPES[0], {"statusReason": "merged"}, "statusReason", "merged"),
    (PATCH_TYPES[1], {"statusReason": "plain json"}, "statusReason", "plain json"),
    (PATCH_TYPES[2], [{"op": "test", "path": "/name", "value": "TMF630 Club"},
                      {"op": "replace", "path": "/name", "value": "Renamed"}], "name", "Renamed"),
    (PATCH_TYPES[3], [{"op": "replace", "path": "/contactMedium/preferred?mediumType=email",
                       "value": True}], "contactMedium", None),
]


@pytest.mark.parametrize(("media_type", "body", "attribute", "value"), PATCHES,
                         ids=PATCH_TYPES)
def test_every_patch_media_type_round_trips(root: str, http: requests.Session,
                                            created: Customer, media_type: str, body: Any,
                                            attribute: str, value: Any) -> None:
    url = root + "customer/" + created["id"]
    response = http.patch(url, data=json.dumps(body),
                          headers={"Content-Type": f"{media_type}; charset=utf-8"})
    assert response.status_code == 200, response.text
    patched = response.json()
    if value is None:  # the query selected the email medium only
        assert [m["preferred"] for m in patched["contactMedium"]] == [True, True]
    else:
        assert patched[attribute] == value
    assert patched["href"] == created["href"]
    assert http.get(url).json() == patched


def test_remove_by_query(root: str, http: requests.Session, created: Customer) -> None:
    operations = [{"op": "remove", "path": "/characteristic?name=segment"}]
    response = http.patch(root + "customer/" + created["id"], data=json.dumps(operations),
                          headers={"Content-Type": PATCH_TYPES[3]})
    assert response.json()["characteristic"] == [{"name": "employees", "value": 12}]


@pytest.mark.parametrize(("media_type", "body", "fragment"), [
    (PATCH_TYPES[2], [{"op": "replace", "path": "/name", "value": "X"},
                      {"op": "test", "path": "/status", "value": "Closed"}],
     "operation 1 (test /status)"),
    (PATCH_TYPES[2], [{"op": "replace", "path": "/id", "value": "other"}], "'id' cannot"),
    (PATCH_TYPES[2], [{"op": "remove", "path": "/href"}], "'href' cannot"),
    (PATCH_TYPES[2], [{"op": "add", "path": "/status", "value": 3}], "$.status"),
    (PATCH_TYPES[3], [{"op": "remove", "path": "/characteristic?name=nope"}], "selects nothing"),
    (PATCH_TYPES[0], {"engagedParty": None}, "'engagedParty' is a required property"),
])
def test_a_failed_patch_stores_nothing(root: str, http: requests.Session, created: Customer,
                                       media_type: str, body: Any, fragment: str) -> None:
    url = root + "customer/" + created["id"]
    response = http.patch(url, data=json.dumps(body), headers={"Content-Type": media_type})
    assert response.status_code == 400
    assert response.json()["@type"] == "Error" and fragment in response.json()["message"]
    assert http.get(url).json() == created


def test_other_media_types_are_415_listing_the_accepted_ones(
    root: str, http: requests.Session, created: Customer
) -> None:
    url = root + "customer/" + created["id"]
    response = http.patch(url, data=b'{"status": "X"}', headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert [t.strip() for t in response.headers["Accept-Patch"].split(",")] == PATCH_TYPES
    assert all(t in response.json()["message"] for t in PATCH_TYPES)
    options = http.options(url)
    assert options.status_code in (200, 204)
    assert [t.strip() for t in options.headers["Accept-Patch"].split(",")] == PATCH_TYPES
    assert "PATCH" in options.headers["Allow"]
    assert http.get(url).json() == created
