"""The one number model, from tables: the plain functions, then real server processes on
every backend (``store_url``), killed with ``kill -9`` and restarted, answering every
number exactly as the write's answer showed it, with the swagger's types, and filtering
on them alike."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft4Validator

from ctk_runner.embedded import SandboxProcess
from sandbox.domain import json_body, numbers
from sandbox.errors import ApiError
from sandbox.seed import SeedError, read_seed
from tests.conftest import MINIMAL

SWAGGER = Path(__file__).parents[1] / "sandbox" / "openapi" / "TMF629-Customer-v4.0.0.swagger.json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
QUERY_PATCH = "application/json-patch-query+json"


@dataclass(frozen=True)
class Number:
    sent: str  # the literal in the request body
    shown: str  # the literal every answer shows, before and after a crash
    typed: bool  # creditProfile[0].creditScore (schema: integer), else characteristic[0].value


NUMBERS = [
    Number("700", "700", True),
    Number("1.0", "1", True),
    Number("1E2", "100", True),
    Number("1e18", "1000000000000000000", True),
    Number("-0.0", "0", True),
    Number("-0", "0", True),
    Number("9223372036854775807", "9223372036854775807", True),
    Number("-9223372036854775808", "-9223372036854775808", True),
    Number("9007199254740993", "9007199254740993", False),  # past 2**53: exact, not a double
    Number("1.0", "1", False),
    Number("-0.0", "0", False),
    Number("0.1", "0.1", False),
    Number("-2.5", "-2.5", False),
    Number("1.5e-07", "1.5e-7", False),
    Number("1e-05", "0.00001", False),
    Number("0.30000000000000004", "0.30000000000000004", False),
    Number("3.14159265358979323846", "3.141592653589793", False),  # the nearest double
    Number("123456.789e3", "123456789", False),
    Number("5e-324", "5e-324", False),
]

#: Whole numbers no backend keeps exactly: refused anywhere in a body.
REFUSED = [
    Number("18446744073709551616", "", True),
    Number("9223372036854775808", "", True),
    Number("1e20", "", True),
    Number("-2.7764348916182948e+20", "", True),
    Number("-9223372036854775809", "", False),
    Number("1.7976931348623157e308", "", False),
    Number("123456789012345678901234567890", "", False),
]


# -- the plain functions ----------------------------------------------------------------


@pytest.mark.parametrize("case", NUMBERS, ids=lambda c: f"{c.sent}")
def test_a_body_number_becomes_its_one_form(case: Number) -> None:
    parsed = json_body.parse(f'{{"n": [{case.sent}]}}')
    assert json_body.encode(parsed) == f'{{"n":[{case.shown}]}}'.encode()


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.sent)
def test_a_whole_number_out_of_range_is_refused_naming_its_path(case: Number) -> None:
    with pytest.raises(ApiError) as caught:
        json_body.parse(f'{{"a": [{{"b": 1}}, {{"b": {case.sent}}}]}}')
    assert caught.value.status == 400 and caught.value.reason == "Number out of range"
    assert caught.value.message.startswith("$.a[1].b: ")
    assert "signed 64-bit range" in caught.value.message


@pytest.mark.parametrize(("value", "kept", "canonical"), [
    (1, 1, True), (1.0, 1, False), (-0.0, 0, False), (0.5, 0.5, True),
    (numbers.INT_MAX, numbers.INT_MAX, True), (numbers.INT_MIN, numbers.INT_MIN, True),
    (numbers.INT_MAX + 1, None, False), (1e19, None, False), (float("inf"), None, False),
    (True, True, True), ("7", "7", True),
])
def test_canonical_numbers(value: Any, kept: Any, canonical: bool) -> None:
    assert numbers.is_canonical(value) is canonical
    if numbers.is_number(value) and kept is not None:
        assert numbers.canonical(value) == kept and type(numbers.canonical(value)) is type(kept)
    elif numbers.is_number(value) and value != float("inf"):
        with pytest.raises(numbers.NumberOutOfRange):
            numbers.canonical(value)


@pytest.mark.parametrize(("literal", "kept"), [("700.0", "700"), ("1e3", "1000"),
                                               ("1e19", None)])
def test_seed_files_follow_the_number_model(tmp_path: Path, literal: str,
                                            kept: str | None) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(f'[{{"id": "1", "name": "n", '
                    f'"engagedParty": {{"id": "1", "@referredType": "Organization"}}, '
                    f'"creditProfile": [{{"creditProfileDate": "2024-01-01T00:00:00Z", '
                    f'"validFor": {{}}, "creditScore": {literal}}}]}}]', encoding="utf-8")
    if kept is None:
        with pytest.raises(SeedError, match=r"\$\[0\]\.creditProfile\[0\]\.creditScore: "):
            read_seed(seed)
        return
    assert json.dumps(read_seed(seed)[0]["creditProfile"][0]["creditScore"]) == kept


# -- real processes on every backend ----------------------------------------------------


def literal_tree(text: str) -> Any:
    """An answer with every number kept as its text, ``("#", text)``: equal trees spell
    every value alike (member order aside: PostgreSQL's JSONB orders members its own way)."""
    return json.loads(text, parse_int=lambda s: ("#", s), parse_float=lambda s: ("#", s))


@cache
def swagger_validator(definition: str) -> Draft4Validator:
    """The published v4 swagger's definition (Swagger 2.0 schemas are draft 4, where
    ``1.0`` is not an ``integer``)."""
    document = json.loads(SWAGGER.read_text(encoding="utf-8"))
    return Draft4Validator({"$ref": f"#/definitions/{definition}",
                            "definitions": document["definitions"]})


def assert_swagger_customer(text: str) -> None:
    errors = [e.message for e in swagger_validator("Customer").iter_errors(json.loads(text))]
    assert errors == [], text


PROFILE = {"creditProfileDate": "2024-01-01T00:00:00Z",
           "validFor": {"startDateTime": "2024-01-01T00:00:00Z"}, "creditRiskRating": 1}
HOLE = '"@NUMBER@"'


def with_number(template: Any, literal: str) -> bytes:
    """``template`` as JSON text, its ``"@NUMBER@"`` replaced by ``literal`` as sent."""
    text = json.dumps(template)
    assert text.count(HOLE) == 1
    return text.replace(HOLE, literal).encode()


def customer(case: Number, value: Any) -> dict[str, Any]:
    if case.typed:
        return {**MINIMAL, "creditProfile": [{**PROFILE, "creditScore": value}]}
    return {**MINIMAL, "characteristic": [{"name": "v", "value": value}]}


def value_of(tree: Any, case: Number) -> Any:
    if case.typed:
        return tree["creditProfile"][0]["creditScore"]
    return tree["characteristic"][0]["value"]


#: How each write puts the number in: (name, media type, body template; None: POST).
WRITES: list[tuple[str, str | None, Callable[[Number], Any]]] = [
    ("create", None, lambda case: customer(case, "@NUMBER@")),
    ("merge patch", MERGE, lambda case: {k: v for k, v in customer(case, "@NUMBER@").items()
                                         if k in ("creditProfile", "characteristic")}),
    ("json patch", JSON_PATCH, lambda case: [{
        "op": "replace", "value": "@NUMBER@", "path": "/creditProfile/0/creditScore"
        if case.typed else "/characteristic/0/value"}]),
    ("json patch query", QUERY_PATCH, lambda case: [{
        "op": "replace", "value": "@NUMBER@", "path": "/creditProfile/creditScore?"
        "creditRiskRating=1" if case.typed else "/characteristic/value?name=v"}]),
]


@dataclass
class Written:
    case: Number
    how: str
    ident: str
    answer: str


class Server:
    """One sandbox process after another on the same store."""

    def __init__(self, store: str) -> None:
        self.store = store
        self.process: SandboxProcess | None = None

    def start(self) -> str:
        self.process = SandboxProcess(db=self.store, extra_args=[
            "--no-seed", "--quiet", "--public-url", "http://sandbox.example"])  # stable hrefs
        return self.process.start().url.rstrip("/")

    def kill_9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@pytest.fixture
def server(store_url: str) -> Iterator[Server]:
    running = Server(store_url)
    yield running
    running.stop()


def send(api: str, method: str, path: str, body: bytes,
         media_type: str = "application/json") -> requests.Response:
    return requests.request(method, f"{api}{path}", data=body, timeout=30,
                            headers={"Content-Type": media_type})


def write_every_case(api: str) -> list[Written]:
    written = []
    for case in NUMBERS:
        for how, media_type, template in WRITES:
            body = with_number(template(case), case.sent)
            if media_type is None:
                answer = send(api, "POST", "/customer", body)
                assert answer.status_code == 201, answer.text
            else:
                base = send(api, "POST", "/customer", json.dumps(customer(case, 42)).encode())
                assert base.status_code == 201, base.text
                answer = send(api, "PATCH", f"/customer/{base.json()['id']}", body, media_type)
                assert answer.status_code == 200, answer.text
            assert value_of(literal_tree(answer.text), case) == ("#", case.shown), (how, case)
            written.append(Written(case, how, answer.json()["id"], answer.text))
    return written


def refuse_every_out_of_range_number(api: str, untouched: str) -> None:
    for case in REFUSED:
        path = "$.creditProfile[0].creditScore" if case.typed else "$.characteristic[0].value"
        for how, media_type, template in WRITES:
            body = with_number(template(case), case.sent)
            if media_type is None:
                answer = send(api, "POST", "/customer", body)
            else:
                answer = send(api, "PATCH", f"/customer/{untouched}", body, media_type)
            where = path if how in ("create", "merge patch") else "$[0].value"
            assert answer.status_code == 400, (how, case, answer.text)
            error = answer.json()
            assert error["@type"] == "Error" and error["reason"] == "Number out of range"
            assert error["message"].startswith(f"{where}: "), (how, case, error)
    fraction = send(api, "PATCH", f"/customer/{untouched}",
                    with_number(WRITES[1][2](NUMBERS[0]), "1.5"), MERGE)
    assert fraction.status_code == 400 and "is not of type 'integer'" in fraction.text


def filter_oracle(written: list[Written], typed: bool, op: str, text: str) -> set[str]:
    """The customers a filter must find, judged by exact decimal arithmetic."""
    bound = Decimal(text)
    compare = {"eq": Decimal.__eq__, "gt": Decimal.__gt__, "lt": Decimal.__lt__,
               "gte": Decimal.__ge__}[op]
    return {w.ident for w in written
            if w.case.typed == typed and compare(Decimal(w.case.shown), bound)}


def filters() -> list[tuple[bool, str, str]]:
    found: list[tuple[bool, str, str]] = []
    for case in NUMBERS:
        found.append((case.typed, "eq", case.shown))
        found.append((case.typed, "eq", case.sent))
    for typed in (True, False):
        found += [(typed, "gt", "0"), (typed, "lt", "1"), (typed, "gte", "0.1"),
                  (typed, "eq", "123456789012345678901234567890"), (typed, "lt", "-1e300")]
    return found


def test_numbers_survive_kill_9_exactly_on_every_backend(server: Server) -> None:
    api = server.start()
    written = write_every_case(api)
    seven = Number("7", "7", True)
    untouched = send(api, "POST", "/customer", json.dumps(customer(seven, 7)).encode())
    written.append(Written(seven, "untouched", untouched.json()["id"], untouched.text))
    refuse_every_out_of_range_number(api, untouched.json()["id"])
    server.kill_9()

    api = server.start()
    for record in written:
        again = requests.get(f"{api}/customer/{record.ident}", timeout=30)
        assert again.status_code == 200
        if not server.store.startswith("postgresql"):
            assert again.text == record.answer, (record.how, record.case)
        assert literal_tree(again.text) == literal_tree(record.answer), (record.how, record.case)
        assert_swagger_customer(again.text)
        assert_swagger_customer(record.answer)
    listed = requests.get(f"{api}/customer", params={"limit": 1000}, timeout=30)
    assert int(listed.headers["X-Total-Count"]) == len(written)  # nothing refused was stored

    for typed, op, text in filters():
        attribute = "creditProfile.creditScore" if typed else "characteristic.value"
        name = attribute if op == "eq" else f"{attribute}.{op}"
        found = requests.get(f"{api}/customer", params={name: text, "fields": "id",
                                                        "limit": 1000}, timeout=30)
        assert found.status_code == 200, found.text
        assert {c["id"] for c in found.json()} == filter_oracle(written, typed, op, text), (
            name, text)
