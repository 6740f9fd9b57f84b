"""Seed customers' nested hrefs name the address that serves them (issue 21).

The seed files write other TMF APIs' references under a placeholder origin;
a client sees them under the address it used, as it sees each customer's own
``href``. Table-driven for :func:`sandbox.seed.served_refs`, and a real server
process on each storage engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ctk_runner.embedded import SandboxProcess
from sandbox.seed import SEED_ORIGIN, served_refs

ROOT = "http://10.0.0.5:9000/tmf-api/customerManagement/v4"
PROXIED = "https://gw.example.com/partner/tmf-api/customerManagement/v4"
PARTY = f"{SEED_ORIGIN}/tmf-api/partyManagement/v4/organization/o-1"


@pytest.mark.parametrize(("value", "root", "shown"), [
    ({"href": PARTY}, ROOT,
     {"href": "http://10.0.0.5:9000/tmf-api/partyManagement/v4/organization/o-1"}),
    ([{"id": "a", "href": PARTY}], PROXIED,
     [{"id": "a", "href": "https://gw.example.com/partner/tmf-api/partyManagement/v4/"
                          "organization/o-1"}]),
    ({"href": "https://elsewhere.example/x"}, ROOT, {"href": "https://elsewhere.example/x"}),
    ({"href": f"{SEED_ORIGIN}/not-tmf"}, ROOT, {"href": f"{SEED_ORIGIN}/not-tmf"}),
    ({"name": "href", "value": PARTY}, ROOT, {"name": "href", "value": PARTY}),  # not an href
    ("plain", ROOT, "plain"),
    ({"href": PARTY}, f"{SEED_ORIGIN}/tmf-api/customerManagement/v4", {"href": PARTY}),
    # Text that spells a seed href inside a string is not a reference.
    ({"description": f'"href":"{PARTY}"', "note": [f'x\\"href":"{PARTY}']}, ROOT,
     {"description": f'"href":"{PARTY}"', "note": [f'x\\"href":"{PARTY}']}),
    # A served root JSON must escape (a client's Host header) still moves exactly.
    ({"a": [{"b": {"href": PARTY}}], "n": 1.5, "i": 2**63 - 1}, 'http://we"ird\\/tmf-api/x/v4',
     {"a": [{"b": {"href": 'http://we"ird\\/tmf-api/partyManagement/v4/organization/o-1'}}],
      "n": 1.5, "i": 2**63 - 1}),
])
def test_nested_seed_hrefs_move_to_the_serving_root(value: Any, root: str, shown: Any) -> None:
    before = json.dumps(value)
    assert served_refs(value, root) == shown
    assert json.dumps(value) == before  # the stored value is never changed


def test_an_untouched_value_is_returned_as_is() -> None:
    value = [{"id": "1"}, {"nested": {"href": "https://elsewhere.example/x"}}]
    assert served_refs(value, ROOT) is value


def hrefs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "href" and isinstance(item, str):
                yield item
            else:
                yield from hrefs(item)
    elif isinstance(value, list):
        for item in value:
            yield from hrefs(item)


def test_a_sandbox_serves_seed_references_under_its_own_address(store_url: str) -> None:
    with SandboxProcess(db=store_url, extra_args=["--quiet"]) as sandbox:
        root = sandbox.url.split("/tmf-api/")[0]
        listed = requests.get(f"{sandbox.url}customer", timeout=10).json()
        one = requests.get(listed[0]["href"], timeout=10).json()
    found = list(hrefs(listed)) + list(hrefs(one))
    nested = [h for h in found if "/customerManagement/" not in h]
    assert len(nested) > 25  # parties, accounts, payment methods, agreements
    assert all(h.startswith(f"{root}/tmf-api/") for h in found), found[:5]
    assert not any(SEED_ORIGIN in h for h in found)
