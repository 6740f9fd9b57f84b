"""TMF630 pagination as plain functions: ``offset``/``limit``, status, headers, ``Link``.

``offset`` defaults to 0 and ``limit`` to "everything", both capped by the
server's maximum page size. ``X-Total-Count`` is the number of customers that
match the filters and ``X-Result-Count`` the number returned; both are sent
even when 0. The status is 206 Partial Content when the page is a strict part
of a non-empty match, with a ``Link`` header (``first``, ``prev``, ``next``,
``last``) whose URLs keep every other query parameter; otherwise 200 (an
offset past the end is a 200 with an empty list).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from sandbox.errors import bad_request

PAGING_PARAMS = ("offset", "limit")


#: Plain ASCII digits only: int() would also take "+5", "1_0", " 5 " and "٥".
_DIGITS = re.compile(r"[0-9]{1,15}")


def parse_non_negative_int(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    if not _DIGITS.fullmatch(raw):
        raise bad_request(f"'{name}' must be a non-negative integer of at most 15 ASCII "
                          f"digits, got '{raw[:40]}'", reason="Invalid pagination")
    return int(raw)


@dataclass(frozen=True)
class Window:
    """The slice of the matching customers one response holds."""

    offset: int
    limit: int

    @property
    def end(self) -> int:
        return self.offset + self.limit


def window(offset: str | None, limit: str | None, max_limit: int) -> Window:
    """The requested window, with ``limit`` defaulting to and capped at ``max_limit``."""
    start = parse_non_negative_int("offset", offset) or 0
    size = parse_non_negative_int("limit", limit)
    return Window(start, max_limit if size is None else min(size, max_limit))


def is_partial(win: Window, total: int) -> bool:
    """Whether the page is a strict part of a non-empty match (206)."""
    return win.offset < total and (win.offset > 0 or win.end < total)


def _url(collection_url: str, params: Sequence[tuple[str, str]], offset: int,
         limit: int) -> str:
    kept = [(k, v) for k, v in params if k not in PAGING_PARAMS]
    query = urlencode([*kept, ("offset", str(offset)), ("limit", str(limit))])
    return f"{collection_url}?{query}"


def links(collection_url: str, params: Sequence[tuple[str, str]], win: Window,
          total: int) -> dict[str, str]:
    """``rel`` -> URL for the pages around ``win``; pages follow ``win``'s grid."""
    if win.limit == 0:
        return {"first": _url(collection_url, params, 0, 0)}
    rels = {"first": 0}
    if win.offset > 0:
        rels["prev"] = max(0, win.offset - win.limit)
    if win.end < total:
        rels["next"] = win.end
    if total > 0:
        # The page of the same grid as win that holds the last customer.
        rels["last"] = win.offset + max(0, (total - 1 - win.offset)) // win.limit * win.limit
    return {rel: _url(collection_url, params, offset, win.limit) for rel, offset in rels.items()}


def link_header(collection_url: str, params: Sequence[tuple[str, str]], win: Window,
                total: int) -> str:
    return ", ".join(f'<{url}>; rel="{rel}"'
                     for rel, url in links(collection_url, params, win, total).items())


def response_meta(collection_url: str, params: Sequence[tuple[str, str]], win: Window,
                  total: int, returned: int) -> tuple[int, dict[str, str]]:
    """The status and headers of a list response."""
    headers = {"X-Total-Count": str(total), "X-Result-Count": str(returned)}
    if not is_partial(win, total):
        return 200, headers
    headers["Link"] = link_header(collection_url, params, win, total)
    return 206, headers
