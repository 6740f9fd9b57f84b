"""Callback URLs fit for logs and the admin listing: no secret they may carry.

A callback may carry credentials in its userinfo (``user:secret@``), its query
values (``?token=...``) or its path (``/hooks/T0KEN/``), and the admin
listings and logs are readable by anyone who can reach the sandbox.
:func:`redact` keeps the scheme, host, port, query names and the
``listener/<eventName>`` suffix the sandbox appends, and masks the rest;
:func:`scrub` does the same inside any text, such as an exception message of
the HTTP client that quotes the URL or its path.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

from sandbox.events.model import EVENT_TYPES, listener_name

MASK = "***"
#: Path segments the sandbox itself writes: never secret.
KEPT_SEGMENTS = frozenset({"", "listener", *(listener_name(t) for t in EVENT_TYPES)})
#: Shorter pieces are not searched for in free text: "/a" would mangle every message.
_MIN_SCRUBBED = 3


def redact(url: str) -> str:
    """``url`` without password, query values and path segments (bar the sandbox's own)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    path = "/".join(s if s in KEPT_SEGMENTS else MASK for s in parts.path.split("/"))
    query = "&".join(f"{pair.split('=', 1)[0]}={MASK}" if "=" in pair else pair
                     for pair in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, path, query, MASK if parts.fragment else ""))


def secrets_of(url: str) -> list[str]:
    """The pieces of ``url`` :func:`redact` hides, raw and percent-decoded, longest first."""
    parts = urlsplit(url)
    pieces: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        pieces += [userinfo, *userinfo.split(":")]
    pieces += [s for s in parts.path.split("/") if s not in KEPT_SEGMENTS]
    pieces += [pair.split("=", 1)[1] for pair in parts.query.split("&") if "=" in pair]
    pieces.append(parts.fragment)
    found = {p for piece in pieces for p in (piece, unquote(piece)) if len(p) >= _MIN_SCRUBBED}
    return sorted(found, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` with ``url`` and each of its secret pieces masked."""
    text = text.replace(url, redact(url))
    for piece in secrets_of(url):
        text = text.replace(piece, MASK)
    return text
