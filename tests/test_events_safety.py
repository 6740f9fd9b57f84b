"""The callback address policy, as tables: no network, a fake resolver where needed."""

from __future__ import annotations

import ipaddress

import pytest

from sandbox.errors import ApiError
from sandbox.events.safety import (
    CallbackRefused,
    check_target,
    checked_addresses,
    host_header,
    is_loopback_host,
    parse_callback,
    parse_network,
    policy_for,
    resolve,
)

PUBLIC = policy_for("0.0.0.0", None)
LOCAL = policy_for("127.0.0.1", None)
LISTED = policy_for("0.0.0.0", ["10.1.0.0/16", "global"])
ONLY_NET = policy_for("127.0.0.1", ["192.168.7.0/24"])
LISTED_V6 = policy_for("0.0.0.0", ["2001:db8::/32", "global"])
PROXIED = policy_for("127.0.0.1", None, "https://sandbox.example.com")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("", False),
     ("10.0.0.5", False), ("sandbox.example.com", False)],
)
def test_loopback_bind_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("policy", "address", "refused"),
    [
        (LOCAL, "127.0.0.1", None),
        (LOCAL, "10.0.0.1", None),
        (PUBLIC, "93.184.216.34", None),
        (PUBLIC, "2606:2800:220:1::1", None),
        (PUBLIC, "127.0.0.1", "a loopback address"),
        (PUBLIC, "::1", "a loopback address"),
        (PUBLIC, "10.0.0.1", "a private address"),
        (PUBLIC, "172.16.5.4", "a private address"),
        (PUBLIC, "192.168.1.1", "a private address"),
        (PUBLIC, "fd00::1", "a private address"),
        (PUBLIC, "169.254.169.254", "a link-local address"),
        (PUBLIC, "fe80::1", "a link-local address"),
        (PUBLIC, "0.0.0.0", "the unspecified address"),
        (PUBLIC, "::ffff:10.0.0.1", "a private address"),
        (PUBLIC, "::ffff:127.0.0.1", "a loopback address"),
        (PUBLIC, "100.64.0.1", "not a publicly routable address"),
        (PUBLIC, "224.0.0.1", "not a publicly routable address"),
        (LISTED, "10.1.2.3", None),
        (LISTED, "93.184.216.34", None),
        (LISTED, "10.2.0.1", "a private address"),
        (LISTED, "127.0.0.1", "a loopback address"),
        (ONLY_NET, "192.168.7.9", None),
        (ONLY_NET, "93.184.216.34", "outside the allowed callback networks"),
        (ONLY_NET, "127.0.0.1", "a loopback address"),
        # Behind a proxy (--public-url) a loopback bind is no longer a private sandbox.
        (PROXIED, "169.254.169.254", "a link-local address"),
        (PROXIED, "10.0.0.1", "a private address"),
        (PROXIED, "192.168.1.1", "a private address"),
        (PROXIED, "93.184.216.34", None),
        # IPv6 forms that carry an IPv4 address are judged by it.
        (PUBLIC, "64:ff9b::a9fe:a9fe", "a link-local address"),
        (PUBLIC, "64:ff9b::5db8:d822", None),
        (PUBLIC, "2002:a9fe:a9fe::1", "a link-local address"),
        (PUBLIC, "2002:0a00:0001::1", "a private address"),
        (PUBLIC, "::127.0.0.1", "a loopback address"),
        (PUBLIC, "::10.0.0.1", "a private address"),
        (GLOBAL_ONLY := policy_for("0.0.0.0", ["global"]), "64:ff9b::7f00:1",
         "a loopback address"),
        (GLOBAL_ONLY, "2002:7f00:1::1", "a loopback address"),
    ],
)
def test_policy_refusals(policy: object, address: str, refused: str | None) -> None:
    assert policy.refusal(ipaddress.ip_address(address)) == refused  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://example.com/", "not an absolute http"),
        ("/relative/path", "not an absolute http"),
        ("example.com/listener", "not an absolute http"),
        ("http://", "not an absolute http"),
        ("http://example.com:99999/", "invalid port"),
        ("http://127.0.0.1\\@1.1.1.1/", "backslash"),
        ("http://1.1.1.1 @127.0.0.1/", "backslash, a space"),
        ("http://1.1.1.1/\x00", "control character"),
        ("", "must be an absolute"),
        (42, "must be an absolute"),
        ("http://example.com/" + "x" * 3000, "longer than"),
    ],
)
def test_bad_callbacks_are_400(url: object, fragment: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_callback(url)
    assert caught.value.status == 400
    assert fragment in caught.value.message


@pytest.mark.parametrize("url", ["http://example.com", "https://h:8443/a/b?x=1",
                                 "HTTP://EXAMPLE.COM/", "http://[::1]:9/"])
def test_good_callbacks(url: str) -> None:
    assert parse_callback(url).hostname


@pytest.mark.parametrize(
    ("addresses", "refused"),
    [
        (["93.184.216.34"], False),
        (["93.184.216.34", "10.0.0.1"], True),  # one bad address is enough
        (["fe80::1%eth0"], True),
        ([], True),
    ],
)
def test_every_resolved_address_is_checked(addresses: list[str], refused: bool) -> None:
    def resolver(host: str, port: int) -> list[str]:
        assert (host, port) == ("hooks.example.com", 443)
        return addresses

    if refused:
        with pytest.raises(CallbackRefused, match="hooks.example.com resolves to"):
            check_target("https://hooks.example.com/x", PUBLIC, resolver)
    else:
        check_target("https://hooks.example.com/x", PUBLIC, resolver)


def test_checked_addresses_keep_the_resolver_order() -> None:
    # The first address is the one a delivery connects to: the resolver's preference.
    def resolver(host: str, port: int) -> list[str]:
        return ["2001:db8::1", "93.184.216.34"]

    assert checked_addresses("http://h/", LISTED_V6, resolver) == ["2001:db8::1",
                                                                   "93.184.216.34"]
    with pytest.raises(CallbackRefused, match="2001:db8::1 is"):
        checked_addresses("http://h/", PUBLIC, resolver)  # documentation range: not global


def test_a_literal_address_resolves_to_itself() -> None:
    assert resolve("127.0.0.1", 80) == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("url", "host"),
    [("http://hooks.test:8080/cb", "hooks.test:8080"), ("http://hooks.test/cb", "hooks.test"),
     ("http://hooks.test:80/", "hooks.test"), ("https://hooks.test:443/", "hooks.test"),
     ("https://hooks.test:80/", "hooks.test:80"), ("http://HOOKS.test:81", "hooks.test:81"),
     ("http://u:p@hooks.test:81/", "hooks.test:81"), ("http://[::1]:8080/", "[::1]:8080"),
     ("https://[2001:db8::1]/", "[2001:db8::1]")],
)
def test_host_header_names_the_host_not_the_address(url: str, host: str) -> None:
    assert host_header(url) == host


def test_unresolvable_host_is_refused() -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(CallbackRefused, match="cannot be resolved"):
        check_target("http://nowhere.invalid/", PUBLIC, resolver)


def test_a_loopback_sandbox_resolves_nothing() -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise AssertionError("no lookup needed when every target is allowed")

    check_target("http://anything.invalid/", LOCAL, resolver)


@pytest.mark.parametrize(
    ("text", "ok"),
    [("10.0.0.0/8", True), ("10.0.0.1", True), ("2001:db8::/32", True), ("global", True),
     ("GLOBAL", True), ("10.0.0.0/33", False), ("intranet", False), ("", False)],
)
def test_parse_network(text: str, ok: bool) -> None:
    if ok:
        parse_network(text)
    else:
        with pytest.raises(ValueError, match="is neither a network"):
            parse_network(text)


def test_policy_descriptions_name_the_option() -> None:
    assert LOCAL.describe() == "any address"
    assert "--allow-callback-network" in PUBLIC.explanation
    assert LISTED.describe() == "10.1.0.0/16, global"
