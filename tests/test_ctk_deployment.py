"""ctk-runner against what real deployments put in its way, over real local servers.

An OAuth2 token endpoint and a gateway that demands the bearer token (tokens
that expire, tokens that get revoked), Basic and static bearer credentials,
a server that requires a client certificate from a test CA, 429/503 answers
with ``Retry-After``, a request that hangs, the request rate, connection
reuse, the clean-up (by default, with leftovers, with a run id), and the
console modes for CI. Runs go through ``cli.main`` in process unless a real
terminal or a signal is needed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from ctk_runner import cli

try:
    import ctk_faults
    import ctk_gateways
    from conftest import waitress_server
    from ctk_outcome import run_harness
except ImportError:  # tests/ imported as a package (importlib import mode)
    from tests import ctk_faults, ctk_gateways  # type: ignore[no-redef]
    from tests.conftest import waitress_server  # type: ignore[no-redef]
    from tests.ctk_outcome import run_harness  # type: ignore[no-redef]

SECRET = "s3cr3t-client-secret"
SEEDS = 25


run = run_harness


def token_url(root: str) -> str:
    parts = urlsplit(root)
    return f"{parts.scheme}://{parts.netloc}{ctk_gateways.TOKEN_PATH}"


@pytest.fixture
def gateway(request: pytest.FixtureRequest) -> Iterator[tuple[str, ctk_gateways.Gateway]]:
    options = getattr(request, "param", {})
    stand_in = ctk_faults.StandIn()
    app = ctk_gateways.Gateway(stand_in, **options)
    with ctk_faults.serve(app) as url:
        yield url, app


def oauth2_args(url: str) -> list[str]:
    return ["--auth", "oauth2-client-credentials", "--token-url", token_url(url),
            "--client-id", "ctk-client"]


# -- OAuth2 client credentials -----------------------------------------------------------


@pytest.mark.parametrize("gateway", [{"echo": True}], indirect=True)
def test_oauth2_token_is_fetched_once_and_never_shown(
    gateway: tuple[str, ctk_gateways.Gateway], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, app = gateway
    monkeypatch.setenv("CTK_CLIENT_SECRET", SECRET)
    outcome = run(url, tmp_path, capsys, *oauth2_args(url), "--scope", "customer.read "
                  "customer.write", "--audience", "tmf629")
    assert outcome.code == 0, outcome.output
    assert len(app.token_requests) == 1 and app.refused == []
    form = app.token_requests[0]
    assert form["scope"] == ["customer.read customer.write"] and form["audience"] == ["tmf629"]
    # The gateway echoed the token in a response header of every request: masked.
    everything = outcome.everything()
    for token in [*app.issued, SECRET]:
        assert token not in everything
    assert "***" in json.dumps(outcome.json["run"]["executions"][0]["response"]["header"])
    assert outcome.json["run"]["deployment"]["auth"].startswith(
        "oauth2-client-credentials (client ctk-client")


@pytest.mark.parametrize("gateway", [{"expires_in": 0}], indirect=True)
def test_an_expiring_token_is_fetched_again_before_use(
    gateway: tuple[str, ctk_gateways.Gateway], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, app = gateway
    monkeypatch.setenv("CTK_CLIENT_SECRET", SECRET)
    outcome = run(url, tmp_path, capsys, *oauth2_args(url))
    assert outcome.code == 0, outcome.output
    # Preflight + 15 requests + 2 deletes, each with a fresh token, none refused.
    assert len(app.token_requests) >= 18 and app.refused == []


@pytest.mark.parametrize("gateway", [{"revoke_after": 5}], indirect=True)
def test_a_revoked_token_is_refreshed_on_401(
    gateway: tuple[str, ctk_gateways.Gateway], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, app = gateway
    monkeypatch.setenv("CTK_CLIENT_SECRET", SECRET)
    outcome = run(url, tmp_path, capsys, *oauth2_args(url))
    assert outcome.code == 0, outcome.output
    assert app.refused and set(app.refused) == {"token revoked"}
    # Each 401 cost one new token and one repeated request, never a failed assertion.
    assert len(app.token_requests) == len(app.refused) + 1
    assert all(e["response"]["code"] != 401 for e in outcome.json["run"]["executions"])


def test_a_refused_client_secret_stops_before_the_run(
    gateway: tuple[str, ctk_gateways.Gateway], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, app = gateway
    monkeypatch.setenv("CTK_CLIENT_SECRET", "wrong-secret-value")
    outcome = run(url, tmp_path, capsys, *oauth2_args(url))
    assert outcome.code == 2
    assert "invalid_client" in outcome.output and "token endpoint" in outcome.output
    assert "wrong-secret-value" not in outcome.output and "Traceback" not in outcome.output


def test_the_secret_must_come_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CTK_CLIENT_SECRET", raising=False)
    url = f"http://127.0.0.1:{ctk_faults.free_port()}/"
    outcome = run(url, tmp_path, capsys, *oauth2_args(url))
    assert outcome.code == 2
    assert "CTK_CLIENT_SECRET" in outcome.output and "not set" in outcome.output


def test_oauth2_from_the_config_file(
    gateway: tuple[str, ctk_gateways.Gateway], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, app = gateway
    monkeypatch.setenv("MY_GATEWAY_SECRET", SECRET)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"url": url, "ctk-runner": {
        "auth": "oauth2-client-credentials", "token-url": token_url(url),
        "client-id": "ctk-client", "secret-env": "MY_GATEWAY_SECRET", "rate": 100}}))
    code = cli.main(["--config", str(config), "--report-dir", str(tmp_path / "r")])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert len(app.token_requests) == 1 and app.refused == []


# -- static bearer and Basic -----------------------------------------------------------


@pytest.mark.parametrize(
    ("gateway", "args", "env"),
    [
        ({"mode": "bearer", "echo": True}, ["--auth", "bearer"], {"CTK_BEARER_TOKEN": SECRET}),
        ({"mode": "bearer", "echo": True}, ["--auth", f"bearer:{SECRET}"], {}),
        ({"mode": "basic", "echo": True}, ["--auth", "basic:tester", "--secret-env", "PW"],
         {"PW": SECRET}),
        ({"mode": "bearer", "echo": True}, ["--header", f"Authorization: Bearer {SECRET}"], {}),
    ],
    ids=["bearer-from-env", "bearer-literal", "basic", "header"],
    indirect=["gateway"],
)
def test_static_credentials_reach_the_gateway_and_are_masked(
    gateway: tuple[str, ctk_gateways.Gateway], args: list[str], env: dict[str, str],
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, app = gateway
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    outcome = run(url, tmp_path, capsys, *args)
    assert outcome.code == 0, outcome.output
    assert app.refused == []
    everything = outcome.everything()
    assert SECRET not in everything
    import base64

    assert base64.b64encode(f"tester:{SECRET}".encode()).decode() not in everything


def test_without_credentials_the_gateway_refuses(
    gateway: tuple[str, ctk_gateways.Gateway], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = gateway
    summary = tmp_path / "summary.json"
    outcome = run(url, tmp_path / "r", capsys, "--json-summary", str(summary))
    # The target answers HTTP, so the run goes on as the kit's would, and fails; the
    # pre-flight's finding is a warning that says what to do.
    assert outcome.code == 1 and "--auth" in outcome.output
    verdict = json.loads(summary.read_text(encoding="utf-8"))
    assert verdict["verdict"] == "failed" and verdict["exitCode"] == 1
    assert "401" in verdict["preflight"][0] and "--auth" in verdict["preflight"][0]


# -- mutual TLS and a private CA ----------------------------------------------------------


def test_mutual_tls_with_a_private_ca(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    pytest.importorskip("cryptography")
    pki = ctk_gateways.make_pki(tmp_path)
    app = ctk_faults.StandIn()
    with ctk_gateways.serve_mtls(app, pki) as url:
        good = run(url, tmp_path / "good", capsys, "--cert", str(pki.client_cert),
                   "--key", str(pki.client_key), "--ca-bundle", str(pki.ca))
        no_cert = run(url, tmp_path / "no-cert", capsys, "--ca-bundle", str(pki.ca))
        stranger = run(url, tmp_path / "stranger", capsys, "--cert", str(pki.other_client_cert),
                       "--key", str(pki.other_client_key), "--ca-bundle", str(pki.ca))
        no_ca = run(url, tmp_path / "no-ca", capsys, "--cert", str(pki.client_cert),
                    "--key", str(pki.client_key))
        config = tmp_path / "config.json"
        config.write_text(json.dumps({"url": url, "ctk-runner": {
            "cert": str(pki.client_cert), "key": str(pki.client_key),
            "ca-bundle": str(pki.ca)}}))
        from_config = cli.main(["--config", str(config), "--report-dir", str(tmp_path / "c")])
    assert good.code == 0, good.output
    assert from_config == 0
    for refused in (no_cert, stranger, no_ca):
        assert refused.code == 2, refused.output
        assert "Traceback" not in refused.output
    assert "certificate verify failed" in no_ca.output and "--ca-bundle" in no_ca.output
    assert len(app.customers) == SEEDS  # the runs that got in cleaned up


# -- polite load ---------------------------------------------------------------------------


def test_429_with_retry_after_is_honoured_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = ctk_gateways.Throttle(ctk_faults.StandIn(), ctk_gateways.request_is("POST", "/customer"),
                                retry_after="1")
    with ctk_faults.serve(app) as url:
        outcome = run(url, tmp_path, capsys)
    assert outcome.code == 0, outcome.output
    retries = outcome.json["run"]["deployment"]["retries"]
    assert [(r["method"], r["status"], r["retryAfter"], r["gaveUp"]) for r in retries] == [
        ("POST", 429, "1", None)]
    throttled = [t for _, t, hit in app.seen if hit]
    retried = [t for _, t, hit in app.seen if not hit]
    assert retried[0] - throttled[0] >= 0.9  # Retry-After: 1 was waited for
    assert "Retry: POST" in outcome.output and "answered 429 (Retry-After: 1)" in outcome.output


def test_503_is_retried_a_bounded_number_of_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = ctk_gateways.Throttle(ctk_faults.StandIn(),
                                ctk_gateways.request_is("GET", "/customer", "name=Moon"),
                                status="503 Service Unavailable", retry_after="0", times=99)
    with ctk_faults.serve(app) as url:
        outcome = run(url, tmp_path, capsys, "--retries", "2")
    assert outcome.code == 1
    assert len(app.seen) == 3  # the request and two retries
    notes = outcome.json["run"]["deployment"]["retries"]
    assert [n["gaveUp"] for n in notes] == [None, None, "gave up after 2 retries"]
    failures = [(f["source"]["name"], f["error"]["test"], f["error"]["message"])
                for f in outcome.json["run"]["failures"]]
    assert ("/customer?name={{NAMECU01}}", "Status code is 200",
            "expected 200, got 503 Service Unavailable") in failures
    assert {name for name, _, _ in failures} == {"/customer?name={{NAMECU01}}"}


def test_a_retry_after_beyond_the_bound_is_not_waited_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = ctk_gateways.Throttle(ctk_faults.StandIn(),
                                ctk_gateways.request_is("GET", "/customer", "name=Moon"),
                                retry_after="3600", times=99)
    with ctk_faults.serve(app) as url:
        outcome = run(url, tmp_path, capsys, "--max-retry-wait", "5")
    assert outcome.code == 1
    notes = outcome.json["run"]["deployment"]["retries"]
    assert len(notes) == 1 and "exceeds --max-retry-wait" in notes[0]["gaveUp"]


def test_rate_spaces_the_requests_over_one_reused_connection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ports: list[str] = []

    def record(environ: dict[str, Any], start_response: Any) -> Any:
        ports.append(environ["REMOTE_PORT"])
        return timed(environ, start_response)

    timed = ctk_gateways.Slow(ctk_faults.StandIn(), lambda environ: False)
    # waitress keeps connections alive (werkzeug's development server closes them).
    with waitress_server(record) as url:
        outcome = run(url, tmp_path, capsys, "--rate", "20")
    assert outcome.code == 0, outcome.output
    starts = timed.started
    assert len(starts) >= 18
    assert starts[-1] - starts[0] >= (len(starts) - 2) / 20 * 0.9
    # The preflight's connection, then one kept alive for (almost) the whole run.
    assert len(set(ports)) <= 3


def test_a_hanging_request_is_a_failed_assertion_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stand_in = ctk_faults.StandIn()
    app = ctk_gateways.Slow(stand_in, ctk_gateways.nth_read(1), hang=True)
    try:
        with ctk_faults.serve(app) as url:
            outcome = run(url, tmp_path, capsys, "--timeout", "0.5")
    finally:
        app.release()
    assert outcome.code == 1, outcome.output
    executions = outcome.json["run"]["executions"]
    assert len(executions) == 15
    assert "did not answer within 0.5 s" in executions[3]["requestError"]["message"]
    failures = {(f["source"]["name"], f["error"]["test"]) for f in outcome.json["run"]["failures"]
                if f["at"] != "request"}
    # As in Newman: the status test fails, then the script stops on the missing body.
    assert failures == {("/customer/{{IDCU01}}", "Status code is 200"),
                        ("/customer/{{IDCU01}}", "test-script")}
    assert "Traceback" not in outcome.output
    assert len(stand_in.customers) == SEEDS


def test_a_reset_connection_is_a_failed_assertion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stand_in = ctk_faults.StandIn()
    app = ctk_gateways.Reset(stand_in, ctk_gateways.nth_read(1))
    with ctk_faults.serve(app) as url:
        outcome = run(url, tmp_path, capsys)
    assert app.done and outcome.code == 1, outcome.output
    execution = outcome.json["run"]["executions"][3]
    assert "closed the connection without answering" in execution["requestError"]["message"]
    assert [a["assertion"] for a in execution["assertions"]] == ["Status code is 200"]
    assert "Traceback" not in outcome.output
    assert len(outcome.json["run"]["executions"]) == 15 and len(stand_in.customers) == SEEDS


# -- clean-up ---------------------------------------------------------------------------------


def test_cleanup_is_the_default_and_leftovers_are_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = ctk_faults.StandIn(ctk_faults.Faults(delete_status=500, delete_removes=False))
    with ctk_faults.serve(app) as url:
        outcome = run(url, tmp_path, capsys)
    assert outcome.code == 0
    leftovers = outcome.json["run"]["deployment"]["leftovers"]
    created = [i for i in app.customers if not i.startswith("seed-")]
    assert sorted(c["url"].rsplit("/", 1)[1] for c in leftovers) == sorted(created)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Customers left behind (2)" in html and created[0] in html


def test_keep_data_keeps_and_run_id_tags_the_created_customers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = ctk_faults.StandIn()
    with ctk_faults.serve(app) as url:
        outcome = run(url, tmp_path, capsys, "--keep-data", "--run-id", "release-42")
    assert outcome.code == 0, outcome.output
    created = [c for i, c in app.customers.items() if not i.startswith("seed-")]
    assert len(created) == 2
    assert all({"name": "ctkRunId", "value": "release-42", "valueType": "string"}
               in c["characteristic"] for c in created)
    assert outcome.json["run"]["cleanup"] == []


def test_a_tagged_run_also_sweeps_strays_carrying_its_run_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = ctk_faults.StandIn()
    # As if an earlier attempt's create had been answered after Ctrl-C.
    party = {"@referredType": "Organization", "id": "1"}
    app.customers["stray"] = {"id": "stray", "name": "Stray", "@type": "Customer",
                              "engagedParty": party,
                              "characteristic": [{"name": "ctkRunId", "value": "release-43"}]}
    app.customers["other"] = {"id": "other", "name": "Other", "@type": "Customer",
                              "engagedParty": party,
                              "characteristic": [{"name": "ctkRunId", "value": "release-1"}]}
    with ctk_faults.serve(app) as url:
        outcome = run(url, tmp_path, capsys, "--run-id", "release-43")
    assert outcome.code == 0, outcome.output
    assert "stray" not in app.customers and "other" in app.customers
    assert len(app.customers) == SEEDS + 1


# -- CI: quiet, JSON summary ------------------------------------------------------------------


def test_quiet_prints_only_the_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    with ctk_faults.serve(ctk_faults.StandIn()) as url:
        outcome = run(url, tmp_path, capsys, "--quiet")
    assert outcome.code == 0
    assert outcome.output.splitlines() == [
        line for line in outcome.output.splitlines() if line.startswith("Verdict")]
    assert len(outcome.output.splitlines()) == 1


def test_json_summary_on_standard_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    with ctk_faults.serve(ctk_faults.StandIn(ctk_faults.Faults(drop_type=True))) as url:
        code = cli.main(["--target-url", url, "--report-dir", str(tmp_path),
                         "--json-summary", "-"])
    captured = capsys.readouterr()
    summary = json.loads(captured.out)  # nothing else on standard output
    assert code == 1 and summary["verdict"] == "failed" and summary["exitCode"] == 1
    assert summary["assertions"]["failed"] > 0
    assert {f["assertion"] for f in summary["failures"]} >= {"Response has @type attribute"}
    assert summary["cleanup"] == {"deleted": 2, "leftovers": []}
    assert Path(summary["reports"]["json"]).is_file()
    assert "Verdict" in captured.err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--fail-on", "new"], "needs a --baseline"),
        (["--auth", "kerberos"], "is unknown"),
        (["--auth", "basic"], "CTK_BASIC_PASSWORD"),
        (["--rate", "0"], "--rate must be a positive number"),
        (["--key", "k.pem"], "--key file k.pem does not exist"),
        (["--latency-tolerance", "fast"], "neither a percentage"),
        (["--run-id", "a b"], "may hold only"),
        (["--keep-data", "--cleanup"], "not both"),
        (["--baseline", "missing.json"], "cannot be read"),
    ],
    ids=["fail-on-new", "auth-scheme", "basic-no-password", "rate", "key-file", "tolerance",
         "run-id", "keep-and-clean", "baseline-missing"],
)
def test_deployment_options_are_checked_before_anything_is_sent(
    args: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CTK_BASIC_PASSWORD", raising=False)
    url = f"http://127.0.0.1:{ctk_faults.free_port()}/"
    outcome = run(url, tmp_path / "r", capsys, *args)
    assert outcome.code == 2
    assert expected in outcome.output, outcome.output
    assert "connection refused" not in outcome.output
    assert not os.path.exists(tmp_path / "r")
