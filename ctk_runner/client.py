"""HTTP access to the target: one ``requests.Session`` for the whole run.

Every request the kit sends carries ``Accept`` and ``Content-Type:
application/json``; user headers (``--header``, the kit config's ``headers``)
are added on top, so an ``Authorization`` token reaches every request. Each
reply records its wall-clock time (headers *and* body, like Newman) and its
body size, and transport problems become a one-sentence ``error`` instead of
an exception, so a dead target is reported, not crashed on.

For real deployments the session also carries the run's credentials
(:mod:`ctk_runner.auth`: a 401 makes a refreshable token be fetched again and
the request sent once more), client certificate and CA bundle, and its
:mod:`~ctk_runner.pacing` (rate, 429/503 retries); ``observers`` see every
final reply (the clean-up records created customers there).

A body that starts with a UTF-8 byte order mark is read without it, as
Postman reads it (``Reply.bom`` keeps the fact for the strict profile).
:func:`same_origin` tells whether a URL names the target's host, so nothing
with the run's credentials goes anywhere else.
"""

from __future__ import annotations

import codecs
import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import InsecureRequestWarning

if TYPE_CHECKING:
    from ctk_runner.auth import Authenticator
    from ctk_runner.pacing import Pacing

KIT_HEADERS: dict[str, str] = {
    "Accept": "application/json",
    "Content-Type": "application/json",
}


@dataclass
class Reply:
    """What came back for one request (or why nothing did)."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str | None
    status: int | None = None
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""
    elapsed_ms: float = 0.0
    size: int = 0
    error: str | None = None
    #: The body started with a UTF-8 byte order mark (stripped from ``text``).
    bom: bool = False

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


class Client:
    """Sends the kit's requests with the run's headers, timeout and TLS policy."""

    def __init__(
        self,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float = 30.0,
        verify: bool | str = True,
        auth: Authenticator | None = None,
        cert: tuple[str, str] | str | None = None,
        pacing: Pacing | None = None,
        observers: Sequence[Callable[[Reply], None]] = (),
    ) -> None:
        self.timeout = timeout
        self.verify = verify
        self.auth = auth
        self.pacing = pacing
        self.observers = list(observers)
        self.session = requests.Session()
        # One pooled keep-alive connection per host for the whole run.
        self.session.auth = auth
        self.session.cert = cert
        # No environment proxies or .netrc: the target is what the user named.
        self.session.trust_env = False
        self.session.headers.clear()
        self.session.headers.update(KIT_HEADERS)
        self.session.headers.update(dict(headers or {}))

    def send(
        self,
        method: str,
        url: str,
        body: str | None = None,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        request_headers = {str(k): str(v) for k, v in self.session.headers.items()}
        request_headers.update(headers or {})
        if self.auth is not None:
            request_headers["Authorization"] = "***"
        attempt = 0
        refreshed = False
        while True:
            if self.pacing is not None:
                self.pacing.wait_turn()
            reply = self._send_once(method, url, body, timeout, headers, request_headers)
            if (reply.status == 401 and not refreshed and self.auth is not None
                    and self.auth.refresh()):
                refreshed = True  # an expired or revoked token: fetch one, try once more
                continue
            delay = None if self.pacing is None else self.pacing.retry_delay(
                method, url, reply.status, reply.header("Retry-After"), attempt)
            if delay is None:
                break
            assert self.pacing is not None
            self.pacing.sleep(delay)
            attempt += 1
        for observer in self.observers:
            observer(reply)
        return reply

    def _send_once(self, method: str, url: str, body: str | None, timeout: float | None,
                   headers: Mapping[str, str] | None,
                   request_headers: dict[str, str]) -> Reply:
        reply = Reply(method, url, dict(request_headers), body)
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                if not self.verify:
                    # --insecure is an explicit choice; one warning per request
                    # would drown the progress output.
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                response = self.session.request(
                    method,
                    url,
                    data=body.encode("utf-8") if body is not None else None,
                    timeout=timeout or self.timeout,
                    verify=self.verify,
                    headers=dict(headers) if headers else None,
                    allow_redirects=False,
                )
                content = response.content
        except requests.RequestException as exc:
            reply.elapsed_ms = (time.perf_counter() - started) * 1000.0
            reply.error = describe_error(exc, url, timeout or self.timeout)
            return reply
        reply.elapsed_ms = (time.perf_counter() - started) * 1000.0
        reply.status = response.status_code
        reply.reason = response.reason or ""
        reply.headers = dict(response.headers)
        reply.size = len(content)
        reply.bom = content.startswith(codecs.BOM_UTF8)
        if reply.bom:
            content = content[len(codecs.BOM_UTF8):]
        reply.text = content.decode(response.encoding or "utf-8", errors="replace")
        return reply

    def close(self) -> None:
        self.session.close()


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of an absolute URL, the default port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number names no origin we know
        return scheme, "\0invalid", None
    return scheme, (parts.hostname or "").lower(), port


def same_origin(url: str, target: str) -> bool:
    """Whether ``url`` names the target's scheme, host and port."""
    return origin(url) == origin(target)


def describe_error(exc: BaseException, url: str, timeout: float) -> str:
    """Turn a transport exception into one sentence a user can act on."""
    parts = urlsplit(url)
    where = parts.netloc or url
    text = _chain_text(exc)
    from ctk_runner.auth import AuthProblem

    if isinstance(exc, AuthProblem):
        return str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return (
            f"the TLS handshake with {where} failed ({_last_line(text)}); "
            "give the private CA with --ca-bundle, a client certificate with --cert/--key, "
            "or skip verification with --insecure"
        )
    if isinstance(exc, requests.Timeout):
        return f"{where} did not answer within {timeout:g} s"
    if isinstance(exc, requests.ConnectionError):
        lowered = text.lower()
        if "refused" in lowered:
            return f"nothing is listening at {where} (connection refused)"
        if "reset" in lowered or "aborted" in lowered or "without response" in lowered:
            return f"{where} closed the connection without answering (connection reset)"
        if any(s in lowered for s in ("name or service", "nodename", "resolve", "getaddrinfo")):
            return f"the host name {parts.hostname} could not be resolved"
        return f"could not connect to {where} ({_last_line(text)})"
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
        return f"{url} is not a valid URL"
    return f"the request to {url} failed ({_last_line(text)})"


def _chain_text(exc: BaseException) -> str:
    texts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(texts) < 6:
        texts.append(str(current))
        current = current.__cause__ or current.__context__
    return " | ".join(texts)


def _last_line(text: str) -> str:
    # urllib3 nests its reason in a long repr; the tail is the useful part.
    tail = text.split(" | ")[-1].strip() or text
    return tail if len(tail) <= 160 else tail[:157] + "..."


def decode_json(text: str) -> tuple[Any, str | None]:
    """Parse a response body; return ``(value, None)`` or ``(None, reason)``."""
    if not text.strip():
        return None, "the response body is empty"
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, f"the response body is not JSON ({exc})"
