"""The deployment pieces from tables: Retry-After, the retry policy, --auth, secret masking,
the run-id tag and the option merge with the config file."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from ctk_runner.auth import Authenticator, Secrets, parse_auth
from ctk_runner.cleanup import is_tagged, tag_payload
from ctk_runner.deployment import build_deployment
from ctk_runner.pacing import Pacing, retry_after_seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("3", 3.0), (" 0 ", 0.0), ("", None), (None, None), ("soon", None), ("-1", None),
     ("1.5", None)],
)
def test_retry_after_delta_seconds(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value) == seconds


def test_retry_after_http_date() -> None:
    now = time.time()
    later = format_datetime(datetime.fromtimestamp(now, timezone.utc) + timedelta(seconds=7),
                            usegmt=True)
    assert retry_after_seconds(later, now=now) == pytest.approx(7, abs=1)
    earlier = format_datetime(datetime.fromtimestamp(now - 60, timezone.utc), usegmt=True)
    assert retry_after_seconds(earlier, now=now) == 0.0


@pytest.mark.parametrize(
    ("status", "retry_after", "attempt", "delay"),
    [
        (429, "2", 0, 2.0),
        (503, None, 0, 1.0),       # no Retry-After: exponential backoff
        (503, None, 2, 4.0),
        (429, "2", 3, None),       # --retries 3 spent
        (429, "61", 0, None),      # beyond --max-retry-wait
        (500, "1", 0, None),       # only 429 and 503 are retried
        (None, None, 0, None),     # no answer at all: not retried (a POST may have landed)
    ],
)
def test_retry_policy(status: int | None, retry_after: str | None, attempt: int,
                      delay: float | None) -> None:
    pacing = Pacing(retries=3, max_wait=60)
    assert pacing.retry_delay("GET", "http://h/", status, retry_after, attempt) == delay
    if status in (429, 503):
        assert len(pacing.notes) == 1 and (pacing.notes[0].gave_up is None) is (delay is not None)


def test_rate_spaces_turns() -> None:
    slept: list[float] = []
    pacing = Pacing(rate=4, sleep=slept.append)
    for _ in range(3):
        pacing.wait_turn()
    assert len(slept) == 2 and all(0.2 < s <= 0.5 for s in slept)


@pytest.mark.parametrize(
    ("text", "env", "scheme", "problem"),
    [
        ("bearer", {"CTK_BEARER_TOKEN": "tok-1234"}, "bearer", None),
        ("bearer:inline-token", {}, "bearer", None),
        ("bearer", {}, None, "CTK_BEARER_TOKEN, which is not set"),
        ("basic:ann", {"CTK_BASIC_PASSWORD": "pw-1234"}, "basic", None),
        ("basic", {"CTK_BASIC_PASSWORD": "pw-1234"}, None, "needs the user name"),
        ("oauth2-client-credentials", {"CTK_CLIENT_SECRET": "cs-1234"}, None,
         "needs --token-url and --client-id"),
        ("digest", {}, None, "is unknown"),
    ],
)
def test_parse_auth(text: str, env: dict[str, str], scheme: str | None,
                    problem: str | None) -> None:
    if problem is None:
        assert parse_auth(text, environ=env).scheme == scheme
    else:
        with pytest.raises(ValueError, match=problem):
            parse_auth(text, environ=env)


def test_basic_credentials_are_registered_as_secrets() -> None:
    secrets = Secrets()
    auth = Authenticator(parse_auth("basic:ann", environ={"CTK_BASIC_PASSWORD": "pw-1234"}),
                         secrets)
    encoded = base64.b64encode(b"ann:pw-1234").decode()
    assert auth.header_value() == f"Basic {encoded}"
    assert secrets.mask(f"pw-1234 / Basic {encoded}") == "*** / Basic ***"


@pytest.mark.parametrize(
    ("secret", "text", "masked"),
    [
        ("abc/def+g", "raw abc/def+g", "raw ***"),
        ('q"uote\\s', 'json "q\\"uote\\\\s"', 'json "***"'),
        ("a<b>&c", "html a&lt;b&gt;&amp;c", "html ***"),
        ("a b/c", "url x?t=a%20b%2Fc", "url x?t=***"),
        ("abc", "too short to mask: abc", "too short to mask: abc"),
    ],
)
def test_secrets_are_masked_in_every_escaping(secret: str, text: str, masked: str) -> None:
    assert Secrets([secret]).mask(text) == masked


def test_run_id_tag() -> None:
    payload = {"name": "N", "characteristic": [{"name": "colour", "value": "red"}]}
    tagged = tag_payload(payload, "r-1")
    assert payload["characteristic"] == [{"name": "colour", "value": "red"}]  # not mutated
    assert is_tagged(tagged, "r-1") and not is_tagged(tagged, "r-2")
    assert not is_tagged({"characteristic": "r-1"}, "r-1")


def test_the_command_line_wins_over_the_config_section(tmp_path: Path) -> None:
    section = {"rate": 2, "retries": 5, "run-id": "from-config", "latency-tolerance": "80ms",
               "keep-data": True}
    chosen = build_deployment({"rate": 9.0, "run-id": None}, section, timeout=30, verify=True)
    assert chosen.rate == 9.0 and chosen.retries == 5 and chosen.run_id == "from-config"
    assert chosen.tag and chosen.keep_data and str(chosen.latency_tolerance) == "80ms"
    with pytest.raises(ValueError, match="unknown keys: colour"):
        build_deployment({}, {"colour": "red"}, timeout=30, verify=True)
    with pytest.raises(ValueError, match="--retries must be a non-negative whole number"):
        build_deployment({}, {"retries": 1.5}, timeout=30, verify=True)
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert build_deployment({"ca-bundle": str(ca)}, None, timeout=30, verify=True).verify(
        True) == str(ca)
    assert build_deployment({"ca-bundle": str(ca)}, None, timeout=30, verify=True).verify(
        False) is False
