"""A hosted sandbox, seen from real clients over real HTTP: keys select tenants, tenants
never see each other, the admin API needs its token, the journal masks secrets."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests import pg_support
from tests.conftest import ENGINES, MINIMAL, wait_until
from tests.hosting_support import (
    ACME_KEY,
    ADMIN_TOKEN,
    GLOBEX_KEY,
    Hosted,
    hosted_sandbox,
)


@pytest.fixture(scope="module", params=ENGINES)
def hosted(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosted]:
    """One hosted sandbox process per engine: every test of this module is a contract of
    the hosting layer that both backends keep."""
    directory = tmp_path_factory.mktemp("hosted")
    if request.param == "tinydb":
        yield from hosted_sandbox(directory)
        return
    with pg_support.scratch_database() as url:
        yield from hosted_sandbox(directory, db=url)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, object]]]]:
    """A partner's own event listener on a real port: records every POST."""
    got: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            got.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/partner", got
    server.shutdown()
    server.server_close()


# -- keys ------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "not-a-key-of-anyone-here"},
                                     {"Authorization": "Bearer not-a-key-of-anyone"},
                                     {"Authorization": f"Basic {ACME_KEY}"},
                                     {"Authorization": f"Bearer {ADMIN_TOKEN}"}])
def test_a_missing_or_unknown_key_is_a_401_tmf_error(hosted: Hosted,
                                                      headers: dict[str, str]) -> None:
    for method, path in [("GET", "/customer"), ("POST", "/customer"), ("GET", "/hub/x"),
                         ("POST", "/listener/customerCreateEvent"), ("GET", "/")]:
        answer = requests.request(method, hosted.api + path, headers=headers, timeout=10)
        assert answer.status_code == 401, (method, path)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert answer.headers["Content-Type"].startswith("application/json")
        error = answer.json()
        assert error["status"] == "401" and error["reason"] == "Unauthorized"
        assert ACME_KEY not in answer.text


def test_either_header_selects_the_tenant(hosted: Hosted) -> None:
    bearer = requests.get(f"{hosted.api}/customer", timeout=10,
                          headers={"Authorization": f"Bearer {ACME_KEY}"})
    header = requests.get(f"{hosted.api}/customer", timeout=10, headers={"X-API-Key": ACME_KEY})
    assert bearer.status_code == header.status_code == 200
    assert bearer.json() and bearer.json() == header.json()  # acme is seeded
    assert hosted.as_tenant(GLOBEX_KEY).get(f"{hosted.api}/customer", timeout=10).json() == []


# -- isolation ---------------------------------------------------------------------------------

def test_a_tenant_never_sees_another_tenants_customer(hosted: Hosted) -> None:
    acme, globex = hosted.as_tenant(ACME_KEY), hosted.as_tenant(GLOBEX_KEY)
    created = acme.post(f"{hosted.api}/customer", json=MINIMAL, timeout=10).json()
    ident, href = created["id"], created["href"]
    assert acme.get(href, timeout=10).status_code == 200
    assert globex.get(href, timeout=10).status_code == 404
    assert globex.patch(href, json={"status": "Approved"}, timeout=10,
                        headers={"Content-Type": "application/merge-patch+json"}
                        ).status_code == 404
    assert globex.delete(href, timeout=10).status_code == 404
    for query in ("", f"?id={ident}", "?name=Moon Football Club"):
        listed = globex.get(f"{hosted.api}/customer{query}", timeout=10)
        assert ident not in listed.text and listed.headers["X-Total-Count"] == "0"
    # globex may even create one with the same content: ids stay apart, acme's is untouched
    twin = globex.post(f"{hosted.api}/customer", json=MINIMAL, timeout=10).json()
    assert twin["id"] != ident
    assert acme.get(href, timeout=10).json()["name"] == MINIMAL["name"]
    assert acme.get(f"{hosted.api}/customer/{twin['id']}", timeout=10).status_code == 404
    globex.delete(twin["href"], timeout=10)
    acme.delete(href, timeout=10)


def test_subscriptions_events_and_inbox_stay_with_their_tenant(
        hosted: Hosted, receiver: tuple[str, list[dict[str, object]]]) -> None:
    callback, got = receiver
    acme, globex, admin = (hosted.as_tenant(ACME_KEY), hosted.as_tenant(GLOBEX_KEY),
                           hosted.admin())
    subscription = acme.post(f"{hosted.api}/hub", json={"callback": callback}, timeout=10)
    assert subscription.status_code == 201
    sub_id = subscription.json()["id"]
    assert globex.get(f"{hosted.api}/hub/{sub_id}", timeout=10).status_code == 404
    assert globex.delete(f"{hosted.api}/hub/{sub_id}", timeout=10).status_code == 404
    # globex's customer changes reach no acme subscriber
    other = globex.post(f"{hosted.api}/customer", json=MINIMAL, timeout=10).json()
    mine = acme.post(f"{hosted.api}/customer", json=MINIMAL, timeout=10).json()
    assert wait_until(lambda: len(got) >= 1)
    assert wait_until(lambda: any(d["outcome"] == "delivered" for d in admin.get(
        f"{hosted.root}/admin/tenants/acme/deliveries", timeout=10).json()))
    sent_ids = {json.dumps(item["body"]) for item in got}
    assert all(mine["id"] in text and other["id"] not in text for text in sent_ids)
    assert admin.get(f"{hosted.root}/admin/tenants/globex/deliveries", timeout=10).json() == []
    # the listener inbox: an event posted by acme is in acme's inbox only
    event = {"eventId": "e-1", "eventType": "CustomerCreateEvent", "eventTime":
             "2026-01-01T00:00:00Z", "event": {"customer": {**MINIMAL, "id": "42",
                                                            "href": "http://x/customer/42"}}}
    posted = acme.post(f"{hosted.api}/listener/customerCreateEvent", json=event, timeout=10)
    assert posted.status_code == 201, posted.text
    inbox = admin.get(f"{hosted.root}/admin/tenants/acme/received-events", timeout=10).json()
    assert [r["eventId"] for r in inbox] == ["e-1"]
    assert admin.get(f"{hosted.root}/admin/tenants/globex/received-events",
                     timeout=10).json() == []
    subscriptions = admin.get(f"{hosted.root}/admin/tenants/acme/subscriptions", timeout=10)
    assert [s["id"] for s in subscriptions.json()] == [sub_id]
    assert admin.get(f"{hosted.root}/admin/tenants/globex/subscriptions",
                     timeout=10).json() == []
    assert admin.delete(f"{hosted.root}/admin/tenants/acme/subscriptions/{sub_id}",
                        timeout=10).status_code == 204
    assert acme.get(f"{hosted.api}/hub/{sub_id}", timeout=10).status_code == 404
    for item in (mine, other):
        (acme if item is mine else globex).delete(item["href"], timeout=10)
    admin.delete(f"{hosted.root}/admin/tenants/acme/received-events", timeout=10)


# -- the admin token -------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-xxxxxxxx"},
                                     {"X-API-Key": ACME_KEY},
                                     {"Authorization": f"Bearer {ACME_KEY}"}])
def test_the_admin_api_needs_the_admin_token(hosted: Hosted, headers: dict[str, str]) -> None:
    for path in ("/admin/tenants", "/admin/tenants/acme/journal",
                 "/admin/tenants/nobody/journal", "/admin/deliveries"):
        answer = requests.get(hosted.root + path, headers=headers, timeout=10)
        assert answer.status_code == 401, path
        assert answer.json()["status"] == "401" and "WWW-Authenticate" in answer.headers


def test_the_admin_token_opens_the_admin_api(hosted: Hosted) -> None:
    by_header = requests.get(f"{hosted.root}/admin/tenants", timeout=10,
                             headers={"X-Admin-Token": ADMIN_TOKEN})
    assert by_header.status_code == 200
    assert [t["name"] for t in by_header.json()] == ["acme", "globex"]
    assert ACME_KEY not in by_header.text  # keys are never listed
    # with tenants, the tenant must be named
    unnamed = hosted.admin().get(f"{hosted.root}/admin/deliveries", timeout=10)
    assert unnamed.status_code == 404 and "/admin/tenants/" in unnamed.json()["message"]


def test_tenants_are_created_and_deleted_by_the_operator(hosted: Hosted) -> None:
    admin = hosted.admin()
    created = admin.post(f"{hosted.root}/admin/tenants", json={"name": "initech",
                                                              "seed": False}, timeout=10)
    assert created.status_code == 201, created.text
    key = created.json()["apiKeys"][0]
    initech = hosted.as_tenant(key)
    assert initech.get(f"{hosted.api}/customer", timeout=10).json() == []
    assert initech.post(f"{hosted.api}/customer", json=MINIMAL, timeout=10).status_code == 201
    for body, status in [({"name": "initech"}, 409), ({"name": "Bad Name"}, 400),
                         ({"name": "x", "keys": [ACME_KEY]}, 409),
                         ({"name": "y", "keys": ["short"]}, 400), ([], 400)]:
        assert admin.post(f"{hosted.root}/admin/tenants", json=body,
                          timeout=10).status_code == status, body
    assert admin.delete(f"{hosted.root}/admin/tenants/initech", timeout=10).status_code == 204
    assert initech.get(f"{hosted.api}/customer", timeout=10).status_code == 401
    assert admin.delete(f"{hosted.root}/admin/tenants/initech", timeout=10).status_code == 404
    # made again, seeded this time: it starts from the seed, not from the deleted tenant's data
    again = admin.post(f"{hosted.root}/admin/tenants", json={"name": "initech"}, timeout=10)
    fresh = hosted.as_tenant(again.json()["apiKeys"][0]).get(f"{hosted.api}/customer",
                                                             timeout=10)
    assert key != again.json()["apiKeys"][0]
    assert MINIMAL["name"] not in fresh.text and int(fresh.headers["X-Total-Count"]) > 0
    admin.delete(f"{hosted.root}/admin/tenants/initech", timeout=10)


def test_reset_empty_snapshot_and_restore(hosted: Hosted) -> None:
    admin, globex = hosted.admin(), hosted.as_tenant(GLOBEX_KEY)
    base = f"{hosted.root}/admin/tenants/globex"
    created = globex.post(f"{hosted.api}/customer", json=MINIMAL, timeout=10).json()
    kept = admin.get(f"{base}/snapshot", timeout=10).json()
    assert [c["id"] for c in kept["customers"]] == [created["id"]]
    assert admin.post(f"{base}/empty", timeout=10).status_code == 204
    assert globex.get(f"{hosted.api}/customer", timeout=10).json() == []
    bad = admin.post(f"{base}/restore", json={"format": "nope"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["reason"] == "Invalid snapshot"
    invalid = {**kept, "customers": [{"id": "1", "name": 5}]}
    assert admin.post(f"{base}/restore", json=invalid, timeout=10).status_code == 400
    assert globex.get(f"{hosted.api}/customer", timeout=10).json() == []  # nothing changed
    refused = {**kept, "subscriptions": [{"callback": "ftp://example.com/x"}]}
    answer = admin.post(f"{base}/restore", json=refused, timeout=10)
    assert answer.status_code == 400 and "subscription #0" in answer.json()["message"]
    assert globex.get(f"{hosted.api}/customer", timeout=10).json() == []  # nothing changed
    restored = admin.post(f"{base}/restore", json=kept, timeout=10)
    assert restored.status_code == 200 and restored.json()["customers"] == 1
    again = globex.get(created["href"], timeout=10).json()
    assert again["name"] == MINIMAL["name"]
    assert admin.post(f"{base}/reset", timeout=10).json() == {"customers": 0}  # unseeded
    acme_reset = admin.post(f"{hosted.root}/admin/tenants/acme/reset", timeout=10).json()
    listed = hosted.as_tenant(ACME_KEY).get(f"{hosted.api}/customer", timeout=10)
    assert acme_reset["customers"] == int(listed.headers["X-Total-Count"]) > 0


def test_a_restored_subscription_keeps_its_id(hosted: Hosted) -> None:
    admin, globex = hosted.admin(), hosted.as_tenant(GLOBEX_KEY)
    base = f"{hosted.root}/admin/tenants/globex"
    made = globex.post(f"{hosted.api}/hub", json={"callback": "http://127.0.0.1:9/partner"},
                       timeout=10).json()
    kept = admin.get(f"{base}/snapshot", timeout=10).json()
    assert [s["id"] for s in kept["subscriptions"]] == [made["id"]]
    for ident in ("", "a b", "x" * 65, 7, "../x"):
        bad = {**kept, "subscriptions": [{**kept["subscriptions"][0], "id": ident}]}
        answer = admin.post(f"{base}/restore", json=bad, timeout=10)
        assert answer.status_code == 400 and "id must be" in answer.json()["message"], ident
    twice = {**kept, "subscriptions": kept["subscriptions"] * 2}
    assert admin.post(f"{base}/restore", json=twice, timeout=10).status_code == 400
    assert globex.get(f"{hosted.api}/hub/{made['id']}", timeout=10).status_code == 200
    assert admin.post(f"{base}/empty", timeout=10).status_code == 204
    assert globex.get(f"{hosted.api}/hub/{made['id']}", timeout=10).status_code == 404
    assert admin.post(f"{base}/restore", json=kept, timeout=10).json()["subscriptions"] == 1
    again = globex.get(f"{hosted.api}/hub/{made['id']}", timeout=10)
    assert again.status_code == 200 and again.json()["callback"] == made["callback"]
    # an older snapshot without ids: the subscriptions come back under new ids
    old = {**kept, "subscriptions": [{"callback": made["callback"]}]}
    assert admin.post(f"{base}/restore", json=old, timeout=10).status_code == 200
    listed = admin.get(f"{base}/subscriptions", timeout=10).json()
    assert len(listed) == 1 and listed[0]["id"] != made["id"]
    admin.post(f"{base}/empty", timeout=10)


# -- the API description -------------------------------------------------------------------

def test_the_served_spec_is_valid_and_points_at_this_server(hosted: Hosted) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation import OpenAPIV2SpecValidator

    answer = requests.get(f"{hosted.api}/api-docs", timeout=10)  # no key: it is public
    assert answer.status_code == 200
    document = answer.json()
    validate(document, cls=OpenAPIV2SpecValidator)
    assert (document["info"]["title"], document["info"]["version"]) == ("Customer Management",
                                                                       "4.0")
    assert f"http://{document['host']}{document['basePath']}" == hosted.api
    assert document["schemes"] == ["http"]
    # the paths the document names answer on the server it names
    base = f"{document['schemes'][0]}://{document['host']}{document['basePath']}"
    assert "/customer" in document["paths"]
    listed = requests.get(base + "/customer", headers={"X-API-Key": ACME_KEY}, timeout=10)
    assert listed.status_code == 200


def test_the_docs_page_and_its_assets_are_served_locally(hosted: Hosted) -> None:
    page = requests.get(f"{hosted.api}/docs/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "//cdn" not in page.text and "unpkg" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        served = requests.get(f"{hosted.api}/docs/static/{asset}", timeout=10)
        assert served.status_code == 200 and len(served.content) > 1000, asset
    missing = requests.get(f"{hosted.api}/docs/static/index.html", timeout=10)
    assert missing.status_code == 404 and missing.json()["status"] == "404"


def test_a_deleted_tenant_leaves_no_store_and_waits_for_its_running_requests(
        tmp_path: Path) -> None:
    running = hosted_sandbox(tmp_path)
    hosted = next(running)
    try:
        admin = hosted.admin()
        made = admin.post(f"{hosted.root}/admin/tenants", json={"name": "initech",
                                                                "seed": False}, timeout=10)
        initech = hosted.as_tenant(made.json()["apiKeys"][0])
        assert initech.post(f"{hosted.api}/customer", json=MINIMAL, timeout=10).status_code == 201
        stores = tmp_path / "hosted-db.tenants"
        assert list(stores.glob("initech.*.json*"))  # <name>.<generation>.json
        # A slow request is in flight (held by a delay rule before it writes) when the
        # operator deletes the tenant: it completes, then the store goes.
        assert admin.post(f"{hosted.root}/admin/tenants/initech/faults", timeout=10, json={
            "method": "POST", "path": "/customer", "action": "delay",
            "delayMs": 1500}).status_code == 201
        answers: list[requests.Response] = []
        slow = threading.Thread(target=lambda: answers.append(initech.post(
            f"{hosted.api}/customer", json=MINIMAL, timeout=20)))
        slow.start()
        time.sleep(0.5)  # the POST is now sleeping inside the server
        deleted = admin.delete(f"{hosted.root}/admin/tenants/initech", timeout=20)
        slow.join(20)
        assert deleted.status_code == 204
        assert answers and answers[0].status_code == 201, answers and answers[0].text
        assert initech.get(f"{hosted.api}/customer", timeout=10).status_code == 401
        assert not list(stores.glob("initech.*"))  # store, journal, lock, fault rules
        assert list(stores.glob("acme.json*"))  # the others' stores stay
    finally:
        running.close()


def test_all_tenants_together_deliver_with_at_most_delivery_workers_threads(
        tmp_path: Path) -> None:
    """Five tenants' events reach one slow listener: never more than --delivery-workers (2)
    plus --slow-delivery-workers (1) requests at once from the whole server, and every
    event arrives."""
    lock, state = threading.Lock(), {"now": 0, "most": 0, "got": 0}

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            with lock:
                state["now"] += 1
                state["most"] = max(state["most"], state["now"])
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(0.4)
            with lock:
                state["now"] -= 1
                state["got"] += 1
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    running = hosted_sandbox(tmp_path, "--delivery-workers", "2", "--slow-delivery-workers", "1")
    hosted = next(running)
    try:
        admin, keys = hosted.admin(), []
        for n in range(5):
            made = admin.post(f"{hosted.root}/admin/tenants", json={"name": f"t{n}",
                                                                    "seed": False}, timeout=10)
            keys.append(made.json()["apiKeys"][0])
        partners = [hosted.as_tenant(key) for key in keys]
        callback = f"http://127.0.0.1:{server.server_port}/partner"
        for partner in partners:
            assert partner.post(f"{hosted.api}/hub", json={"callback": callback},
                                timeout=10).status_code == 201
        for partner in partners:
            for _ in range(2):
                assert partner.post(f"{hosted.api}/customer", json=MINIMAL,
                                    timeout=10).status_code == 201
        assert wait_until(lambda: state["got"] >= 10, timeout=20)
        assert state["most"] <= 2 + 1 and state["got"] == 10
    finally:
        running.close()
        server.shutdown()
        server.server_close()
