"""Secrets of callback URLs never reach logs or listings: redact and scrub, as tables."""

from __future__ import annotations

import pytest

from sandbox.events.masking import redact, scrub


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://h:8/listener/customerCreateEvent", "http://h:8/listener/customerCreateEvent"),
        ("http://h:8/", "http://h:8/"),
        ("https://h/hooks?token=s3cr3t&v=1", "https://h/***?token=***&v=***"),
        ("https://bob:s3cr3t@h/hooks", "https://***@h/***"),
        ("https://h/hooks?flag", "https://h/***?flag"),
        ("https://h/T0KEN-abc/listener/customerDeleteEvent",
         "https://h/***/listener/customerDeleteEvent"),
        ("https://h/a#frag", "https://h/***#***"),
    ],
)
def test_listed_urls_hide_secrets(url: str, shown: str) -> None:
    assert redact(url) == shown


URL = "https://bob:pa55word@hooks.example/services/T0KEN123/listener/customerCreateEvent?sig=xyz%2F9"


@pytest.mark.parametrize(
    "message",
    [
        "HTTPSConnectionPool(host='hooks.example', port=443): Max retries exceeded with url: "
        "/services/T0KEN123/listener/customerCreateEvent?sig=xyz%2F9 (Caused by SSLError)",
        f"certificate verify failed for {URL}",
        "bad signature xyz/9 from bob",
        "Failed to parse: https://bob:pa55word@hooks.example/",
    ],
)
def test_scrub_masks_every_secret_piece(message: str) -> None:
    cleaned = scrub(message, URL)
    for secret in ("pa55word", "T0KEN123", "xyz%2F9", "xyz/9", "bob:pa55word"):
        assert secret not in cleaned
    if "hooks.example" in message:  # the host stays: it says which listener failed
        assert "hooks.example" in cleaned
