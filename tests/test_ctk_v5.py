"""``ctk-runner --api v5``: the suite passes a conformant v5 server and names each seeded fault.

Real HTTP on real ports: the v5 stand-in (``tests/ctk_v5_standin.py``) served by
``ctk_faults.serve``; the harness runs in-process through ``cli.main`` and the
report it writes is read back. The schema rendering's polymorphism is checked
from a table of plain instances.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from ctk_runner.v5 import oas

try:
    import ctk_faults
    from ctk_outcome import Outcome, run_harness
    from ctk_v5_standin import ROOT, V5Faults, V5StandIn
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests import ctk_faults  # type: ignore[no-redef]
    from tests.ctk_outcome import Outcome, run_harness  # type: ignore[no-redef]
    from tests.ctk_v5_standin import ROOT, V5Faults, V5StandIn  # type: ignore[no-redef]

CUSTOMER: dict[str, Any] = {
    "@type": "Customer", "id": "1", "href": "http://h/customer/1", "name": "Moon",
    "engagedParty": {"@type": "PartyRef", "id": "500"},
    "contactMedium": [{"@type": "EmailContactMedium", "emailAddress": "a@b.example"}],
    "characteristic": [{"@type": "IntegerCharacteristic", "name": "n", "value": 3}],
    "relatedParty": [{"@type": "RelatedPartyOrPartyRole", "role": "owner",
                      "partyOrPartyRole": {"@type": "PartyRoleRef", "id": "7"}}],
}


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(CUSTOMER)
    target: Any = changed
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


# (instance, OAS problem expected at, undeclared attribute expected at)
TABLE = [
    ("conformant", CUSTOMER, None, None),
    ("no @type", _with(("@type",), None), "/: '@type' is a required property", None),
    ("item without @type", _with(("contactMedium", 0, "@type"), None),
     "/contactMedium/0: '@type' is a required property", None),
    ("wrong subclass attribute", _with(("contactMedium", 0, "@type"), "PhoneContactMedium"),
     None, "/contactMedium/0: 'emailAddress' not defined by PhoneContactMedium"),
    ("v4 contactMedium", _with(("contactMedium", 0), {
        "@type": "ContactMedium", "mediumType": "email",
        "characteristic": {"emailAddress": "a@b"}}),
     None, "/contactMedium/0: 'characteristic', 'mediumType' not defined by ContactMedium"),
    ("subclass value type", _with(("characteristic", 0, "value"), "three"),
     "/characteristic/0/value: 'three' is not of type 'integer'", None),
    ("unknown @type", _with(("characteristic", 0, "@type"), "FooCharacteristic"),
     "/characteristic/0: @type 'FooCharacteristic' is none of", None),
    ("unknown @type with @schemaLocation", _with(("characteristic", 0), {
        "@type": "FooCharacteristic", "@schemaLocation": "https://x/Foo.json", "name": "n",
        "extra": 1}), None, None),
    ("not a Customer", _with(("@type",), "Supplier"), "/: @type 'Supplier' is none of Customer",
     None),
    ("extension with @schemaLocation", {**CUSTOMER, "@schemaLocation": "https://x/c.json",
                                        "loyalty": 3}, None, None),
    ("undeclared top-level attribute", {**CUSTOMER, "loyalty": 3}, None,
     "/: 'loyalty' not defined by Customer"),
    ("OAS example @type on relatedParty", _with(("relatedParty", 0, "@type"),
                                                 "RelatedPartyRefOrPartyRoleRef"), None, None),
]


@pytest.mark.parametrize(("case", "instance", "problem", "undeclared"), TABLE,
                         ids=[row[0] for row in TABLE])
def test_polymorphic_validation(case: str, instance: dict[str, Any], problem: str | None,
                                undeclared: str | None) -> None:
    found, extra = oas.problems(instance, "Customer"), oas.undeclared(instance, "Customer")
    assert [p for p in found if problem and p.startswith(problem)] if problem else not found
    assert [p for p in extra if undeclared and p.startswith(undeclared)] if undeclared \
        else not extra


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], faults: V5Faults,
         *args: str) -> Outcome:
    with ctk_faults.serve(V5StandIn(faults)) as url:
        root = url.replace(ctk_faults.ROOT_PATH, ROOT)
        return run_harness(root, tmp_path / "report", capsys, "--api", "v5", *args)


def test_conformant_v5_server_passes_with_events(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = _run(tmp_path, capsys, V5Faults(), "--profile", "strict")
    assert outcome.code == 0, outcome.failures()
    run = outcome.json["run"]
    assert run["build"] == "v5-oas"
    names = {a["assertion"] for e in run["executions"] for a in e.get("assertions", [])}
    for name in ("v5 body is a valid Customer", "Every attribute is defined by its @type",
                 "GET /hub/{id} returns the subscription", "JSON Patch Query is applied",
                 "v5 CustomerStateChangeEvent received",
                 "Event is a valid v5 CustomerDeleteEvent", "v5 event carries the envelope"):
        assert name in names
    assert not run["skipped"]


FAULTS = [
    (V5Faults(missing_type=True), "v5 body is a valid Customer", "'@type' is a required"),
    (V5Faults(wrong_subclass=True), "Every attribute is defined by its @type",
     "'emailAddress' not defined by PhoneContactMedium"),
    (V5Faults(v4_contact_medium=True), "v5 body is a valid Customer",
     "/contactMedium/0: '@type' is a required property"),
    (V5Faults(error_without_type=True), "v5 error body is an Error", "'@type' is a required"),
]


@pytest.mark.parametrize(("faults", "rule", "message"), FAULTS,
                         ids=["missing-type", "wrong-subclass", "v4-contact-medium",
                              "error-without-type"])
def test_seeded_v5_fault_is_caught(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   faults: V5Faults, rule: str, message: str) -> None:
    outcome = _run(tmp_path, capsys, faults)
    assert outcome.code == 1
    assert any(test == rule and message in why for _, test, why in outcome.failures()), \
        outcome.failures()


def test_v5_payload_is_checked_before_anything_is_sent(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v4_payload = tmp_path / "v4.json"
    v4_payload.write_text('{"name": "x", "engagedParty": {"id": "1"}}', encoding="utf-8")
    outcome = run_harness("http://127.0.0.1:9/", tmp_path / "r", capsys, "--api", "v5",
                          "--payload", str(v4_payload))
    assert outcome.code == 2
    assert "not a valid v5 Customer_FVO" in outcome.output


def test_the_real_sandbox_passes_the_v5_suite(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """``ctk-runner --api v5 --sandbox``: a real sandbox process, on a real port, both folders."""
    from ctk_runner import cli

    code = cli.main(["--api", "v5", "--sandbox", "--profile", "strict",
                     "--report-dir", str(tmp_path / "report")])
    outcome = Outcome(code, tmp_path / "report", capsys.readouterr().out)
    assert code == 0, outcome.failures()
    run = outcome.json["run"]
    executions = run["executions"]
    assert len(executions) == 17 + 6
    assert all("/tmf-api/customerManagement/v5/" in e["request"]["url"]["raw"]
               for e in executions)
    assert {e["item"]["folder"] for e in executions} == {"V5", "NT5"}
    assert not run["skipped"]
