"""The plain parts of hosting, from tables: tenants files, fault rules, Prefer, journal
filters and masking; and the admin-token rules of the app factory."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from sandbox import cli, create_app
from sandbox.errors import ApiError
from sandbox.hosting import faults, journal
from sandbox.hosting.tenants_file import TenantsFileError, key_digest, parse_specs, read_specs
from tests.conftest import MINIMAL
from tests.hosting_support import ACME_KEY, ADMIN_TOKEN, GLOBEX_KEY, TENANTS

GOOD = {"name": "acme", "keys": [ACME_KEY]}


@pytest.mark.parametrize("data, problem", [
    ({"tenants": []}, "at least one"),
    ([{**GOOD, "name": "Acme"}], "invalid"),
    ([{**GOOD, "name": "-acme"}], "invalid"),
    ([{**GOOD, "name": "a" * 64}], "invalid"),
    ([{**GOOD, "keys": []}], "keys"),
    ([{**GOOD, "keys": ["short"]}], "16-256"),
    ([{**GOOD, "keys": [ACME_KEY + " x"]}], "16-256"),
    ([{**GOOD, "seed": "yes"}], "seed"),
    ([{**GOOD, "colour": "red"}], "unknown field"),
    ([GOOD, GOOD], "unique"),
    ([GOOD, {"name": "other", "keys": [ACME_KEY]}], "one tenant"),
    ([GOOD] * 3, "at most 2"),
])
def test_a_bad_tenants_file_is_refused(data: Any, problem: str) -> None:
    with pytest.raises(TenantsFileError, match=problem):
        parse_specs(data, max_tenants=2)


def test_tenants_files_in_json_and_toml(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text(json.dumps(TENANTS))
    (tmp_path / "t.toml").write_text(
        '[[tenants]]\nname = "acme"\nkeys = ["' + ACME_KEY + '"]\nseed = false\n')
    from_json = read_specs(tmp_path / "t.json", 10)
    assert [(s.name, s.seed) for s in from_json] == [("acme", True), ("globex", False)]
    assert [(s.name, s.keys, s.seed) for s in read_specs(tmp_path / "t.toml", 10)] == [
        ("acme", (ACME_KEY,), False)]
    (tmp_path / "bad.toml").write_text("[[tenants]\n")
    with pytest.raises(TenantsFileError, match="cannot read"):
        read_specs(tmp_path / "bad.toml", 10)


@pytest.mark.parametrize("body, expected", [
    ({"action": "drop"}, {"method": "*", "path": "*", "probability": 1.0, "action": "drop"}),
    ({"method": "get", "path": "/customer/*", "action": "status", "status": 429,
      "probability": 0.5},
     {"method": "GET", "path": "/customer/*", "probability": 0.5, "action": "status",
      "status": 429}),
    ({"action": "delay", "delayMs": 20},
     {"method": "*", "path": "*", "probability": 1.0, "action": "delay", "delayMs": 20}),
    ({"action": "delay", "delayMs": [5, 9]},
     {"method": "*", "path": "*", "probability": 1.0, "action": "delay", "delayMs": [5, 9]}),
])
def test_rules_parse_to_their_json(body: dict[str, Any], expected: dict[str, Any]) -> None:
    shown = faults.parse_rule(body, 1000).to_json()
    assert {k: v for k, v in shown.items() if k != "id"} == expected


@pytest.mark.parametrize("method, path, fires", [
    ("GET", "/customer", True), ("GET", "/customer/42", True), ("POST", "/customer", False),
    ("GET", "/hub/1", False),
])
def test_a_rule_fires_on_its_method_and_path(method: str, path: str, fires: bool) -> None:
    rules = faults.FaultRules(chance=random.Random(1))
    rules.add({"method": "GET", "path": "/customer*", "action": "status", "status": 503})
    picked = rules.pick(method, path)
    assert (picked is not None) == fires
    if picked:
        assert picked.status == 503 and picked.rule


def test_probability_is_honoured_over_many_draws() -> None:
    rules = faults.FaultRules(chance=random.Random(7))
    rules.add({"action": "drop", "probability": 0.25})
    fired = sum(rules.pick("GET", "/x") is not None for _ in range(4000))
    assert 800 < fired < 1200


def test_the_rule_count_is_bounded() -> None:
    rules = faults.FaultRules(max_rules=2)
    rules.add({"action": "drop"})
    rules.add({"action": "drop"})
    with pytest.raises(ApiError, match="at most 2"):
        rules.add({"action": "drop"})


@pytest.mark.parametrize("values, expected", [
    (["code=503"], ("status", 503, 0)),
    (['respond-async, code="429"'], ("status", 429, 0)),
    (["delay=250"], ("delay", None, 250)),
    (["return=minimal"], None),
    ([], None),
])
def test_prefer_header(values: list[str], expected: tuple[str, int | None, int] | None) -> None:
    found = faults.parse_prefer(values, 1000)
    assert (found and (found.action, found.status, found.delay_ms)) == expected


@pytest.mark.parametrize("values", [["code=200"], ["code=999"], ["delay=5000"]])
def test_an_out_of_range_prefer_is_a_400(values: list[str]) -> None:
    with pytest.raises(ApiError):
        faults.parse_prefer(values, 1000)


def test_journal_is_bounded_and_filtered() -> None:
    kept = journal.RequestJournal(size=3, body_cap=4)
    for status in (200, 404, 503, 201):
        kept.record(method="GET", url="u", path=f"/p{status}", headers=[], body=b"123456",
                    status=status, response=b"", latency_ms=1.0,
                    fault="x" if status == 503 else None)
    entries = kept.entries()
    assert [e["status"] for e in entries] == [404, 503, 201]
    assert entries[0]["requestBody"] == "1234" and entries[0]["requestBodyTruncated"]
    assert [e["status"] for e in kept.entries(journal.parse_query({"fault": "true"}))] == [503]
    assert [e["path"] for e in kept.entries(journal.parse_query({"path": "p20"}))] == ["/p201"]


def _app(tmp_path: Path, **overrides: Any) -> Any:
    (tmp_path / "t.json").write_text(json.dumps(TENANTS))
    return create_app({"db_path": str(tmp_path / "db.json"), **overrides})


@pytest.mark.parametrize("overrides, headers, status", [
    ({}, {}, 200),  # open, loopback: as before
    ({"admin_token": ADMIN_TOKEN}, {}, 401),  # a token once set is required
    ({"admin_token": ADMIN_TOKEN}, {"X-Admin-Token": ADMIN_TOKEN}, 200),
    ({"bind_host": "0.0.0.0"}, {}, 403),  # reachable remotely, no token: off
    ({"bind_host": "0.0.0.0", "admin_token": ADMIN_TOKEN},
     {"Authorization": f"Bearer {ADMIN_TOKEN}"}, 200),
    ({"tenants": True}, {"X-Admin-Token": ADMIN_TOKEN}, 403),  # tenants, no token: off
])
def test_admin_token_rules(tmp_path: Path, overrides: dict[str, Any],
                           headers: dict[str, str], status: int) -> None:
    if overrides.pop("tenants", False):
        overrides["tenants_file"] = str(tmp_path / "t.json")
    app = _app(tmp_path, **overrides)
    try:
        path = ("/admin/tenants/acme/deliveries" if "tenants_file" in overrides
                else "/admin/deliveries")
        answer = app.test_client().get(path, headers=headers)
        assert answer.status_code == status
        if status != 200:
            assert answer.json["status"] == str(status)
    finally:
        app.extensions["sandbox.tenants"].close()


def test_each_hosted_tenant_has_its_own_store_file(tmp_path: Path) -> None:
    app = _app(tmp_path, tenants_file=str(tmp_path / "t.json"))
    created = app.test_client().post("/tmf-api/customerManagement/v4/customer",
                                     json=MINIMAL, headers={"X-API-Key": GLOBEX_KEY}).json
    app.extensions["sandbox.tenants"].close()
    stores = tmp_path / "db.tenants"
    assert created["id"] in (stores / "globex.json").read_text()
    assert created["id"] not in (stores / "acme.json").read_text()
    assert not (tmp_path / "db.json").exists()


def test_a_faults_file_sets_rules_per_tenant_at_start(tmp_path: Path) -> None:
    rules = [{"tenant": "globex", "path": "/customer", "action": "status", "status": 418},
             {"path": "/hub/*", "action": "status", "status": 502}]
    (tmp_path / "faults.json").write_text(json.dumps({"rules": rules}))
    app = _app(tmp_path, tenants_file=str(tmp_path / "t.json"),
               faults_file=str(tmp_path / "faults.json"))
    try:
        client = app.test_client()
        api = "/tmf-api/customerManagement/v4"
        assert client.get(f"{api}/customer", headers={"X-API-Key": GLOBEX_KEY}).status_code == 418
        assert client.get(f"{api}/customer", headers={"X-API-Key": ACME_KEY}).status_code == 200
        for key in (ACME_KEY, GLOBEX_KEY):
            assert client.get(f"{api}/hub/1", headers={"X-API-Key": key}).status_code == 502
    finally:
        app.extensions["sandbox.tenants"].close()


@pytest.mark.parametrize("content, problem", [
    ("not json", "cannot read faults file"),
    (json.dumps([{"action": "explode"}]), "action must be one of"),
])
def test_a_bad_faults_file_stops_the_start(tmp_path: Path, content: str, problem: str) -> None:
    (tmp_path / "faults.json").write_text(content)
    with pytest.raises(ValueError, match=problem):
        _app(tmp_path, faults_file=str(tmp_path / "faults.json"))


@pytest.mark.parametrize("overrides, honoured", [
    ({}, True), ({"bind_host": "0.0.0.0"}, False), ({"prefer_faults": False}, False),
    ({"bind_host": "0.0.0.0", "prefer_faults": True}, True),
])
def test_prefer_is_honoured_only_where_allowed(tmp_path: Path, overrides: dict[str, Any],
                                               honoured: bool) -> None:
    app = _app(tmp_path, **overrides)
    try:
        answer = app.test_client().get("/tmf-api/customerManagement/v4/customer?limit=1",
                                       headers={"Prefer": "code=503"})
        assert answer.status_code == (503 if honoured else 206)  # 206: a page of the seed
    finally:
        app.extensions["sandbox.tenants"].close()


def test_an_open_sandbox_keeps_its_journal_and_faults_at_admin(tmp_path: Path) -> None:
    app = _app(tmp_path, journal=True)
    try:
        client = app.test_client()
        client.get("/tmf-api/customerManagement/v4/customer?limit=1",
                   headers={"Authorization": "Bearer not-needed-here"})
        entries = client.get("/admin/journal").json
        assert [e["path"] for e in entries] == ["/tmf-api/customerManagement/v4/customer"]
        assert entries[0]["requestHeaders"]["Authorization"] == "Bearer ***"
        assert client.post("/admin/faults", json={"action": "drop", "probability": 0}
                           ).status_code == 201
        assert client.get("/admin/tenants").json[0]["name"] == "default"
        assert client.post("/admin/tenants", json={"name": "x"}).status_code == 409
        assert client.delete("/admin/tenants/default").status_code == 409
    finally:
        app.extensions["sandbox.tenants"].close()


def test_an_open_sandbox_journals_only_when_asked(tmp_path: Path) -> None:
    """Nobody reads an open sandbox's journal unless it asked for one (``--journal``):
    without it a request records nothing; hosted tenants always record."""
    url = "/tmf-api/customerManagement/v4/customer?limit=1"
    for asked, recorded in ((False, []), (True, ["/tmf-api/customerManagement/v4/customer"])):
        (tmp_path / str(asked)).mkdir()
        app = _app(tmp_path / str(asked), journal=asked)
        try:
            client = app.test_client()
            assert client.get(url).status_code == 206
            assert [e["path"] for e in client.get("/admin/journal").json] == recorded
        finally:
            app.extensions["sandbox.tenants"].close()
    (tmp_path / "ids").mkdir()
    app = _app(tmp_path / "ids", journal=True)
    try:
        for _ in range(3):
            app.test_client().get(url)
        ids = {e["id"] for e in app.test_client().get("/admin/journal").json}
    finally:
        app.extensions["sandbox.tenants"].close()
    assert len(ids) == 3  # cheap ids, still one per entry


def test_a_bad_tenants_file_is_a_sentence_at_start(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.json").write_text(json.dumps({"tenants": [{"name": "UPPER", "keys": []}]}))
    code = cli.main(["--port", "0", "--db", ":memory:", "--tenants", str(tmp_path / "t.json")])
    assert code == 2
    assert "tenant name 'UPPER' is invalid" in capsys.readouterr().err


def test_tenants_made_by_the_admin_api_outlive_a_restart(tmp_path: Path) -> None:
    admin = {"X-Admin-Token": ADMIN_TOKEN}
    options = {"tenants_file": str(tmp_path / "t.json"), "admin_token": ADMIN_TOKEN}
    app = _app(tmp_path, **options)
    client = app.test_client()
    made = client.post("/admin/tenants", json={"name": "initech", "seed": False}, headers=admin)
    key = made.json["apiKeys"][0]
    assert client.delete("/admin/tenants/globex", headers=admin).status_code == 204
    app.extensions["sandbox.tenants"].close()
    again = _app(tmp_path, **options)
    try:
        names = [t["name"] for t in again.test_client().get("/admin/tenants",
                                                            headers=admin).json]
        assert names == ["acme", "initech"]
        assert again.test_client().get("/tmf-api/customerManagement/v4/customer",
                                       headers={"X-API-Key": key}).status_code == 200
        assert (tmp_path / "t.json").read_text() == json.dumps(TENANTS)  # never rewritten
    finally:
        again.extensions["sandbox.tenants"].close()
    kept = next(tmp_path.rglob("_admin.json")).read_text()
    assert key not in kept and key_digest(key) in kept  # keys are kept as digests only


def test_clear_keys_kept_by_an_older_version_still_select_their_tenant(tmp_path: Path) -> None:
    admin = {"X-Admin-Token": ADMIN_TOKEN}
    options = {"tenants_file": str(tmp_path / "t.json"), "admin_token": ADMIN_TOKEN}
    app = _app(tmp_path, **options)
    kept = next(tmp_path.rglob("_admin.json"), None)
    app.extensions["sandbox.tenants"].close()
    old_key = "old-clear-key-0123456789"
    kept = kept or tmp_path / "db.tenants" / "_admin.json"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps({"created": [{"name": "legacy", "keys": [old_key], "seed": False}],
                                "deleted": []}))
    again = _app(tmp_path, **options)
    try:
        client = again.test_client()
        assert client.get("/tmf-api/customerManagement/v4/customer",
                          headers={"X-API-Key": old_key}).status_code == 200
        made = client.post("/admin/tenants", json={"name": "initech"}, headers=admin)
        assert made.status_code == 201
        assert old_key not in kept.read_text()  # the next change keeps it as a digest
    finally:
        again.extensions["sandbox.tenants"].close()


def test_delays_take_a_slot_and_skip_when_every_slot_is_busy(tmp_path: Path) -> None:
    app = _app(tmp_path, max_delayed_requests=1, journal=True)
    try:
        slots = app.extensions["sandbox.delay_slots"]
        client = app.test_client()
        url = "/tmf-api/customerManagement/v4/hub/none"
        assert client.get(url, headers={"Prefer": "delay=1"}).status_code == 404
        assert slots.acquire(blocking=False)  # the one slot is free again; now hold it
        try:
            assert client.get(url, headers={"Prefer": "delay=5000"}).status_code == 404
        finally:
            slots.release()
        faults = [e["fault"] for e in client.get("/admin/journal").json]
        assert faults == ["delay 1ms (Prefer header)",
                          "delay 5000ms (Prefer header); skipped: every delay slot is busy"]
    finally:
        app.extensions["sandbox.tenants"].close()


@pytest.mark.parametrize("public_url, host, base, scheme", [
    (None, "localhost", "/tmf-api/customerManagement/v4", "http"),
    ("https://sandbox.example.com", "sandbox.example.com", "/tmf-api/customerManagement/v4",
     "https"),
    ("https://example.com:8443/partners/", "example.com:8443",
     "/partners/tmf-api/customerManagement/v4", "https"),
])
def test_the_spec_points_at_the_public_address(tmp_path: Path, public_url: str | None,
                                               host: str, base: str, scheme: str) -> None:
    app = _app(tmp_path, public_url=public_url)
    try:
        document = app.test_client().get("/tmf-api/customerManagement/v4/api-docs").json
        assert (document["host"], document["basePath"], document["schemes"]) == (
            host, base, [scheme])
    finally:
        app.extensions["sandbox.tenants"].close()
