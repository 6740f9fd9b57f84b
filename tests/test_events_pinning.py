"""Deliveries connect to the address that was checked, over real HTTP and HTTPS on loopback.

Made-up names such as ``hooks.test`` never resolve for real: a delivery that
reaches a listener by such a name went to the address the stub resolver gave
the policy check. The rebinding test uses ``localhost``, which does resolve for
real (to 127.0.0.1), while the stub answers the allowed 127.0.0.2 to the check:
a connection that resolved the name again would reach the refused listener.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ctk_runner.notifications.listener import EventListener
from sandbox.events import safety
from sandbox.events.delivery import DeliverySettings
from sandbox.events.dispatch import Dispatcher
from sandbox.events.safety import CallbackPolicy, Resolver, pinned_session, policy_for

LOOPBACK = policy_for("0.0.0.0", ["127.0.0.0/8", "::1/128"])
EVENT = {"eventId": "e1", "eventType": "CustomerCreateEvent", "event": {"customer": {"id": "1"}}}


class StubResolver:
    """Answers ``answers[n]`` to the n-th lookup (the last one from then on), and counts."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


@pytest.fixture
def make_dispatcher() -> Iterator[Callable[..., Dispatcher]]:
    made: list[Dispatcher] = []

    def make(resolver: Resolver, policy: CallbackPolicy = LOOPBACK, attempts: int = 1,
             verify: bool | str = True) -> Dispatcher:
        settings = DeliverySettings(attempts, 0.01, (2.0, 5.0), "exact", verify)
        dispatcher = Dispatcher.standalone(settings, policy, resolver=resolver)
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.close(timeout=1)


def deliver(dispatcher: Dispatcher, url: str, count: int = 1) -> list[dict[str, Any]]:
    """Send ``count`` events to ``url``; the journal once each has its final entry."""
    for n in range(count):
        dispatcher.enqueue("s", url, {**EVENT, "eventId": f"e{n + 1}"})
    deadline = time.monotonic() + 10
    while sum(j["outcome"] != "retrying" for j in dispatcher.journal.all()) < count:
        assert time.monotonic() < deadline, dispatcher.journal.all()
        time.sleep(0.02)
    return dispatcher.journal.all()


def test_the_connection_goes_to_the_checked_address_under_the_host_name(
        make_dispatcher: Callable[..., Dispatcher]) -> None:
    with EventListener() as listener:
        resolver = StubResolver(["127.0.0.1"])
        journal = deliver(make_dispatcher(resolver), f"http://hooks.test:{listener.port}/cb")
        (posted,) = listener.snapshot()
    assert [j["outcome"] for j in journal] == ["delivered"]
    assert posted.path == "/cb"
    assert posted.headers["Host"] == f"hooks.test:{listener.port}"
    assert resolver.calls == [("hooks.test", listener.port)]


def listeners_on_one_port() -> tuple[EventListener, EventListener]:
    """Listeners (bound, not started) on 127.0.0.2 and 127.0.0.1 sharing a port."""
    for _ in range(20):
        allowed = EventListener(host="127.0.0.2")
        try:
            return allowed, EventListener(host="127.0.0.1", port=allowed.port)
        except OSError:  # the port is taken on 127.0.0.1: try another
            with allowed:  # stop() needs a started listener
                pass
    pytest.skip("no port free on both 127.0.0.1 and 127.0.0.2")


def test_a_rebinding_host_cannot_reach_the_refused_address(
        make_dispatcher: Callable[..., Dispatcher]) -> None:
    # The check hears 127.0.0.2 (allowed); any later lookup, 127.0.0.1 (refused). Resolving
    # again to connect, by the stub or by the system (localhost), would reach ``refused``.
    policy = policy_for("0.0.0.0", ["127.0.0.2/32"])
    resolver = StubResolver(["127.0.0.2"], ["127.0.0.1"])
    allowed, refused = listeners_on_one_port()
    with allowed, refused:
        url = f"http://localhost:{allowed.port}/cb"
        journal = deliver(make_dispatcher(resolver, policy), url, count=2)
        reached, leaked = allowed.snapshot(), refused.snapshot()
    assert leaked == []
    assert [p.body["eventId"] for p in reached] == ["e1"]
    assert reached[0].headers["Host"] == f"localhost:{allowed.port}"
    # One lookup per attempt: the second event's check hears the rebound answer.
    assert len(resolver.calls) == 2
    assert [j["outcome"] for j in journal] == ["delivered", "refused"]
    assert "127.0.0.1 is a loopback address" in journal[1]["error"]


def test_every_attempt_checks_again(make_dispatcher: Callable[..., Dispatcher]) -> None:
    resolver = StubResolver(["127.0.0.1"], ["10.0.0.1"])
    with EventListener(responder=lambda item: 503) as listener:
        url = f"http://hooks.test:{listener.port}/cb"
        journal = deliver(make_dispatcher(resolver, attempts=3), url)
        posted = listener.snapshot()
    assert [(j["outcome"], j["status"]) for j in journal] == [("retrying", 503),
                                                               ("refused", None)]
    assert len(posted) == 1 and len(resolver.calls) == 2


def test_an_unreachable_address_falls_back_to_the_next_checked_one(
        make_dispatcher: Callable[..., Dispatcher]) -> None:
    with EventListener() as listener:  # nothing listens on 127.0.0.3 at this port
        resolver = StubResolver(["127.0.0.3", "127.0.0.1"])
        journal = deliver(make_dispatcher(resolver), f"http://hooks.test:{listener.port}/")
        assert len(listener.snapshot()) == 1
    assert [j["outcome"] for j in journal] == ["delivered"]
    assert len(resolver.calls) == 1


def test_a_policy_that_allows_everything_connects_as_before(
        make_dispatcher: Callable[..., Dispatcher]) -> None:
    def no_lookup(host: str, port: int) -> list[str]:
        raise AssertionError("nothing to check: the connection resolves the name itself")

    with EventListener() as listener:
        everything = policy_for("127.0.0.1", None)
        journal = deliver(make_dispatcher(no_lookup, everything), listener.url)
        (posted,) = listener.snapshot()
    assert [j["outcome"] for j in journal] == ["delivered"]
    assert posted.headers["Host"] == f"127.0.0.1:{listener.port}"


def test_proxies_are_never_used() -> None:
    # A proxy would resolve the name itself: a pinned request goes to the checked address.
    with EventListener() as listener, pinned_session(LOOPBACK, StubResolver(["127.0.0.1"])) \
            as session:
        response = session.post(f"http://hooks.test:{listener.port}/p", data=b"{}", timeout=5,
                                proxies={"http": "http://127.0.0.1:9"})
        (posted,) = listener.snapshot()
    assert response.status_code == 201 and posted.path == "/p"


def test_without_the_requests_hooks_nothing_is_sent_unpinned(
        make_dispatcher: Callable[..., Dispatcher], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safety, "_CAN_PIN", False)  # as under requests < 2.32.2
    with EventListener() as listener:
        (entry,) = deliver(make_dispatcher(StubResolver(["127.0.0.1"])), listener.url)
        assert listener.snapshot() == []
    assert entry["outcome"] == "refused" and "requests>=2.32.2" in entry["error"]


class Server(ThreadingHTTPServer):
    """Records each POST's path and headers, and the SNI names TLS clients sent."""

    daemon_threads = True

    def __init__(self, host: str, tls: ssl.SSLContext | None = None) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.posts: list[tuple[str, dict[str, str]]] = []
        self.sni: list[str | None] = []
        self.tls = tls
        if tls is not None:
            tls.sni_callback = lambda sock, name, context: self.sni.append(name)
        super().__init__((host, 0), _Handler)
        self.port = int(self.server_address[1])
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:  # a client refusing the certificate aborts the handshake: OSError
            with self.tls.wrap_socket(request, server_side=True) if self.tls else request as sock:
                super().finish_request(sock, client_address)
        except OSError:
            pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Server

    def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.posts.append((self.path, dict(self.headers.items())))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_an_ipv6_address_is_connected_to_in_brackets(
        make_dispatcher: Callable[..., Dispatcher]) -> None:
    try:
        server = Server("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        resolver = StubResolver(["::1"])
        journal = deliver(make_dispatcher(resolver), f"http://hooks.test:{server.port}/v6")
    finally:
        server.close()
    assert [j["outcome"] for j in journal] == ["delivered"]
    assert [(path, headers["Host"]) for path, headers in server.posts] == [
        ("/v6", f"hooks.test:{server.port}")]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Callable[[list[str]], ssl.SSLContext]:
    """A CA (its certificate in ``ca.pem``) and a server context for given names."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pinning test CA")])

    def certificate(subject: x509.Name, key: Any, issuer_key: Any) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    issuer_key.public_key()), critical=False))

    ca = (certificate(ca_name, ca_key, ca_key)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def server_context(names: list[str]) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        alt: list[x509.GeneralName] = [
            x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n)
            for n in names]
        cert = (certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]),
                            key, ca_key)
                .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(ca_key, hashes.SHA256()))
        stem = folder / names[0]
        stem.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        stem.with_suffix(".key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(stem.with_suffix(".crt"), stem.with_suffix(".key"))
        return context

    server_context.ca = str(folder / "ca.pem")  # type: ignore[attr-defined]
    return server_context


@pytest.mark.parametrize(
    ("names", "trust", "outcome"),
    [
        (["hooks.test"], "ca", "delivered"),
        (["elsewhere.test"], "ca", "failed"),  # the certificate names another host
        (["127.0.0.1"], "ca", "failed"),  # the address connected to is not what is checked
        (["hooks.test"], "system", "failed"),  # verification stays on by default
    ],
)
def test_https_is_verified_against_the_host_name(
        make_dispatcher: Callable[..., Dispatcher], pki: Any, names: list[str], trust: str,
        outcome: str) -> None:
    server = Server("127.0.0.1", tls=pki(names))
    try:
        verify = pki.ca if trust == "ca" else True
        resolver = StubResolver(["127.0.0.1"])
        url = f"https://hooks.test:{server.port}/cb"
        (entry,) = deliver(make_dispatcher(resolver, verify=verify), url)
    finally:
        server.close()
    assert entry["outcome"] == outcome, entry["error"]
    assert server.sni and set(server.sni) == {"hooks.test"}
    if outcome == "delivered":
        assert [(p, h["Host"]) for p, h in server.posts] == [("/cb", f"hooks.test:{server.port}")]
    else:
        assert server.posts == [] and "certificate" in entry["error"].lower()
    assert resolver.calls == [("hooks.test", server.port)]
