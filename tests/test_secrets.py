"""Credentials are never logged nor kept in clear: the masking rule as tables, then a real
hosted ``tmf629-sandbox`` (request log on) whose log and journal are searched for them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ctk_runner.embedded import SandboxProcess
from sandbox.api.console import COOKIE
from sandbox.hosting.secrets import (
    is_secret_parameter,
    mask,
    masked_headers,
    masked_query,
    masked_url,
)
from tests.conftest import wait_until
from tests.hosting_support import ACME_KEY, ADMIN_TOKEN, TENANTS, Hosted


@pytest.mark.parametrize("name", [
    "api_key", "API_KEY", "apikey", "ApiKey", "api-key", "key", "Key", "token", "TOKEN",
    "access_token", "refresh_token", "password", "passwd", "secret", "client_secret",
    "signature", "sig", "X-Amz-Security-Token", "X-Goog-Signature", "subscription-key",
    "hub.secret", "api%5Fkey", "api%5fKEY", "to%6Ben", "code", "session",
])
def test_credential_parameters(name: str) -> None:
    assert is_secret_parameter(name)


@pytest.mark.parametrize("name", [
    "name", "status", "fields", "limit", "offset", "sort", "name.regex", "engagedParty.id",
    "contactMedium.mediumType", "keyword", "monkey_business", "tokens_count", "",
])
def test_ordinary_parameters(name: str) -> None:
    assert not is_secret_parameter(name)


@pytest.mark.parametrize("query, shown", [
    ("", ""),
    ("name=Zed", "name=Zed"),
    ("api_key=s3cr3t", "api_key=***"),
    ("name=Zed&api_key=s3cr3t&TOKEN=t0k&limit=2", "name=Zed&api_key=***&TOKEN=***&limit=2"),
    ("api%5Fkey=s3cr3t%2F%3D", "api%5Fkey=***"),
    ("token=a=b=c", "token=***"),
    ("token", "token"),  # no value, nothing to hide
    ("key=&sig=x", "key=***&sig=***"),
    ("name=api_key%3Ds3cr3t", "name=api_key%3Ds3cr3t"),  # a value is never a name
])
def test_query_values_of_credentials_are_masked(query: str, shown: str) -> None:
    assert masked_query(query) == shown


@pytest.mark.parametrize("url, shown", [
    ("http://h:8/tmf-api/x/customer?api_key=s3cr3t&name=a",
     "http://h:8/tmf-api/x/customer?api_key=***&name=a"),
    ("http://h/x", "http://h/x"),
    ("https://bob:pa55@h/x?sig=1", "https://***@h/x?sig=***"),
])
def test_urls_keep_everything_but_credentials(url: str, shown: str) -> None:
    assert masked_url(url) == shown


@pytest.mark.parametrize("value, shown", [
    ("Bearer abcdefghijklmnopqrstuvwx", "Bearer ***"), ("Basic dXNlcjpwdw==", "Basic ***"),
    ("abcdefghijklmnopqrstuvwx", "***"), ("", "***"),
])
def test_credential_headers_are_masked(value: str, shown: str) -> None:
    assert mask(value) == shown
    assert masked_headers([("Authorization", value), ("X-API-Key", value),
                           ("Accept", "a/b")]) == {
        "Authorization": shown, "X-API-Key": mask(value), "Accept": "a/b"}


# -- a real process ------------------------------------------------------------------------

SECRETS = {"api_key": "query-api-key-5c1d9e", "token": "query-token-8b2f4a",
           "access_token": "query-access-7e3c1b", "client_secret": "query-client-2d8f6e",
           "password": "query-password-9a4b3c", "sig": "query-sig-6f1e0d",
           "X-Amz-Security-Token": "query-amz-3b7a2c"}


@pytest.fixture(scope="module")
def loud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosted]:
    """A hosted sandbox that logs every request (no ``--quiet``)."""
    directory = tmp_path_factory.mktemp("secrets")
    tenants = directory / "tenants.json"
    tenants.write_text(json.dumps(TENANTS), encoding="utf-8")
    with SandboxProcess(db=Path(directory) / "db.json", command=["tmf629-sandbox"],
                        extra_args=["--tenants", str(tenants), "--admin-token",
                                    ADMIN_TOKEN]) as process:
        api = process.url.rstrip("/")
        yield Hosted(process, api.split("/tmf-api/")[0], api)


def secret_query() -> str:
    return "&".join(f"{name}={value}" for name, value in SECRETS.items())


def test_credentials_in_the_query_never_reach_the_log_or_the_journal(loud: Hosted) -> None:
    # A key sent in the query is refused, and its refusal logged...
    refused = requests.get(f"{loud.api}/customer?name=Zed&api_key={ACME_KEY}", timeout=10)
    assert refused.status_code == 401
    # ... as is every credential-like parameter of an accepted request.
    tenant = loud.as_tenant(ACME_KEY)
    accepted = tenant.get(f"{loud.api}/customer?name=Zed&{secret_query()}", timeout=10)
    assert accepted.status_code == 200
    encoded = tenant.prepare_request(requests.Request("GET", f"{loud.api}/customer"))
    encoded.url = f"{loud.api}/customer?api%5Fkey=encoded-name-4d2c"  # as sent: requests
    assert tenant.send(encoded, timeout=10).status_code == 200  # would decode the name
    login = requests.post(f"{loud.root}/console/login", data={"key": ACME_KEY},
                          allow_redirects=False, timeout=10)
    session = login.cookies[COOKIE]
    assert requests.get(f"{loud.root}/console/journal", cookies={COOKIE: session},
                        timeout=10).status_code == 200
    journal = loud.admin().get(f"{loud.root}/admin/tenants/acme/journal", timeout=10)
    assert journal.status_code == 200
    marker = "/console/journal"  # the last request logged: every line before it is written
    assert wait_until(lambda: any(marker in line for line in loud.process.output))

    hidden = [ACME_KEY, ADMIN_TOKEN, session, "encoded-name-4d2c", *SECRETS.values()]
    log = "".join(loud.process.output)
    assert [s for s in hidden if s in log] == []
    assert "?name=Zed&api_key=***" in log  # the lines are there, masked
    assert "api%5Fkey=***" in log and "X-Amz-Security-Token=***" in log
    assert [s for s in hidden if s in journal.text] == []
    urls = [entry["url"] for entry in journal.json()]
    assert any("name=Zed&api_key=***&token=***" in url for url in urls), urls
