"""Which addresses a callback may target, so a hosted sandbox is no proxy inwards.

A callback URL must be an absolute ``http(s)`` URL. Where it may point depends
on the :class:`CallbackPolicy`:

* explicit networks (``--allow-callback-network CIDR``, repeatable; the word
  ``global`` stands for every publicly routable address): every address the
  host resolves to must lie in one of them;
* otherwise automatic: a sandbox listening on loopback only, without
  ``--public-url``, serves its own machine, so any target is fine; one
  listening on another interface, or published through a proxy
  (``--public-url``), refuses loopback, private, link-local, metadata and other
  non-public targets.

An IPv6 address that carries an IPv4 one (IPv4-mapped ``::ffff:a.b.c.d``,
IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``,
Teredo) is judged by the IPv4 address it embeds. Registration and delivery
read a URL's host the same way: a URL whose host ``urllib.parse`` and urllib3
(what ``requests`` sends with) would read differently
(``http://127.0.0.1\\@1.1.1.1/``) is refused.

The host is resolved and *every* address checked, at registration and again
before each delivery, since DNS may change in between. A delivery then connects
to an address it checked (:class:`PinnedAdapter`), never to whatever the name
resolves to a moment later: otherwise a DNS-rebinding host could answer a public
address to the check and a private one to the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import SplitResult, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool
from urllib3.exceptions import ConnectTimeoutError, LocationParseError
from urllib3.util import parse_url

from sandbox.errors import ApiError
from sandbox.events.watch import watch_connections

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

GLOBAL = "global"
MAX_URL_LENGTH = 2048
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class CallbackRefused(ValueError):
    """The callback points where this sandbox must not send requests."""


def parse_network(text: str) -> Network | str:
    """``10.0.0.0/8`` as a network, or the keyword ``global``; ValueError otherwise."""
    cleaned = text.strip()
    if cleaned.lower() == GLOBAL:
        return GLOBAL
    try:
        return ipaddress.ip_network(cleaned, strict=False)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a network like 10.0.0.0/8 or 2001:db8::/32 nor '{GLOBAL}'"
        ) from None


def is_loopback_host(host: str) -> bool:
    """Whether a bind host reaches this machine only (a name other than localhost: no)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address reaches (mapped, compatible, NAT64, 6to4, Teredo)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # IPv4-compatible ::a.b.c.d
        found.append(low32)
    if any(address in network for network in _NAT64):
        found.append(low32)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def category(address: Address) -> str | None:
    """Why ``address`` is not a public target, or None when it is one."""
    for inner in embedded_ipv4(address):
        why = category(inner)
        if why is not None:
            return f"{why} ({inner}) embedded in an IPv6 address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_private:
        return "a private address"
    if not address.is_global or address.is_multicast:
        return "not a publicly routable address"
    return None


@dataclass(frozen=True)
class CallbackPolicy:
    """``networks=None``: any target; otherwise the allowed networks (and ``global``)."""

    networks: tuple[Network | str, ...] | None
    #: Said in refusals, so an operator knows what to change.
    explanation: str = ""

    @property
    def allows_everything(self) -> bool:
        return self.networks is None

    def refusal(self, address: Address) -> str | None:
        """Why ``address`` is refused, or None when it is allowed."""
        if self.networks is None:
            return None
        # ::ffff:10.0.0.1 reaches 10.0.0.1: judge the IPv4 address it carries.
        embedded = embedded_ipv4(address)
        plain: Address = embedded[0] if len(embedded) == 1 else address
        for network in self.networks:
            if network == GLOBAL:
                if category(plain) is None:
                    return None
            elif not isinstance(network, str) and plain.version == network.version \
                    and plain in network:
                return None
        return category(plain) or "outside the allowed callback networks"

    def describe(self) -> str:
        if self.networks is None:
            return "any address"
        return ", ".join(str(n) for n in self.networks)


def policy_for(bind_host: str, networks: Sequence[str] | None,
               public_url: str | None = None) -> CallbackPolicy:
    """The policy of a sandbox bound to ``bind_host`` with ``--allow-callback-network``
    and ``--public-url``."""
    if networks:
        parsed = tuple(parse_network(n) for n in networks)
        described = ", ".join(str(n) for n in parsed)
        return CallbackPolicy(parsed, f"callbacks may only target {described}")
    if is_loopback_host(bind_host) and not public_url:
        return CallbackPolicy(None, "this sandbox listens on loopback only")
    where = f"is published as {public_url}" if public_url else f"listens on {bind_host}"
    return CallbackPolicy(
        (GLOBAL,),
        f"this sandbox {where}, so callbacks to loopback, private, link-local and "
        "metadata addresses are refused (allow networks with --allow-callback-network)",
    )


def callback_host(url: str) -> str:
    """The host of ``url``, when ``urllib.parse`` and urllib3 agree on it; else refused."""
    split = (urlsplit(url).hostname or "").lower()
    try:
        sent = (parse_url(url).host or "").lower().strip("[]")
    except LocationParseError:
        sent = ""
    if not split or split != sent:
        raise CallbackRefused(f"the host of the URL is ambiguous ({split!r} or {sent!r})")
    return split


def parse_callback(url: object) -> SplitResult:
    """Check that ``url`` is an absolute http(s) URL with a host; 400 otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise _bad("'callback' must be an absolute http:// or https:// URL")
    if len(url) > MAX_URL_LENGTH:
        raise _bad(f"'callback' is longer than {MAX_URL_LENGTH} characters")
    if any(char == "\\" or char.isspace() or not char.isprintable() for char in url.strip()):
        raise _bad("'callback' holds a backslash, a space or a control character")
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _bad(f"The callback {url!r} is not an absolute http:// or https:// URL")
    try:
        parts.port  # noqa: B018  (urlsplit checks the port only when asked)
    except ValueError:
        raise _bad(f"The callback {url!r} has an invalid port") from None
    try:
        callback_host(parts.geturl())
    except CallbackRefused as exc:
        raise _bad(f"The callback {url!r} is refused: {exc}") from None
    return parts


def default_port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme.lower() == "https" else 80)


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, preferred first (a literal resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # getaddrinfo sorts by preference (RFC 6724): the order says which to connect to first.
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_target(url: str, policy: CallbackPolicy, resolver: Resolver = resolve) -> None:
    """Raise :class:`CallbackRefused` unless every address of ``url``'s host is allowed."""
    if not policy.allows_everything:
        checked_addresses(url, policy, resolver)


def checked_addresses(url: str, policy: CallbackPolicy,
                      resolver: Resolver = resolve) -> list[str]:
    """The addresses of ``url``'s host in the resolver's order, once every one is allowed.

    Resolves even when the policy allows everything; raises :class:`CallbackRefused`
    when the host does not resolve or any address is refused.
    """
    parts = urlsplit(url)
    host = callback_host(url)
    try:
        addresses = list(resolver(host, default_port(parts)))
    except (OSError, UnicodeError) as exc:
        raise CallbackRefused(f"the host {host!r} cannot be resolved ({exc})") from None
    refused = list(_refused(addresses, policy))
    if refused or not addresses:
        shown = "; ".join(f"{address} is {why}" for address, why in refused) or "no address"
        raise CallbackRefused(f"{host} resolves to {shown}: {policy.explanation}")
    return addresses


# requests < 2.32.2 picks connections elsewhere: pinning would silently not happen.
_CAN_PIN = all(hasattr(HTTPAdapter, name) for name in
               ("get_connection_with_tls_context", "build_connection_pool_key_attributes"))


class PinnedAdapter(HTTPAdapter):
    """Sends each request to an address of its host checked against ``policy`` just before.

    Per request the host is resolved once with ``resolver``, every address is
    checked, and the connection goes to a checked address (the next one only when
    the previous could not be connected to, so nothing was sent). The host name
    still goes in ``Host``, in TLS SNI and in certificate verification. A policy
    that allows everything has nothing to protect: such requests go out unchanged.
    Proxies are never used: a proxy would resolve the name again itself.
    """

    def __init__(self, policy: CallbackPolicy, resolver: Resolver = resolve) -> None:
        super().__init__(max_retries=0)
        self.policy = policy
        self.resolver = resolver
        # Set only while a pinned send runs; a session (so an adapter) serves one thread.
        self._address: str | None = None

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        # The deliverers watch an attempt while its answer is awaited (events.watch).
        watch_connections(self.poolmanager)

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: Any = None, verify: bool | str = True, cert: Any = None,
             proxies: Mapping[str, str] | None = None) -> requests.Response:
        if self.policy.allows_everything:
            return super().send(request, stream, timeout, verify, cert, proxies)
        if not _CAN_PIN:
            raise CallbackRefused("requests>=2.32.2 is needed to connect only to checked "
                                  f"addresses (installed: {requests.__version__})")
        url = request.url or ""
        addresses = checked_addresses(url, self.policy, self.resolver)
        request.headers["Host"] = host_header(url)
        for index, address in enumerate(addresses):
            self._address = address
            try:
                # proxies=None: a proxy would resolve the name again itself.
                return super().send(request, stream, timeout, verify, cert, None)
            except requests.ConnectionError as exc:
                if index == len(addresses) - 1 or not _never_connected(exc):
                    raise
            finally:
                self._address = None
        raise AssertionError("checked_addresses returns at least one address")

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: bool | str | None,
        proxies: Mapping[str, str] | None = None, cert: Any = None,
    ) -> HTTPConnectionPool:
        if self._address is None:
            plain = super().get_connection_with_tls_context(request, verify, proxies, cert)
            return cast(HTTPConnectionPool, plain)
        host_params, key_kwargs = self.build_connection_pool_key_attributes(
            request, True if verify is None else verify, cert)
        pool_kwargs: dict[str, Any] = dict(key_kwargs)
        if host_params["scheme"] == "https":
            # The certificate names the host, not the address: SNI and verification use
            # the name (and the name is part of the pool key, so no pool is shared).
            pool_kwargs["server_hostname"] = host_params["host"]
        host_params["host"] = self._address
        pool = self.poolmanager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)
        return cast(HTTPConnectionPool, pool)


def pinned_session(policy: CallbackPolicy, resolver: Resolver = resolve) -> requests.Session:
    """A session whose requests reach only checked addresses, ignoring environment proxies."""
    session = requests.Session()
    session.trust_env = False  # no environment proxy may bypass the address check
    adapter = PinnedAdapter(policy, resolver)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def host_header(url: str) -> str:
    """The ``Host`` header for ``url``, as http.client writes it when it resolves the name."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    scheme_port = 443 if parts.scheme.lower() == "https" else 80
    return shown if parts.port in (None, scheme_port) else f"{shown}:{parts.port}"


def _never_connected(exc: requests.ConnectionError) -> bool:
    """Whether ``exc`` came before any connection (so nothing was sent and another
    address may be tried); urllib3's NewConnectionError is a ConnectTimeoutError too."""
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return isinstance(reason, ConnectTimeoutError)


def _refused(addresses: Iterable[str], policy: CallbackPolicy) -> Iterable[tuple[str, str]]:
    for text in addresses:
        # getaddrinfo gives "fe80::1%eth0" for scoped addresses.
        address = ipaddress.ip_address(text.split("%", 1)[0])
        why = policy.refusal(address)
        if why is not None:
            yield text, why


def _bad(message: str) -> ApiError:
    return ApiError(400, message, reason="Invalid callback")
