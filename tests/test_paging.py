"""TMF630 pagination from tables: the window, 200 or 206, count headers and ``Link``."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from sandbox.domain import paging
from sandbox.errors import ApiError

URL = "http://h/api/customer"


@pytest.mark.parametrize(
    ("offset", "limit", "max_limit", "expected"),
    [
        (None, None, 1000, paging.Window(0, 1000)),
        ("5", None, 1000, paging.Window(5, 1000)),
        ("5", "10", 1000, paging.Window(5, 10)),
        (None, "0", 1000, paging.Window(0, 0)),
        (None, "5000", 1000, paging.Window(0, 1000)),  # capped by --max-limit
        ("007", "04", 10, paging.Window(7, 4)),
    ],
)
def test_window(offset: str | None, limit: str | None, max_limit: int,
                expected: paging.Window) -> None:
    assert paging.window(offset, limit, max_limit) == expected


@pytest.mark.parametrize(
    ("offset", "limit"),
    [("-1", None), (None, "-5"), ("1.5", None), (None, "ten"), ("", None), (None, "9" * 5000),
     ("+5", None), (None, "1_0"), (" 5 ", None), (None, "\u0665"), ("\uff15", None),
     (None, "5\n"), ("9" * 16, None)],
)
def test_bad_offset_or_limit_is_400(offset: str | None, limit: str | None) -> None:
    with pytest.raises(ApiError) as caught:
        paging.window(offset, limit, 1000)
    assert caught.value.status == 400
    assert "must be a non-negative integer" in caught.value.message


STATUS = [
    # (offset, limit, total, returned, status)
    (0, 1000, 25, 25, 200),  # the whole matching set
    (0, 1000, 0, 0, 200),  # nothing matches
    (0, 10, 25, 10, 206),
    (10, 10, 25, 10, 206),
    (20, 10, 25, 5, 206),  # the last page is still a part
    (25, 10, 25, 0, 200),  # offset past the end: 200 with []
    (99, 10, 25, 0, 200),
    (0, 0, 25, 0, 206),  # limit=0: a part (empty) of a non-empty match
    (0, 25, 25, 25, 200),
]


@pytest.mark.parametrize(("offset", "limit", "total", "returned", "status"), STATUS)
def test_status_and_count_headers(offset: int, limit: int, total: int, returned: int,
                                  status: int) -> None:
    got, headers = paging.response_meta(URL, [], paging.Window(offset, limit), total, returned)
    assert got == status
    # Both counts are always there, also at 0.
    assert headers["X-Total-Count"] == str(total)
    assert headers["X-Result-Count"] == str(returned)
    assert ("Link" in headers) == (status == 206)


def rels(header: str) -> dict[str, tuple[int, int]]:
    """rel -> (offset, limit) of every URL in a Link header."""
    found = {}
    for part in header.split(", "):
        url, rel = part.split("; ")
        query = dict(parse_qsl(urlsplit(url.strip("<>")).query))
        found[rel.removeprefix('rel="').rstrip('"')] = (int(query["offset"]), int(query["limit"]))
    return found


LINKS = [
    (0, 10, 25, {"first": (0, 10), "next": (10, 10), "last": (20, 10)}),
    (10, 10, 25, {"first": (0, 10), "prev": (0, 10), "next": (20, 10), "last": (20, 10)}),
    (20, 10, 25, {"first": (0, 10), "prev": (10, 10), "last": (20, 10)}),
    (3, 10, 25, {"first": (0, 10), "prev": (0, 10), "next": (13, 10), "last": (23, 10)}),
    (0, 10, 20, {"first": (0, 10), "next": (10, 10), "last": (10, 10)}),
    (0, 0, 20, {"first": (0, 0)}),
]


@pytest.mark.parametrize(("offset", "limit", "total", "expected"), LINKS)
def test_link_relations(offset: int, limit: int, total: int,
                        expected: dict[str, tuple[int, int]]) -> None:
    header = paging.link_header(URL, [], paging.Window(offset, limit), total)
    assert rels(header) == expected


def test_links_keep_the_other_query_parameters() -> None:
    params = [("status", "Approved,Pending"), ("sort", "-name"), ("offset", "10"),
              ("limit", "10"), ("fields", "none"), ("name", "Moon & Sun")]
    header = paging.link_header(URL, params, paging.Window(10, 10), 25)
    for part in header.split(", "):
        url = part.split("; ")[0].strip("<>")
        assert url.startswith(URL + "?")
        query = parse_qsl(urlsplit(url).query)
        assert query[:4] == [("status", "Approved,Pending"), ("sort", "-name"),
                             ("fields", "none"), ("name", "Moon & Sun")]
        assert [k for k, _ in query].count("offset") == 1
