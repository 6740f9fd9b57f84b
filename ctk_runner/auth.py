"""Credentials a gateway accepts: bearer, basic, OAuth2 client credentials; and masking.

``--auth`` names a scheme; the secret itself never comes from the command line
or the config file (both end up in shell histories and CI logs) except for
``bearer:<token>``, which is allowed for quick trials. Otherwise it is read
from an environment variable (``--secret-env``, defaults in
:data:`SECRET_ENV_DEFAULTS`).

For ``oauth2-client-credentials`` the token is fetched from ``--token-url``
(RFC 6749 section 4.4, client authenticated with HTTP Basic as section 2.3.1
asks every server to support) once, then again shortly before it expires and
whenever the target answers 401. :mod:`oauthlib` builds the request body and
parses the answer, including the RFC's error responses.

Every secret, every fetched token and every derived ``Authorization`` value
is registered in :class:`Secrets`, which the reports and the console run
through before anything is written.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import requests
from oauthlib.oauth2 import BackendApplicationClient, OAuth2Error

Scheme = Literal["bearer", "basic", "oauth2-client-credentials"]
SCHEMES: tuple[Scheme, ...] = ("bearer", "basic", "oauth2-client-credentials")
MASK = "***"

SECRET_ENV_DEFAULTS: dict[Scheme, str] = {
    "bearer": "CTK_BEARER_TOKEN",
    "basic": "CTK_BASIC_PASSWORD",
    "oauth2-client-credentials": "CTK_CLIENT_SECRET",
}

#: Header names whose values are credentials (``--header``, the kit config's ``headers``).
SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|api[-_]?key|password", re.I)

#: Refresh this long before a token's announced expiry (at most a tenth of its lifetime).
REFRESH_MARGIN = 30.0


class AuthProblem(requests.exceptions.RequestException):
    """The credentials could not be obtained; the message is one sentence."""


class Secrets:
    """Every secret of the run, and the one function that hides them in text."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        for value in values:
            self.add(value)

    def add(self, value: str | None) -> None:
        # Very short values would mask ordinary words; a real secret is longer.
        if value and len(value) >= 4:
            with self._lock:
                self._values.add(value)

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced, also in its JSON- and HTML-escaped forms."""
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            for form in {value, json.dumps(value)[1:-1], html.escape(value),
                         quote(value, safe="")}:
                if form in text:
                    text = text.replace(form, MASK)
        return text

    def add_header(self, name: str, value: str) -> None:
        """Register a credential header's value (and its part after ``Bearer``/``Basic``)."""
        if SECRET_HEADER.search(name):
            self.add(value.strip())
            self.add(value.strip().partition(" ")[2].strip())

    def __bool__(self) -> bool:
        return bool(self._values)


@dataclass(frozen=True)
class AuthSpec:
    """What ``--auth`` and its companions asked for (the secret already read)."""

    scheme: Scheme
    secret: str = field(repr=False)
    user: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    scope: str | None = None
    audience: str | None = None

    def describe(self) -> str:
        """A secret-free description for reports: ``oauth2-client-credentials (client x)``."""
        if self.scheme == "basic":
            return f"basic (user {self.user})"
        if self.scheme == "oauth2-client-credentials":
            return (f"oauth2-client-credentials (client {self.client_id}, "
                    f"token URL {self.token_url})")
        return "bearer"


def parse_auth(
    text: str,
    *,
    secret_env: str | None = None,
    token_url: str | None = None,
    client_id: str | None = None,
    scope: str | None = None,
    audience: str | None = None,
    environ: dict[str, str] | None = None,
) -> AuthSpec:
    """Read ``--auth SCHEME[:VALUE]``; raise ``ValueError`` with one sentence."""
    env = os.environ if environ is None else environ
    name, _, value = text.partition(":")
    scheme = name.strip().lower()
    if scheme not in SCHEMES:
        raise ValueError(f"--auth {name!r} is unknown; use bearer[:TOKEN], basic:USER or "
                         "oauth2-client-credentials")
    variable = secret_env or SECRET_ENV_DEFAULTS[scheme]
    if scheme == "bearer" and value:
        return AuthSpec("bearer", value)
    secret = env.get(variable, "")
    if not secret:
        what = {"bearer": "the bearer token", "basic": "the password",
                "oauth2-client-credentials": "the client secret"}[scheme]
        raise ValueError(f"--auth {scheme} needs {what} in the environment variable {variable}, "
                         "which is not set")
    if scheme == "bearer":
        return AuthSpec("bearer", secret)
    if scheme == "basic":
        if not value:
            raise ValueError("--auth basic needs the user name: --auth basic:USER")
        return AuthSpec("basic", secret, user=value)
    if not token_url or not client_id:
        raise ValueError("--auth oauth2-client-credentials needs --token-url and --client-id")
    if not token_url.startswith(("http://", "https://")):
        raise ValueError(f"the token URL {token_url!r} is not an http:// or https:// URL")
    return AuthSpec("oauth2-client-credentials", secret, token_url=token_url,
                    client_id=client_id, scope=scope, audience=audience)


class Authenticator(requests.auth.AuthBase):
    """Puts the ``Authorization`` header on each request; refreshes OAuth2 tokens."""

    def __init__(self, spec: AuthSpec, secrets: Secrets, *, timeout: float = 30.0,
                 verify: bool | str = True, cert: tuple[str, str] | str | None = None) -> None:
        self.spec = spec
        self.secrets = secrets
        self.timeout = timeout
        self.verify = verify
        self.cert = cert
        self.fetches = 0
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        secrets.add(spec.secret)
        if spec.scheme == "basic":
            secrets.add(self._basic_value())

    @property
    def refreshable(self) -> bool:
        return self.spec.scheme == "oauth2-client-credentials"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.header_value()
        return request

    def header_value(self) -> str:
        if self.spec.scheme == "basic":
            return "Basic " + self._basic_value()
        if self.spec.scheme == "bearer":
            return "Bearer " + self.spec.secret
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                self._fetch()
            assert self._token is not None
            return "Bearer " + self._token

    def refresh(self) -> bool:
        """Forget the token after a 401; True when a new one will be fetched."""
        if not self.refreshable:
            return False
        with self._lock:
            self._token = None
        return True

    def _basic_value(self) -> str:
        pair = f"{self.spec.user}:{self.spec.secret}".encode()
        return base64.b64encode(pair).decode("ascii")

    def _fetch(self) -> None:
        spec = self.spec
        assert spec.token_url is not None and spec.client_id is not None
        client = BackendApplicationClient(spec.client_id)
        extra: dict[str, Any] = {"audience": spec.audience} if spec.audience else {}
        body = client.prepare_request_body(scope=spec.scope.split() if spec.scope else None,
                                           include_client_id=False, **extra)
        try:
            with requests.Session() as session:
                session.trust_env = False
                reply = session.post(
                    spec.token_url, data=body, timeout=self.timeout, verify=self.verify,
                    cert=self.cert, allow_redirects=False,
                    auth=(spec.client_id, spec.secret),
                    headers={"Content-Type": "application/x-www-form-urlencoded",
                             "Accept": "application/json"})
        except requests.RequestException as exc:
            raise AuthProblem(f"the token endpoint {spec.token_url} could not be reached "
                              f"({type(exc).__name__})") from None
        try:
            token = client.parse_request_body_response(reply.text)
        except OAuth2Error as exc:
            reason = exc.error + (f": {exc.description}" if exc.description else "")
            raise AuthProblem(f"the token endpoint {spec.token_url} answered {reply.status_code} "
                              f"({self.secrets.mask(reason)})") from None
        except ValueError:
            raise AuthProblem(f"the token endpoint {spec.token_url} answered "
                              f"{reply.status_code} without a token") from None
        access = str(token.get("access_token") or "")
        if not access:
            raise AuthProblem(f"the token endpoint {spec.token_url} sent no access_token")
        self.secrets.add(access)
        self.fetches += 1
        self._token = access
        # oauthlib drops an expires_in of 0 ("already expired"), which matters here.
        lifetime = _seconds(token.get("expires_in", _raw_expiry(reply.text)))
        now = time.monotonic()
        self._expires = (now + lifetime - min(REFRESH_MARGIN, lifetime / 10)
                         if lifetime is not None else float("inf"))


def _raw_expiry(text: str) -> Any:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data.get("expires_in") if isinstance(data, dict) else None


def _seconds(value: Any) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None
