"""The one masking rule for credentials a request carries: in headers and in the query.

The access log (``sandbox.http``) and the request journal (``hosting/journal``)
both show requests to people who must not learn a partner's key from them, so
both mask through this module. A client that sends its key as ``?api_key=...``
is refused with a 401, but the line that records the refusal would otherwise
keep the key in clear.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote_plus, urlsplit, urlunsplit

MASK = "***"
#: Headers whose values are credentials.
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "x-admin-token", "cookie",
                            "proxy-authorization", "set-cookie"})
#: Query parameter names that are credentials whatever else they are called with
#: (compared without case, ``-`` read as ``_``).
SECRET_PARAMETERS = frozenset({
    "api_key", "apikey", "key", "token", "access_token", "refresh_token", "id_token",
    "password", "passwd", "pwd", "secret", "client_secret", "signature", "sig", "auth",
    "authorization", "credential", "credentials", "session", "sessionid", "code",
})
#: A word of a longer name that makes it a credential too: ``x_amz_security_token``,
#: ``hub.secret``, ``subscription_key``, ``X-Goog-Signature``.
SECRET_WORDS = frozenset({"token", "secret", "password", "passwd", "signature", "apikey",
                          "credential", "credentials"})
_WORDS = re.compile(r"[^a-z0-9]+")


def mask(value: str) -> str:
    """A credential as shown: its kind and nothing that could be replayed."""
    scheme, _, rest = value.partition(" ")
    if rest and scheme.lower() in {"bearer", "basic"}:
        return f"{scheme} {MASK}"
    return MASK


def masked_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name: mask(value) if name.lower() in SECRET_HEADERS else value
            for name, value in headers}


def is_secret_parameter(name: str) -> bool:
    """Whether a query parameter called ``name`` (as sent, percent-encoded or not) holds
    a credential."""
    plain = unquote_plus(name).strip().lower().replace("-", "_")
    if plain in SECRET_PARAMETERS:
        return True
    words = [w for w in _WORDS.split(plain) if w]
    return bool(words) and (words[-1] == "key" or any(w in SECRET_WORDS for w in words))


def masked_query(query: str) -> str:
    """A raw query string with the value of every credential parameter masked; the rest
    (names, order, other values, encoding) is kept as sent, so the line stays useful."""
    if not query:
        return query
    pairs = query.split("&")
    return "&".join(f"{pair.split('=', 1)[0]}={MASK}"
                    if "=" in pair and is_secret_parameter(pair.split("=", 1)[0]) else pair
                    for pair in pairs)


def masked_url(url: str) -> str:
    """``url`` with its credential query values (and any userinfo password) masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, netloc, parts.path, masked_query(parts.query),
                       parts.fragment))
