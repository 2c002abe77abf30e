"""Take the README's screenshots of a running dashboard (``opencsms demo``).

    opencsms demo                       # in one terminal; let it run a few minutes
    python docs/screenshots/take.py https://127.0.0.1:8080 demo <password>

Drives Debian's Chromium (``/usr/bin/chromium``, or ``$OPENCSMS_CHROMIUM``)
through Playwright, as the browser tests do, trusting the demo's
development certificate for this run only; writes the PNGs next to itself.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

HERE = Path(__file__).parent
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _settle(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    for chart in page.locator("[data-chart-src]").all():
        chart.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)  # charts draw after their JSON arrives
    page.evaluate("window.scrollTo(0, 0)")


def main(base: str, name: str, password: str) -> None:
    chromium = os.environ.get("OPENCSMS_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        browser = p.chromium.launch_persistent_context(
            profile,
            executable_path=chromium,
            headless=True,
            args=FLAGS,
            ignore_https_errors=True,  # the demo's development CA, for these screenshots only
            viewport={"width": 1280, "height": 860},
        )
        page = browser.new_page()
        page.goto(f"{base}/dashboard/login")
        page.fill("#username", name)
        page.fill("#password", password)
        page.click("button[type=submit]")
        _settle(page)
        page.screenshot(path=HERE / "fleet.png")

        charging = page.locator("tr:has(.status-charging) a[href^='/dashboard/stations/']").first
        station = charging.get_attribute("href")
        page.goto(f"{base}{station}")
        _settle(page)
        page.screenshot(path=HERE / "station.png")

        # a car waiting, plugged in, for the cheap hours shows the plan best
        page.goto(f"{base}/dashboard/sessions?active=1")
        waiting = page.locator("tr:has-text('not charging') a[href^='/dashboard/sessions/']")
        any_session = page.locator("a[href^='/dashboard/sessions/']")
        session = (waiting if waiting.count() else any_session).first.get_attribute("href")
        page.goto(f"{base}{session}")
        _settle(page)
        page.screenshot(path=HERE / "session.png")

        page.goto(f"{base}/dashboard/smart-charging")
        _settle(page)
        page.screenshot(path=HERE / "smart-charging.png")
        browser.close()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
