"""Fault rules, Prefer headers and the request journal, observed from a real client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import MINIMAL
from tests.hosting_support import ACME_KEY, GLOBEX_KEY, Hosted, hosted_sandbox


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosted]:
    yield from hosted_sandbox(tmp_path_factory.mktemp("faults"))


@pytest.fixture
def rules(hosted: Hosted) -> Iterator[str]:
    """acme's fault-rule URL; the rules are removed after the test."""
    url = f"{hosted.root}/admin/tenants/acme/faults"
    yield url
    hosted.admin().delete(url, timeout=10)


def timed(session: requests.Session, url: str, **headers: str) -> tuple[float, int]:
    started = time.perf_counter()
    answer = session.get(url, headers=headers, timeout=30)
    return time.perf_counter() - started, answer.status_code


def test_a_status_rule_answers_a_tmf_error_to_its_tenant_only(hosted: Hosted,
                                                              rules: str) -> None:
    added = hosted.admin().post(rules, json={"method": "GET", "path": "/customer*",
                                             "action": "status", "status": 503}, timeout=10)
    assert added.status_code == 201, added.text
    answer = hosted.as_tenant(ACME_KEY).get(f"{hosted.api}/customer", timeout=10)
    assert answer.status_code == 503
    assert answer.json()["reason"] == "Injected fault"
    assert hosted.as_tenant(ACME_KEY).post(f"{hosted.api}/customer", json=MINIMAL,
                                           timeout=10).status_code == 201  # POST not matched
    assert hosted.as_tenant(GLOBEX_KEY).get(f"{hosted.api}/customer",
                                            timeout=10).status_code == 200
    listed = hosted.admin().get(rules, timeout=10).json()
    assert [(r["action"], r["status"]) for r in listed] == [("status", 503)]
    assert hosted.admin().delete(f"{rules}/{listed[0]['id']}", timeout=10).status_code == 204
    assert hosted.as_tenant(ACME_KEY).get(f"{hosted.api}/customer",
                                          timeout=10).status_code == 200


def test_a_delay_rule_delays_and_a_zero_probability_never_fires(hosted: Hosted,
                                                                rules: str) -> None:
    admin, acme = hosted.admin(), hosted.as_tenant(ACME_KEY)
    admin.post(rules, json={"path": "/hub/*", "action": "status", "status": 500,
                            "probability": 0}, timeout=10)
    admin.post(rules, json={"path": "/hub/*", "action": "delay", "delayMs": 400}, timeout=10)
    elapsed, status = timed(acme, f"{hosted.api}/hub/nothing")
    assert status == 404 and elapsed >= 0.4
    admin.delete(rules, timeout=10)
    admin.post(rules, json={"path": "/hub/*", "action": "delay", "delayMs": [300, 500]},
               timeout=10)
    elapsed, status = timed(acme, f"{hosted.api}/hub/nothing")
    assert status == 404 and elapsed >= 0.3


def test_a_drop_rule_closes_the_connection_without_an_answer(hosted: Hosted,
                                                            rules: str) -> None:
    hosted.admin().post(rules, json={"method": "DELETE", "path": "/customer/*",
                                     "action": "drop"}, timeout=10)
    with pytest.raises(requests.ConnectionError):
        requests.delete(f"{hosted.api}/customer/1", headers={"X-API-Key": ACME_KEY},
                        timeout=10)
    # the server goes on serving
    assert hosted.as_tenant(ACME_KEY).get(f"{hosted.api}/customer/1",
                                          timeout=10).status_code in (200, 404)


@pytest.mark.parametrize("rule", [
    {"action": "explode"}, {"action": "status", "status": 200},
    {"action": "status", "status": "503"}, {"action": "delay", "delayMs": 10**7},
    {"action": "delay", "delayMs": [500, 100]}, {"action": "drop", "probability": 2},
    {"action": "drop", "method": "BREW"}, {"action": "drop", "colour": "red"}, [],
])
def test_an_invalid_rule_is_a_400(hosted: Hosted, rules: str, rule: object) -> None:
    answer = hosted.admin().post(rules, json=rule, timeout=10)
    assert answer.status_code == 400 and answer.json()["status"] == "400"
    assert hosted.admin().get(rules, timeout=10).json() == []


def test_prefer_asks_for_one_status_or_delay(hosted: Hosted) -> None:
    acme = hosted.as_tenant(ACME_KEY)
    answer = acme.get(f"{hosted.api}/customer", headers={"Prefer": "code=503"}, timeout=10)
    assert answer.status_code == 503 and answer.json()["reason"] == "Injected fault"
    assert answer.headers["Preference-Applied"] == "code=503"
    plain = acme.get(f"{hosted.api}/customer?name=nobody", timeout=10)
    assert "Preference-Applied" not in plain.headers
    elapsed, status = timed(acme, f"{hosted.api}/customer?name=nobody", Prefer="delay=300")
    assert status == 200 and elapsed >= 0.3
    assert acme.get(f"{hosted.api}/customer", headers={"Prefer": "code=200"},
                    timeout=10).status_code == 400


def test_the_journal_records_masks_and_filters(hosted: Hosted) -> None:
    admin, acme = hosted.admin(), hosted.as_tenant(ACME_KEY)
    journal = f"{hosted.root}/admin/tenants/acme/journal"
    admin.delete(journal, timeout=10)
    since = admin.get(f"{hosted.root}/admin/tenants", timeout=10).headers["Date"]
    acme.post(f"{hosted.api}/customer", json=MINIMAL, timeout=10)
    requests.get(f"{hosted.api}/customer?name=Moon", timeout=10,
                 headers={"Authorization": f"Bearer {ACME_KEY}", "Prefer": "code=502"})
    hosted.as_tenant(GLOBEX_KEY).get(f"{hosted.api}/customer", timeout=10)
    entries = admin.get(journal, timeout=10).json()
    assert [(e["method"], e["status"]) for e in entries] == [("POST", 201), ("GET", 502)]
    created, failed = entries
    assert json.loads(created["requestBody"])["name"] == MINIMAL["name"]
    assert json.loads(created["responseBody"])["name"] == MINIMAL["name"]
    assert created["requestHeaders"]["X-Api-Key"] == "***"
    assert failed["requestHeaders"]["Authorization"] == "Bearer ***"
    assert failed["fault"] == "status 502 (Prefer header)" and created["fault"] is None
    assert failed["url"].endswith("/customer?name=Moon") and failed["latencyMs"] >= 0
    text = admin.get(journal, timeout=10).text
    assert ACME_KEY not in text and GLOBEX_KEY not in text
    for query, expected in [("?status=502", [502]), ("?method=post", [201]),
                            ("?fault=true", [502]), ("?path=/customer", [201, 502]),
                            ("?path=/hub", []), ("?since=2999-01-01T00:00:00Z", [])]:
        found = admin.get(journal + query, timeout=10).json()
        assert [e["status"] for e in found] == expected, query
    assert since  # a Date header is present; since= takes ISO 8601 only:
    for query in ("?since=yesterday", "?status=abc", "?colour=red"):
        assert admin.get(journal + query, timeout=10).status_code == 400
    globex = admin.get(f"{hosted.root}/admin/tenants/globex/journal", timeout=10).json()
    assert all(e["path"].endswith("/customer") for e in globex) and globex
    assert all("Moon" not in e["url"] for e in globex)


def test_the_journal_keeps_the_last_n_requests(hosted: Hosted) -> None:
    admin, globex = hosted.admin(), hosted.as_tenant(GLOBEX_KEY)
    journal = f"{hosted.root}/admin/tenants/globex/journal"
    for number in range(60):
        globex.get(f"{hosted.api}/customer?limit={number + 1}", timeout=10)
    entries = admin.get(journal, timeout=10).json()
    assert len(entries) == 50  # --journal-size 50
    assert entries[-1]["url"].endswith("limit=60") and entries[0]["url"].endswith("limit=11")


def test_large_bodies_are_cut_at_the_cap(hosted: Hosted) -> None:
    admin, globex = hosted.admin(), hosted.as_tenant(GLOBEX_KEY)
    journal = f"{hosted.root}/admin/tenants/globex/journal"
    admin.delete(journal, timeout=10)
    body = {**MINIMAL, "statusReason": "x" * 10_000}
    created = globex.post(f"{hosted.api}/customer", json=body, timeout=10)
    assert created.status_code == 201
    entry = admin.get(journal, timeout=10).json()[-1]
    assert entry["requestBodyTruncated"] and len(entry["requestBody"]) == 4096
    assert entry["responseBodyTruncated"]
    globex.delete(created.json()["href"], timeout=10)


def test_rules_outlive_a_restart_on_the_file_store(tmp_path: Path) -> None:
    """The admin API's rules are kept beside the tenant's store: a restarted process
    applies them. A ``--faults`` file's rules start a tenant once: deleted, they stay so."""
    (tmp_path / "faults.json").write_text(json.dumps([
        {"id": "from-file", "tenant": "globex", "method": "GET", "path": "/customer",
         "action": "status", "status": 418}]))
    options = ("--faults", str(tmp_path / "faults.json"))
    for run in ("first", "restarted"):
        running = hosted_sandbox(tmp_path, *options)
        hosted = next(running)
        try:
            admin, acme, globex = (hosted.admin(), hosted.as_tenant(ACME_KEY),
                                   hosted.as_tenant(GLOBEX_KEY))
            acme_rules = f"{hosted.root}/admin/tenants/acme/faults"
            globex_rules = f"{hosted.root}/admin/tenants/globex/faults"
            if run == "first":
                assert globex.get(f"{hosted.api}/customer", timeout=10).status_code == 418
                assert admin.post(acme_rules, timeout=10, json={
                    "id": "kept", "method": "GET", "path": "/customer/*", "action": "status",
                    "status": 503}).status_code == 201
                assert admin.delete(f"{globex_rules}/from-file", timeout=10).status_code == 204
                continue
            assert [r["id"] for r in admin.get(acme_rules, timeout=10).json()] == ["kept"]
            assert acme.get(f"{hosted.api}/customer/x", timeout=10).status_code == 503
            assert admin.get(globex_rules, timeout=10).json() == []
            assert globex.get(f"{hosted.api}/customer", timeout=10).status_code == 200
        finally:
            running.close()
