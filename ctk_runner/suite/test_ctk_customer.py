"""CTK-Customer-4.0.0, one test per kit request, in the kit's order.

The tests share the ``ctk`` session: requests 1 and 2 hold the created
customers' values (``IDCU01``, ``HREFCU01``, ``NAMECU01``, ...) that the later
requests put in their URLs and compare against. Every check is recorded as an
individual assertion in the run (reports count them); a test fails when at
least one of its assertions failed under the verdict profile. Warnings (the
``ctk`` profile's value mismatches) do not fail a test.

Without ``--target-url`` or ``--ctk-sandbox`` every test is skipped.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ctk_runner.plugin import REQUEST_ATTRIBUTE
from ctk_runner.runner import CtkSession
from ctk_runner.scenarios import scenario

Test = Callable[[CtkSession], None]


def request(number: int) -> Callable[[Test], Test]:
    """Tag a test with its kit request number (the plugin orders by it)."""

    def tag(test: Test) -> Test:
        setattr(test, REQUEST_ATTRIBUTE, number)
        return test

    return tag


def verify(ctk: CtkSession, number: int) -> None:
    """Send kit request ``number`` and fail the test if an assertion failed."""
    execution = ctk.execute(scenario(number))
    profile = ctk.settings.profile
    if execution.error:
        pytest.fail(f"{execution.method} {execution.url}: {execution.error}", pytrace=False)
    failed = [g for g in execution.groups(profile) if g.failed]
    if failed:
        lines = [
            f"{g.name}: {g.failed} failed" + (f" ({g.messages[0]})" if g.messages else "")
            for g in failed
        ]
        pytest.fail(
            f"{execution.method} {execution.url}\n" + "\n".join(lines), pytrace=False
        )


# -- N1: create two customers and read them back ------------------------------------


@request(1)
def test_n1_01_creates_a_customer(ctk: CtkSession) -> None:
    """POST /customer: 201, mandatory attributes; holds IDCU01, HREFCU01, NAMECU01."""
    verify(ctk, 1)


@request(2)
def test_n1_02_creates_another_customer(ctk: CtkSession) -> None:
    """POST /customer: 201, mandatory attributes; holds IDCU02, HREFCU02, NAMECU02."""
    verify(ctk, 2)


@request(3)
def test_n1_03_search_for_the_created_customer(ctk: CtkSession) -> None:
    """GET /customer: attributes of every instance, values of both created ones."""
    verify(ctk, 3)


@request(4)
def test_n1_04_read_one_created_customer(ctk: CtkSession) -> None:
    """GET /customer/{{IDCU01}}: attributes and the values held from its creation."""
    verify(ctk, 4)


@request(5)
def test_n1_05_read_the_other_created_customer(ctk: CtkSession) -> None:
    """GET /customer/{{IDCU02}}: attributes and the values held from its creation."""
    verify(ctk, 5)


# -- N2: attribute selection and filters ---------------------------------------------


@request(6)
def test_n2_06_fields_href(ctk: CtkSession) -> None:
    """GET /customer?fields=href: no kit test; strict: only href (+ id, @type)."""
    verify(ctk, 6)


@request(7)
def test_n2_07_filter_href_cu01(ctk: CtkSession) -> None:
    """GET /customer?href={{HREFCU01}}: CU01's values; CU02 not expected."""
    verify(ctk, 7)


@request(8)
def test_n2_08_filter_href_cu02(ctk: CtkSession) -> None:
    """GET /customer?href={{HREFCU02}}: CU02's values; CU01 not expected."""
    verify(ctk, 8)


@request(9)
def test_n2_09_fields_id(ctk: CtkSession) -> None:
    """GET /customer?fields=id: no kit test; strict: only id (+ href, @type)."""
    verify(ctk, 9)


@request(10)
def test_n2_10_filter_id_cu01(ctk: CtkSession) -> None:
    """GET /customer?id={{IDCU01}}: CU01's values; CU02 not expected."""
    verify(ctk, 10)


@request(11)
def test_n2_11_filter_id_cu02(ctk: CtkSession) -> None:
    """GET /customer?id={{IDCU02}}: CU02's values; CU01 not expected."""
    verify(ctk, 11)


@request(12)
def test_n2_12_fields_name(ctk: CtkSession) -> None:
    """GET /customer?fields=name: no kit test; strict: only name (+ id, href, @type)."""
    verify(ctk, 12)


@request(13)
def test_n2_13_filter_name_cu01(ctk: CtkSession) -> None:
    """GET /customer?name={{NAMECU01}}: CU01's values; CU02 not expected."""
    verify(ctk, 13)


@request(14)
def test_n2_14_filter_name_cu02(ctk: CtkSession) -> None:
    """GET /customer?name={{NAMECU02}}: CU02's values; CU01 not expected."""
    verify(ctk, 14)


# -- E1: an unknown id ---------------------------------------------------------------


@request(15)
def test_e1_15_unknown_id_is_404(ctk: CtkSession) -> None:
    """GET /customer/404ID: 404; strict: the body is a TMF Error."""
    verify(ctk, 15)
