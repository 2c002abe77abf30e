"""The dashboard end to end, in headless Chromium against a running demo.

What an operator does in the first minutes: log in, see the fleet, open a
station, send it a command and see the answer, open a charging session and
see its chart. Each test screenshots its key steps (see conftest) and fails
on any console error, uncaught exception or CSP violation on the way.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import Browser

pytestmark = pytest.mark.browser


def test_log_in(browser: Browser) -> None:
    page = browser.page
    browser.goto("/dashboard/")
    expect(page).to_have_url(re.compile(r"/dashboard/login"))
    expect(page.get_by_role("heading", name="opencsms")).to_be_visible()
    browser.shot("form")

    name, _ = browser.server.login
    browser.log_in(name, "not the password")
    browser.allow(r"status of 401 .*/dashboard/login\)$")  # the form's answer to it
    expect(page).to_have_url(re.compile(r"/dashboard/login"))
    expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
    expect(page.get_by_label("Password")).to_be_visible()
    browser.shot("wrong-password")

    browser.log_in()
    expect(page).to_have_url(browser.url("/dashboard/"))
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.locator("header.top")).to_contain_text(name)
    browser.shot("logged-in")
    browser.assert_clean()


def test_fleet(browser: Browser) -> None:
    page = browser.page
    stations = browser.server.station_ids
    charging, _ = browser.server.charging
    browser.log_in()
    expect(page.get_by_role("heading", name="Fleet", exact=True)).to_be_visible()
    expect(page.locator("#card-stations")).to_have_text(str(len(stations)))
    rows = page.locator("#fleet-rows tr")
    expect(rows).to_have_count(len(stations))
    for station in stations:
        row = rows.filter(has=page.get_by_role("link", name=station, exact=True))
        expect(row).to_have_count(1)
        expect(row.locator("td").first).to_have_text("Online")
        # every connector shows its status as text (a badge per connector)
        expect(row.locator(".connector-badges li").first).to_contain_text(
            re.compile(r"1 (Available|Preparing|Charging|SuspendedEVSE|SuspendedEV)")
        )
    charging_row = rows.filter(has=page.get_by_role("link", name=charging, exact=True))
    expect(charging_row.locator(".connector-badges")).to_contain_text("Charging")
    browser.shot("stations")
    browser.assert_clean()


def test_open_station(browser: Browser) -> None:
    page = browser.page
    station, _ = browser.server.charging
    browser.log_in()
    page.locator("#fleet-rows").get_by_role("link", name=station, exact=True).click()
    expect(page).to_have_url(browser.url(f"/dashboard/stations/{station}"))
    expect(page.get_by_role("heading", name=f"Station {station}")).to_be_visible()
    expect(page.locator("h1 .badge")).to_have_text("Online")
    details = page.locator("section[aria-labelledby=details-h] dl")
    expect(details).to_contain_text("connected to this node")
    connectors = page.locator("#connectors")
    expect(connectors.get_by_role("rowheader", name="1", exact=True)).to_be_visible()
    expect(connectors).to_contain_text("Charging")
    for button in ("Remote start", "Remote stop", "Reset", "Unlock", "Trigger", "Set limit"):
        expect(page.get_by_role("button", name=button, exact=True)).to_be_enabled()
    expect(page.locator("[data-chart-ready]")).to_have_count(1)  # the power chart drew
    browser.shot("station")
    browser.assert_clean()


def test_send_command(browser: Browser) -> None:
    page = browser.page
    station = browser.server.station_ids[-1]
    browser.log_in()
    browser.goto(f"/dashboard/stations/{station}")
    trigger = page.get_by_role("form", name="Trigger message")
    trigger.get_by_label("Message").select_option("StatusNotification")
    trigger.get_by_role("button", name="Trigger").click()
    result = page.locator("#command-result")
    expect(result).to_have_attribute("aria-live", "polite")
    expect(result).to_contain_text(re.compile(r"TriggerMessage \(#\d+\): the station answered"))
    expect(result.locator(".badge")).to_have_text("Accepted")
    browser.shot("result")
    found = re.search(r"#(\d+)", result.inner_text())
    assert found is not None
    # the list below refreshes itself (HX-Trigger) and shows who asked
    row = page.locator("#commands tbody tr").filter(
        has=page.get_by_role("rowheader", name=found.group(1), exact=True)
    )
    expect(row).to_contain_text("TriggerMessage")
    expect(row).to_contain_text(f"operator:{browser.server.login[0]}")
    expect(row.locator(".badge").last).to_have_text("Accepted")
    browser.shot("command-list")
    browser.assert_clean()


def test_session_chart(browser: Browser) -> None:
    page = browser.page
    station, transaction = browser.server.charging
    browser.log_in()
    browser.goto(f"/dashboard/stations/{station}")
    page.locator("#connectors").get_by_role("link", name=f"#{transaction}").click()
    expect(page).to_have_url(browser.url(f"/dashboard/sessions/{transaction}"))
    expect(page.get_by_role("heading", name=f"Session #{transaction}")).to_be_visible()
    power = page.locator("[data-chart-src$='/power.json']")
    expect(power).to_have_attribute("data-chart-ready", re.compile(r"^[1-9]\d*$"))
    expect(power.locator("canvas")).to_have_count(1)
    for chart in page.locator("[data-chart-src]").all():
        expect(chart).to_have_attribute("data-chart-ready", re.compile(r"^[1-9]\d*$"))
    browser.shot("chart")
    browser.assert_clean()


def test_a_page_updates_live_from_the_event_stream(browser: Browser) -> None:
    """A security event recorded on the server appears on the open Security
    page without a reload: the event stream, dashboard.js and htmx together."""
    page = browser.page
    browser.log_in()
    browser.goto("/dashboard/security")
    expect(page.get_by_role("heading", name="Security events")).to_be_visible()
    page.evaluate("window.__not_reloaded = true")
    page.wait_for_timeout(500)  # the page's event stream is open

    central = browser.server.demo.central
    browser.server.loop.run(
        central.services.security.record(
            "station.login_failed", "INTRUDER-7", "192.0.2.7", "wrong key"
        )
    )
    expect(page.locator("main")).to_contain_text("INTRUDER-7", timeout=8_000)
    assert page.evaluate("window.__not_reloaded") is True
    browser.shot("live-event")
    browser.assert_clean()


PHONE = {"width": 390, "height": 844}


def test_every_section_fits_a_phone_screen(browser: Browser) -> None:
    """Responsive: at 390 px no page scrolls sideways (wide tables scroll inside
    their own box), and the navigation stays reachable."""
    page = browser.page
    page.set_viewport_size(PHONE)
    browser.log_in()
    station, transaction = browser.server.charging
    for path in (
        "/dashboard/",
        f"/dashboard/stations/{station}",
        "/dashboard/sessions",
        f"/dashboard/sessions/{transaction}",
        "/dashboard/smart-charging",
        "/dashboard/jobs",
        "/dashboard/security",
        "/dashboard/webhooks",
    ):
        browser.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (path, width)
        expect(page.get_by_role("navigation", name="Sections")).to_be_visible()
    browser.shot("session-on-a-phone")
    browser.assert_clean()


def test_the_keyboard_alone_logs_in_and_skips_to_the_content(browser: Browser) -> None:
    page = browser.page
    name, password = browser.server.login
    browser.goto("/dashboard/login")
    page.keyboard.type(name)  # the name field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(browser.url("/dashboard/"))

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(browser.url("/dashboard/#main"))
    browser.assert_clean()
