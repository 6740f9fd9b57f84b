"""The console's sign-in is a server-side session: the cookie holds a random id, never a
key or the admin token, and sign-out or deleting the tenant ends it. Sessions as a unit
(a fake clock), then real hosted ``tmf629-sandbox`` processes over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sandbox.api.console import COOKIE
from sandbox.hosting.sessions import MemorySessions, Session
from tests.hosting_support import ACME_KEY, ADMIN_TOKEN, Hosted, hosted_sandbox


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_when_left_unused() -> None:
    clock = Clock()
    kept = MemorySessions(idle_seconds=60, most=10, clock=clock)
    ident = kept.start(Session("acme", "d" * 64))
    clock.now = 59
    assert kept.find(ident) == Session("acme", "d" * 64)  # use restarts the idle clock
    clock.now = 118
    assert kept.find(ident) is not None
    clock.now = 178
    assert kept.find(ident) is None and len(kept) == 0


def test_sessions_are_bounded_and_the_least_recently_used_goes_first() -> None:
    kept = MemorySessions(idle_seconds=60, most=3, clock=Clock())
    first, second, third = (kept.start(Session(f"t{n}", None)) for n in range(3))
    assert kept.find(first) is not None  # now second is the least recently used
    fourth = kept.start(Session())
    assert len(kept) == 3 and kept.find(second) is None
    assert all(kept.find(i) is not None for i in (first, third, fourth))


def test_session_ids_are_random_and_kept_only_as_digests() -> None:
    kept = MemorySessions(idle_seconds=60, most=100)
    ids = {kept.start(Session()) for _ in range(50)}
    assert len(ids) == 50 and all(len(i) >= 43 for i in ids)
    assert not ids & set(kept._sessions)  # a memory dump holds no usable cookie
    some = ids.pop()
    kept.end(some)
    kept.end(some)  # twice, or an unknown id: nothing happens
    assert kept.find(some) is None and len(kept) == 49


# -- real processes -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosted]:
    yield from hosted_sandbox(tmp_path_factory.mktemp("sessions"))


def sign_in(hosted: Hosted, secret: str) -> requests.Response:
    return requests.post(f"{hosted.root}/console/login", data={"key": secret},
                         allow_redirects=False, timeout=10)


def visit(hosted: Hosted, cookie: str, page: str = "/console/") -> requests.Response:
    return requests.get(f"{hosted.root}{page}", cookies={COOKIE: cookie},
                        allow_redirects=False, timeout=10)


def sent_back_to_sign_in(response: requests.Response) -> bool:
    return response.status_code == 302 and response.headers["Location"].endswith(
        "/console/login")


@pytest.mark.parametrize("secret", [ACME_KEY, ADMIN_TOKEN], ids=["partner", "operator"])
def test_the_cookie_holds_a_session_id_never_the_secret(hosted: Hosted, secret: str) -> None:
    response = sign_in(hosted, secret)
    assert response.status_code == 302
    header = response.headers["Set-Cookie"]
    ident = response.cookies[COOKIE]
    assert secret not in header and secret not in ident and len(ident) >= 43
    flags = {part.strip().lower() for part in header.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/console"} <= flags
    assert "secure" not in flags  # plain http, no https public URL
    assert sign_in(hosted, secret).cookies[COOKIE] != ident  # a new id every sign-in
    page = visit(hosted, ident)
    assert page.status_code == 200 and "Sign out" in page.text


def test_a_key_as_the_cookie_opens_nothing(hosted: Hosted) -> None:
    for secret in (ACME_KEY, ADMIN_TOKEN):
        assert sent_back_to_sign_in(visit(hosted, secret))


def test_a_wrong_key_starts_no_session(hosted: Hosted) -> None:
    response = sign_in(hosted, "wrong-key-0123456789abcdef")
    assert response.status_code == 401 and COOKIE not in response.cookies


@pytest.mark.parametrize("secret", [ACME_KEY, ADMIN_TOKEN], ids=["partner", "operator"])
def test_signing_out_ends_the_session(hosted: Hosted, secret: str) -> None:
    ident = sign_in(hosted, secret).cookies[COOKIE]
    assert visit(hosted, ident, "/console/journal").status_code == 200
    out = requests.post(f"{hosted.root}/console/logout", cookies={COOKIE: ident},
                        allow_redirects=False, timeout=10)
    assert sent_back_to_sign_in(out)
    assert COOKIE in out.headers["Set-Cookie"] and "Max-Age=0" in out.headers["Set-Cookie"]
    assert sent_back_to_sign_in(visit(hosted, ident, "/console/journal"))


def test_deleting_the_tenant_ends_its_sessions(hosted: Hosted) -> None:
    admin = hosted.admin()
    made = admin.post(f"{hosted.root}/admin/tenants", json={"name": "initech"}, timeout=10)
    assert made.status_code == 201
    (key,) = made.json()["apiKeys"]
    ident = sign_in(hosted, key).cookies[COOKIE]
    assert visit(hosted, ident).status_code == 200
    assert admin.delete(f"{hosted.root}/admin/tenants/initech", timeout=60).status_code == 204
    assert sent_back_to_sign_in(visit(hosted, ident))
    # A new tenant of the same name (with its own key) is not the session's either.
    assert admin.post(f"{hosted.root}/admin/tenants", json={"name": "initech"},
                      timeout=10).status_code == 201
    assert sent_back_to_sign_in(visit(hosted, ident))
    assert admin.delete(f"{hosted.root}/admin/tenants/initech", timeout=60).status_code == 204


def test_the_cookie_is_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    for published in hosted_sandbox(tmp_path, "--public-url", "https://sandbox.example.com"):
        response = sign_in(published, ACME_KEY)
        assert response.status_code == 302
        flags = {p.strip().lower() for p in response.headers["Set-Cookie"].split(";")[1:]}
        assert {"secure", "httponly", "samesite=strict"} <= flags
