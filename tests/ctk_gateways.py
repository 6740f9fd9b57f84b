"""What stands between the harness and a real deployment, as local stand-ins.

WSGI wrappers around :class:`ctk_faults.StandIn`: :class:`Gateway` (an OAuth2
token endpoint plus an API gateway that demands the bearer token, with tokens
that expire or get revoked, or Basic credentials), :class:`Throttle` (429 or
503 with ``Retry-After``, then the answer), :class:`Slow` (a delay or a hang on
chosen requests), and :func:`make_pki` / :func:`serve_mtls` for a server that
requires a client certificate signed by a test CA.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

try:
    import ctk_faults
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests import ctk_faults  # type: ignore[no-redef]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
Match = Callable[[Environ], bool]

TOKEN_PATH = "/oauth/token"


def _json(start_response: StartResponse, status: str, body: str,
          headers: list[tuple[str, str]] | None = None) -> Iterable[bytes]:
    data = body.encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data))), *(headers or [])])
    return [data]


@dataclass
class Gateway:
    """A token endpoint and a gateway in front of ``app``.

    ``mode`` "oauth2": the token endpoint takes client credentials (HTTP Basic)
    and issues tokens living ``expires_in`` seconds, each revoked after
    ``revoke_after`` uses; the gateway answers 401 to a missing, unknown,
    expired or revoked token. "bearer": one fixed token. "basic": user and
    password. ``echo`` copies the Authorization header into a response header,
    as careless gateways do, to prove the reports mask it.
    """

    app: WSGIApp
    mode: str = "oauth2"
    client_id: str = "ctk-client"
    secret: str = "s3cr3t-client-secret"
    user: str = "tester"
    expires_in: float = 3600
    revoke_after: int | None = None
    echo: bool = False
    #: Seconds a token outlives its announced lifetime (clock skew).
    grace: float = 0.5
    issued: dict[str, float] = field(default_factory=dict)
    uses: dict[str, int] = field(default_factory=dict)
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == TOKEN_PATH:
            return self._token(environ, start_response)
        presented = environ.get("HTTP_AUTHORIZATION", "")
        problem = self._check(presented)
        if problem:
            self.refused.append(problem)
            return _json(start_response, "401 Unauthorized",
                         json.dumps({"code": "401", "reason": "Unauthorized",
                                     "message": problem}),
                         [("WWW-Authenticate", f'Bearer error="invalid_token", '
                           f'error_description="{problem}"')])
        extra = [("X-Echo-Authorization", presented)] if self.echo else []

        def respond(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            return start_response(status, [*headers, *extra], *args)

        return self.app(environ, respond)

    def _check(self, presented: str) -> str | None:
        if self.mode == "basic":
            expected = base64.b64encode(f"{self.user}:{self.secret}".encode()).decode()
            return None if presented == f"Basic {expected}" else "bad credentials"
        if self.mode == "bearer":
            return None if presented == f"Bearer {self.secret}" else "bad token"
        token = presented.removeprefix("Bearer ")
        if token not in self.issued:
            return "unknown token"
        if time.monotonic() > self.issued[token] + self.expires_in + self.grace:
            return "token expired"
        self.uses[token] = self.uses.get(token, 0) + 1
        if self.revoke_after is not None and self.uses[token] > self.revoke_after:
            return "token revoked"
        return None

    def _token(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = parse_qs(environ["wsgi.input"].read(length).decode())
        self.token_requests.append(form)
        expected = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        if environ.get("HTTP_AUTHORIZATION") != f"Basic {expected}":
            return _json(start_response, "401 Unauthorized",
                         '{"error": "invalid_client", "error_description": "unknown client"}')
        if form.get("grant_type") != ["client_credentials"]:
            return _json(start_response, "400 Bad Request", '{"error": "unsupported_grant_type"}')
        token = "tok-" + uuid.uuid4().hex
        self.issued[token] = time.monotonic()
        return _json(start_response, "200 OK", json.dumps(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}))


@dataclass
class Throttle:
    """Answers ``status`` with ``retry_after`` to the first ``times`` hits of each match."""

    app: WSGIApp
    match: Match
    status: str = "429 Too Many Requests"
    retry_after: str | None = "1"
    times: int = 1
    hits: dict[str, int] = field(default_factory=dict)
    #: (path, monotonic time, throttled?) of every matching request.
    seen: list[tuple[str, float, bool]] = field(default_factory=list)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if not self.match(environ):
            return self.app(environ, start_response)
        key = environ["REQUEST_METHOD"] + " " + environ.get("PATH_INFO", "")
        self.hits[key] = self.hits.get(key, 0) + 1
        throttled = self.hits[key] <= self.times
        self.seen.append((key, time.monotonic(), throttled))
        if not throttled:
            return self.app(environ, start_response)
        headers = [("Retry-After", self.retry_after)] if self.retry_after is not None else []
        return _json(start_response, self.status, '{"code": "429", "reason": "slow down"}',
                     headers)


@dataclass
class Slow:
    """Delays matching requests by ``delay`` seconds; ``hang``: until :meth:`release`."""

    app: WSGIApp
    match: Match
    delay: float = 0.0
    hang: bool = False
    released: threading.Event = field(default_factory=threading.Event)
    started: list[float] = field(default_factory=list)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        self.started.append(time.monotonic())
        if self.match(environ):
            if self.hang:
                self.released.wait(30)
            elif self.delay:
                time.sleep(self.delay)
        return self.app(environ, start_response)

    def release(self) -> None:
        self.released.set()


@dataclass
class Reset:
    """Drops the connection, unanswered, on the first request that ``match``es."""

    app: WSGIApp
    match: Match
    done: bool = False

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self.done or not self.match(environ):
            return self.app(environ, start_response)
        self.done = True
        # The server's file objects keep the descriptor open; shutdown cuts it for both.
        environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
        start_response("500 Internal Server Error", [])
        return []


def request_is(method: str, suffix: str = "", query: str = "") -> Match:
    """A match on the method, the end of the path and the start of the query string."""
    def match(environ: Environ) -> bool:
        return (environ["REQUEST_METHOD"] == method
                and environ.get("PATH_INFO", "").endswith(suffix)
                and environ.get("QUERY_STRING", "").startswith(query))
    return match


def nth_read(n: int) -> Match:
    """Matches the n-th GET of one customer (1: request 4 ``{{IDCU01}}``, 2: request 5)."""
    seen: list[bool] = []

    def match(environ: Environ) -> bool:
        path = environ.get("PATH_INFO", "")
        if environ["REQUEST_METHOD"] != "GET" or not re.search(r"/customer/[0-9a-f-]{36}$", path):
            return False
        seen.append(True)
        return len(seen) == n

    return match


# -- a test PKI and a server that requires client certificates ------------------------


@dataclass(frozen=True)
class PKI:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_client_cert: Path
    other_client_key: Path


def make_pki(directory: Path) -> PKI:
    """A CA, a server certificate for 127.0.0.1, a client certificate, and a stranger's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def issue(subject: str, issuer: Any, issuer_key: Any, key: Any, *, ca: bool = False,
              server: bool = False) -> Any:
        builder = (x509.CertificateBuilder().subject_name(name(subject))
                   .issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            builder = builder.add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        elif not ca:
            builder = builder.add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def write(stem: str, cert: Any, key: Any) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_path, key_path

    ca_key, other_ca_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca = issue("ctk test CA", name("ctk test CA"), ca_key, ca_key, ca=True)
    other_ca = issue("someone else's CA", name("someone else's CA"), other_ca_key,
                     other_ca_key, ca=True)
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    ca_path, _ = write("ca", ca, ca_key)
    server = write("server", issue("127.0.0.1", ca.subject, ca_key, keys[0], server=True),
                   keys[0])
    client = write("client", issue("ctk client", ca.subject, ca_key, keys[1]), keys[1])
    other = write("other", issue("stranger", other_ca.subject, other_ca_key, keys[2]), keys[2])
    return PKI(ca_path, *server, *client, *other)


@contextlib.contextmanager
def serve_mtls(app: WSGIApp, pki: PKI) -> Iterator[str]:
    """Serve ``app`` over HTTPS, requiring a client certificate signed by ``pki.ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.load_verify_locations(pki.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    with ctk_faults.serve(app, tls=context) as url:
        yield url
