"""The console and the docs page in headless Chromium (Playwright with the system browser):
what a partner and the operator see, at desktop and phone width.

Needs Playwright and a Chromium (``/usr/bin/chromium`` or ``TMF629_CHROMIUM``); without them
these tests skip, unless ``TMF629_REQUIRE_CHROMIUM=1`` (CI) makes them fail. With
``TMF629_SCREENSHOTS=<dir>`` they also save the documentation's screenshots there (docs/img).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MINIMAL, wait_until
from tests.hosting_support import ACME_KEY, ADMIN_TOKEN, GLOBEX_KEY, Hosted, hosted_sandbox

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SHOTS = os.environ.get("TMF629_SCREENSHOTS")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosted]:
    """A hosted sandbox with a scene to look at (:func:`populate`)."""
    for hosted in hosted_sandbox(tmp_path_factory.mktemp("console"), "--delivery-attempts",
                                 "1", "--delivery-timeout", "2"):
        populate(hosted)
        yield hosted


def populate(hosted: Hosted) -> None:
    """acme with two named customers, a failed request, a failed delivery, an inbox event."""
    acme, admin = hosted.as_tenant(ACME_KEY), hosted.admin()
    api = hosted.api
    for name in ("Zebra Traders", "Yak Partners"):
        acme.post(f"{api}/customer", json={**MINIMAL, "name": name}, timeout=10)
    hosted.as_tenant(GLOBEX_KEY).post(f"{api}/customer",
                                      json={**MINIMAL, "name": "Globex Only"}, timeout=10)
    admin.post(f"{hosted.root}/admin/tenants/acme/faults", timeout=10,
               json={"method": "GET", "path": "/customer/*", "action": "status",
                     "status": 503})
    acme.get(f"{api}/customer/any", timeout=10)
    acme.get(f"{api}/customer?name.like=x", timeout=10)  # a 400 whose query string matters
    admin.delete(f"{hosted.root}/admin/tenants/acme/faults", timeout=10)
    acme.post(f"{api}/hub", json={"callback": f"http://127.0.0.1:{closed_port()}/hooks"},
              timeout=10)
    acme.post(f"{api}/customer", json={**MINIMAL, "name": "Xeno Retail"}, timeout=10)
    acme.post(f"{api}/listener/customerCreateEvent", json={"eventType": "nonsense"},
              timeout=10)
    assert wait_until(lambda: any(d["outcome"] == "failed" for d in admin.get(
        f"{hosted.root}/admin/tenants/acme/deliveries", timeout=10).json()))


def sign_in(browser: Any, hosted: Hosted, secret: str, viewport: dict[str, int]) -> Any:
    page = browser.new_page(viewport=viewport)
    page.goto(f"{hosted.root}/console/login")
    page.fill("#key", secret)
    page.click("button[type=submit]")
    page.wait_for_selector("#customers")
    return page


def fits(page: Any) -> bool:
    """Nothing is wider than the viewport, not even inside the tables' boxes: at phone width
    every column is on screen, none cut off behind a horizontal scroll."""
    return bool(page.evaluate("""() => document.documentElement.scrollWidth <= innerWidth
        && [...document.querySelectorAll('.scroll')].every(
               box => box.scrollWidth <= box.clientWidth + 1)"""))


def shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "phone"])
def test_a_partner_filters_the_customer_list(browser: Any, scene: Hosted,
                                            viewport: dict[str, int]) -> None:
    page = sign_in(browser, scene, ACME_KEY, viewport)
    names = page.locator("#customers tbody tr td:first-child").all_inner_texts()
    assert {"Zebra Traders", "Yak Partners"} <= set(names) and "Globex Only" not in names
    page.fill("input[name=name]", "Zebra Traders")
    page.click("form.filter button")
    page.wait_for_url("**name=Zebra+Traders**")
    assert page.locator("#customers tbody tr td:first-child").all_inner_texts() == [
        "Zebra Traders"]
    assert page.inner_text("#customer-total") == "1"
    assert fits(page)
    if viewport is DESKTOP:
        shot(page, "console-customers.png")
    page.click("text=Zebra Traders")
    assert '"name": "Zebra Traders"' in page.inner_text("#customer-json")
    page.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "phone"])
def test_the_failed_request_stands_out_in_the_journal(browser: Any, scene: Hosted,
                                                      viewport: dict[str, int]) -> None:
    page = sign_in(browser, scene, ACME_KEY, viewport)
    page.click("header >> text=Journal")
    failed = page.locator("#journal tr.failed", has_text="/customer/any")
    assert failed.count() == 1
    text = failed.inner_text()
    assert "503" in text and "status 503 (rule" in text
    colour = failed.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
    ok_colour = page.locator("#journal tr.ok td").first.evaluate(
        "e => getComputedStyle(e).backgroundColor")
    assert colour != ok_colour
    assert ACME_KEY not in page.content()
    # the full URL, query string included, and the whole body on request
    bad_filter = page.locator("#journal tr.failed", has_text="name.like=x")
    assert bad_filter.count() == 1
    assert "/customer?name.like=x" in bad_filter.locator("td.request").inner_text()
    body = bad_filter.locator("details.response-body")
    assert not body.locator("pre").is_visible()
    body.locator("summary").click()
    whole = body.locator("pre").inner_text()
    assert whole.rstrip().endswith("}") and '"@type":"Error"' in whole.replace(" ", "")
    if viewport is PHONE:  # each card shows its column's name beside the value
        status = failed.locator("td[data-label=Status]")
        assert status.is_visible()
        label = status.evaluate("e => getComputedStyle(e, '::before').content")
        assert "Status" in label
    assert fits(page)
    if viewport is DESKTOP:
        shot(page, "console-journal.png")
    else:
        shot(page, "console-journal-phone.png")
    page.close()


def test_an_open_sandbox_console_offers_no_sign_in_or_out(browser: Any,
                                                          sandbox_process: Any) -> None:
    root = sandbox_process.url.split("/tmf-api/")[0]
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{root}/console/")
    page.wait_for_selector("#customers")
    header = page.inner_text("header")
    assert "operator" not in header and "Sign out" not in header
    assert page.locator("form[action$='/logout']").count() == 0
    assert "open sandbox" in header
    assert fits(page)
    page.close()


def test_the_delivery_error_and_the_invalid_event_are_shown(browser: Any,
                                                            scene: Hosted) -> None:
    page = sign_in(browser, scene, ACME_KEY, DESKTOP)
    page.click("header >> text=Events")
    delivery = page.locator("#deliveries tr.failed").first
    assert "failed" in delivery.inner_text() and "1/1" in delivery.inner_text()
    assert delivery.locator("td.error").inner_text().strip()  # the reason, in words
    received = page.locator("#received tr.failed").first
    assert "invalid" in received.inner_text()
    shot(page, "console-events.png")
    page.close()


def test_the_operator_switches_tenants_and_a_partner_cannot(browser: Any,
                                                            scene: Hosted) -> None:
    page = sign_in(browser, scene, ADMIN_TOKEN, DESKTOP)
    assert "operator" in page.inner_text("header")
    page.goto(f"{scene.root}/console/?tenant=globex")
    assert page.inner_text("#tenant-name") == "globex"
    assert page.locator("#customers tbody td:first-child").all_inner_texts() == ["Globex Only"]
    page.close()
    partner = sign_in(browser, scene, GLOBEX_KEY, DESKTOP)
    partner.goto(f"{scene.root}/console/?tenant=acme")
    assert partner.inner_text("#tenant-name") == "globex"
    assert "Zebra Traders" not in partner.content()
    partner.close()


def test_a_wrong_key_gets_no_console(browser: Any, scene: Hosted) -> None:
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{scene.root}/console/login")
    page.fill("#key", "wrong-key-0123456789")
    page.click("button[type=submit]")
    assert "not known" in page.inner_text("#login-error")
    assert page.locator("#key").is_visible() and "Zebra" not in page.content()
    page.goto(f"{scene.root}/console/journal")  # no cookie was set: back to sign-in
    assert page.url.endswith("/console/login")
    page.close()


def test_the_docs_page_renders_offline_from_the_server(browser: Any, scene: Hosted) -> None:
    page = browser.new_page(viewport=DESKTOP)
    origins: set[str] = set()
    page.on("request", lambda request: origins.add(request.url.split("/")[2]))
    page.goto(f"{scene.api}/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Customer Management" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-summary-path >> text=/customer")
    assert origins == {scene.root.split("/")[2]}  # nothing from a CDN
    shot(page, "docs-page.png")
    page.close()


def test_a_partner_tries_the_api_from_the_docs_page_with_their_key(browser: Any,
                                                                   scene: Hosted) -> None:
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{scene.api}/docs/")
    page.click(".swagger-ui .auth-wrapper button.authorize")
    page.fill(".swagger-ui .modal-ux input[type=text]", ACME_KEY)
    page.click(".swagger-ui .modal-ux .auth-btn-wrapper button.authorize")
    page.click(".swagger-ui .modal-ux button.btn-done")
    operation = page.locator(".opblock-get", has=page.locator(
        ".opblock-summary-path", has_text="/customer")).filter(
        has_not=page.locator(".opblock-summary-path", has_text="{id}")).first
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert "Zebra Traders" in operation.locator(".live-responses-table").inner_text()
    page.close()
