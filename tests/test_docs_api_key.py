"""The served API description declares the tenant key where one is needed (issue 21).

A hosted sandbox answers nothing without a key, so its document carries an
``apiKey`` scheme applied to every operation (Swagger UI's Authorize); an open
sandbox needs no key and declares none. Real processes, real HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV2SpecValidator

from ctk_runner.embedded import SandboxProcess
from tests.hosting_support import ACME_KEY, Hosted, hosted_sandbox

METHODS = {"get", "post", "patch", "delete", "put"}


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosted]:
    yield from hosted_sandbox(tmp_path_factory.mktemp("docs-key"))


def operations(document: dict[str, object]) -> list[dict[str, object]]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return [op for item in paths.values() for method, op in item.items() if method in METHODS]


def test_a_hosted_document_declares_the_key_on_every_operation(hosted: Hosted) -> None:
    document = requests.get(f"{hosted.api}/api-docs", timeout=10).json()
    validate(document, cls=OpenAPIV2SpecValidator)
    schemes = document["securityDefinitions"]
    assert len(schemes) == 1
    (name, scheme), = schemes.items()
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    found = operations(document)
    assert len(found) >= 5 and all(op["security"] == [{name: []}] for op in found)
    # the declared header is the one the server reads: with it a list answers, without a 401
    url = f"{hosted.api}/customer"
    assert requests.get(url, headers={scheme["name"]: ACME_KEY}, timeout=10).status_code == 200
    assert requests.get(url, timeout=10).status_code == 401


def test_an_open_document_declares_no_key(tmp_path: Path) -> None:
    with SandboxProcess(db=tmp_path / "db.json", extra_args=["--quiet"]) as sandbox:
        document = requests.get(f"{sandbox.url.rstrip('/')}/api-docs", timeout=10).json()
    assert "securityDefinitions" not in document
    assert not any("security" in op for op in operations(document))
