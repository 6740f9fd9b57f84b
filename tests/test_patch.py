"""PATCH by media type, from tables: merge patch, JSON Patch, JSON Patch Query."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sandbox.domain.patch import (
    JSON,
    JSON_PATCH,
    JSON_PATCH_QUERY,
    MERGE_PATCH,
    apply_patch,
)
from sandbox.errors import ApiError

DOC: dict[str, Any] = {
    "id": "1", "href": "http://h/customer/1", "name": "Moon", "status": "Approved",
    "engagedParty": {"id": "500", "@referredType": "Organization"},
    "contactMedium": [
        {"mediumType": "email", "preferred": False, "characteristic": {"emailAddress": "a@b"}},
        {"mediumType": "phone", "preferred": True, "characteristic": {"phoneNumber": "+1"}},
        {"mediumType": "email", "characteristic": {"emailAddress": "c@d"}},
    ],
    "characteristic": [
        {"name": "segment", "value": "Enterprise"},
        {"name": "employees", "value": 340},
        {"name": "segment", "value": "Legacy"},
    ],
    "creditProfile": [{"creditScore": 650, "validFor": {"startDateTime": "2023-01-01T00:00:00Z"}},
                      {"creditScore": 750, "validFor": {"startDateTime": "2024-01-01T00:00:00Z"}}],
}


def changed(**members: Any) -> dict[str, Any]:
    return {**copy.deepcopy(DOC), **members}


def media(doc: dict[str, Any], path: str) -> list[Any]:
    return [m.get(path) for m in doc["contactMedium"]]


OK: list[tuple[str, str, Any, dict[str, Any]]] = [
    ("merge: set", MERGE_PATCH, {"status": "Pending"}, changed(status="Pending")),
    ("merge: application/json", JSON, {"status": "Pending"}, changed(status="Pending")),
    ("merge: null removes", MERGE_PATCH, {"status": None},
     {k: v for k, v in DOC.items() if k != "status"}),
    ("merge: nested", MERGE_PATCH, {"engagedParty": {"name": "Moon Ltd"}},
     changed(engagedParty={**DOC["engagedParty"], "name": "Moon Ltd"})),
    ("json-patch: replace", JSON_PATCH, [{"op": "replace", "path": "/name", "value": "Sun"}],
     changed(name="Sun")),
    ("json-patch: add + remove", JSON_PATCH,
     [{"op": "add", "path": "/statusReason", "value": "KYC"},
      {"op": "remove", "path": "/status"}],
     {**{k: v for k, v in DOC.items() if k != "status"}, "statusReason": "KYC"}),
    ("json-patch: append", JSON_PATCH,
     [{"op": "add", "path": "/characteristic/-", "value": {"name": "tier", "value": "Gold"}}],
     changed(characteristic=[*DOC["characteristic"], {"name": "tier", "value": "Gold"}])),
    ("json-patch: test passes", JSON_PATCH,
     [{"op": "test", "path": "/name", "value": "Moon"},
      {"op": "copy", "from": "/name", "path": "/statusReason"}],
     changed(statusReason="Moon")),
    ("json-patch: move", JSON_PATCH, [{"op": "move", "from": "/status", "path": "/statusReason"}],
     {**{k: v for k, v in DOC.items() if k != "status"}, "statusReason": "Approved"}),
    ("query: replace in matching elements", JSON_PATCH_QUERY,
     [{"op": "replace", "path": "/contactMedium/preferred?mediumType=phone", "value": False}],
     changed(contactMedium=[{**m, "preferred": False} if m["mediumType"] == "phone" else m
                            for m in DOC["contactMedium"]])),
    ("query: add to every match", JSON_PATCH_QUERY,
     [{"op": "add", "path": "/contactMedium/preferred?mediumType=email", "value": True}],
     changed(contactMedium=[{**m, "preferred": True} if m["mediumType"] == "email" else m
                            for m in DOC["contactMedium"]])),
    ("query: remove every match", JSON_PATCH_QUERY,
     [{"op": "remove", "path": "/characteristic?name=segment"}],
     changed(characteristic=[{"name": "employees", "value": 340}])),
    ("query: OR and an operator", JSON_PATCH_QUERY,
     [{"op": "remove", "path": "/characteristic?name=segment,employees&value.ne=Legacy"}],
     changed(characteristic=[{"name": "segment", "value": "Legacy"}])),
    ("query: typed operator", JSON_PATCH_QUERY,
     [{"op": "remove", "path": "/creditProfile?creditScore.gte=700"}],
     changed(creditProfile=DOC["creditProfile"][:1])),
    ("query: date-time condition", JSON_PATCH_QUERY,
     [{"op": "replace", "path": "/creditProfile/creditScore?validFor.startDateTime.lt=2024-01-01",
       "value": 600}],
     changed(creditProfile=[{**DOC["creditProfile"][0], "creditScore": 600},
                            DOC["creditProfile"][1]])),
    ("query: condition named by its full path", JSON_PATCH_QUERY,
     [{"op": "replace", "path": "/contactMedium/characteristic/emailAddress"
       "?contactMedium.characteristic.emailAddress=c@d", "value": "e@f"}],
     changed(contactMedium=[*DOC["contactMedium"][:2], {
         **DOC["contactMedium"][2], "characteristic": {"emailAddress": "e@f"}}])),
    ("query: test every match", JSON_PATCH_QUERY,
     [{"op": "test", "path": "/contactMedium/mediumType?characteristic.emailAddress.regex=@",
       "value": "email"}, {"op": "replace", "path": "/name", "value": "Checked"}],
     changed(name="Checked")),
    ("query: plain pointers still work", JSON_PATCH_QUERY,
     [{"op": "replace", "path": "/contactMedium/0/preferred", "value": True}],
     changed(contactMedium=[{**DOC["contactMedium"][0], "preferred": True},
                            *DOC["contactMedium"][1:]])),
]


@pytest.mark.parametrize(("case", "media_type", "body", "expected"), OK, ids=[c[0] for c in OK])
def test_patches_apply(case: str, media_type: str, body: Any, expected: dict[str, Any]) -> None:
    before = copy.deepcopy(DOC)
    frozen = copy.deepcopy(body)
    assert apply_patch(DOC, body, media_type) == expected
    assert DOC == before and body == frozen  # neither argument is modified


BAD: list[tuple[str, str, Any, str]] = [
    ("merge: not an object", MERGE_PATCH, ["x"], "must be a JSON object"),
    ("json-patch: not an array", JSON_PATCH, {"op": "add"}, "must be a JSON array"),
    ("json-patch: not an object", JSON_PATCH, ["add"], "operation 0 is not a JSON object"),
    ("json-patch: unknown op", JSON_PATCH, [{"op": "merge", "path": "/a"}],
     "'op' must be one of"),
    ("json-patch: no path", JSON_PATCH, [{"op": "remove"}], "'path' must be a JSON Pointer"),
    ("json-patch: relative path", JSON_PATCH, [{"op": "remove", "path": "name"}],
     "'path' must be a JSON Pointer"),
    ("json-patch: no from", JSON_PATCH, [{"op": "copy", "path": "/a"}], "'from' must be"),
    ("json-patch: no value", JSON_PATCH, [{"op": "add", "path": "/a"}], "'value' member"),
    ("json-patch: test fails", JSON_PATCH,
     [{"op": "replace", "path": "/name", "value": "X"},
      {"op": "test", "path": "/status", "value": "Closed"}],
     'operation 1 (test /status) failed: the value at /status is not "Closed"'),
    ("json-patch: missing member", JSON_PATCH,
     [{"op": "replace", "path": "/statusReason", "value": "x"}],
     "operation 0 (replace /statusReason) failed"),
    ("json-patch: missing parent", JSON_PATCH, [{"op": "add", "path": "/nope/x", "value": 1}],
     "operation 0 (add /nope/x) failed: the path does not exist"),
    ("json-patch: index out of range", JSON_PATCH,
     [{"op": "remove", "path": "/contactMedium/7"}], "operation 0 (remove /contactMedium/7)"),
    ("query: selects nothing", JSON_PATCH_QUERY,
     [{"op": "remove", "path": "/characteristic?name=nope"}], "the query selects nothing"),
    ("query: no array crossed", JSON_PATCH_QUERY,
     [{"op": "replace", "path": "/engagedParty/id?id=500", "value": "1"}], "crosses no array"),
    ("query: empty query", JSON_PATCH_QUERY,
     [{"op": "remove", "path": "/characteristic?"}], "must hold conditions"),
    ("query: move cannot select", JSON_PATCH_QUERY,
     [{"op": "move", "from": "/name", "path": "/characteristic?name=segment"}],
     "only add, remove, replace, test can select"),
    ("query: from cannot select", JSON_PATCH_QUERY,
     [{"op": "copy", "from": "/characteristic?name=segment", "path": "/x"}],
     "'from' cannot carry a query"),
    ("query: malformed typed value", JSON_PATCH_QUERY,
     [{"op": "remove", "path": "/creditProfile?creditScore.gte=high"}], "'high' is not a number"),
    ("query: unknown operator", JSON_PATCH_QUERY,
     [{"op": "remove", "path": "/characteristic?name.like=seg"}], "not a supported operator"),
    ("query: replace a missing member", JSON_PATCH_QUERY,
     [{"op": "replace", "path": "/contactMedium/preferred?mediumType=email", "value": True}],
     "operation 0 (replace /contactMedium/preferred?mediumType=email) failed"),
    ("query: test fails on one match", JSON_PATCH_QUERY,
     [{"op": "test", "path": "/contactMedium/preferred?mediumType=phone,email",
       "value": True}], "operation 0 (test /contactMedium/preferred?mediumType=phone,email)"),
]


@pytest.mark.parametrize(("case", "media_type", "body", "fragment"), BAD,
                         ids=[c[0] for c in BAD])
def test_bad_patches_are_400_naming_the_operation(case: str, media_type: str, body: Any,
                                                  fragment: str) -> None:
    before = copy.deepcopy(DOC)
    with pytest.raises(ApiError) as caught:
        apply_patch(DOC, body, media_type)
    assert caught.value.status == 400
    assert fragment in caught.value.message
    assert DOC == before


def test_a_deeply_nested_value_is_a_400() -> None:
    value: Any = "leaf"
    for _ in range(5000):
        value = {"x": value}
    with pytest.raises(ApiError, match="nested too deeply"):
        apply_patch(DOC, {"characteristic": value}, MERGE_PATCH)
