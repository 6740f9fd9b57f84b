"""The one href rule (``sandbox.domain.hrefs``), from tables; the backends' agreement on
``href`` filters and sorts is in test_postgres_query and the repository contract."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.domain import hrefs
from sandbox.domain.customers import CustomerService

ROOT = "http://h:8080/tmf-api/customerManagement/v4"
PREFIX = ROOT + "/customer/"


def test_the_prefix_is_the_collection_url_and_a_slash() -> None:
    assert hrefs.prefix(ROOT) == PREFIX
    assert hrefs.prefix(ROOT, "hub") == ROOT + "/hub/"


@pytest.mark.parametrize(("prefix", "ident", "expected"), [
    (PREFIX, "c1", PREFIX + "c1"),
    (PREFIX, "a b", PREFIX + "a b"),
    (None, "c1", None),  # a search given no prefix sees no href
    (PREFIX, 7, None),  # an id that is not text has no href
    (PREFIX, None, None),
])
def test_href_of(prefix: str | None, ident: Any, expected: str | None) -> None:
    assert hrefs.href_of(prefix, ident) == expected


@pytest.mark.parametrize(("prefix", "href", "expected"), [
    (PREFIX, PREFIX + "c1", "c1"),
    (PREFIX, PREFIX + "c1/x", "c1/x"),
    (PREFIX, "http://other/customer/c1", None),
    (PREFIX, ROOT + "/customer", None),
    (None, PREFIX + "c1", None),
])
def test_id_of_undoes_href_of(prefix: str | None, href: str, expected: str | None) -> None:
    assert hrefs.id_of(prefix, href) == expected
    if expected is not None:
        assert hrefs.href_of(prefix, expected) == href


@pytest.mark.parametrize(("path", "prefix", "ident", "expected"), [
    (("href",), PREFIX, "c1", [PREFIX + "c1"]),
    (("href", "length"), PREFIX, "c1", []),  # text has no members
    (("href",), None, "c1", []),
    (("href",), PREFIX, 3, []),
])
def test_what_a_path_under_href_reaches(path: tuple[str, ...], prefix: str | None, ident: Any,
                                        expected: list[str]) -> None:
    assert hrefs.under(path)
    assert hrefs.values_at(path, prefix, ident) == expected


def test_a_presented_customer_carries_the_href_of_its_id_first() -> None:
    shown = CustomerService.present({"name": "x", "id": "c1", "href": "stale"}, ROOT)
    assert list(shown) == ["id", "href", "name"]
    assert shown["href"] == PREFIX + "c1" == hrefs.href_of(hrefs.prefix(ROOT), "c1")
