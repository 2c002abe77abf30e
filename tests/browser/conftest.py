"""Browser tests: the dashboard in Debian's headless Chromium, driven by Playwright.

The server is the ``opencsms demo`` machinery (:func:`opencsms.demo.start_demo`):
a real CentralSystem over HTTPS with its development CA, and a simulated
fleet on real sockets. It runs in a thread with its own event loop, so the
tests use Playwright's sync API from the main thread (where no loop runs).

Chromium is Debian's binary (``/usr/bin/chromium``, or ``$OPENCSMS_CHROMIUM``),
never a browser Playwright downloads: those downloads fail on our machines.
Each test gets a fresh user-data dir. Chromium trusts the server's
certificate by its public key (``--ignore-certificate-errors-spki-list``):
the development CA is not in Chromium's store, and trusting exactly the
server's key is narrower than ignoring every HTTPS error.

Screenshots go to ``test-output/screenshots/<test>-<step>.png`` under the
repository root, or under ``$OPENCSMS_TEST_OUTPUT`` when it is set, for a
reviewer to look at. Every wait is bounded by a few seconds.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import shutil
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    sync_playwright,
)

from opencsms.demo import Demo, DemoOptions, start_demo
from opencsms.domain.fleet_view import TransactionFilter

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("OPENCSMS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 5_000
"""Every Playwright wait (a click, a selector, a navigation) gives up after this."""
STATIONS = 6
ALWAYS_ALLOWED: tuple[re.Pattern[str], ...] = ()
"""Console errors every page may show (none: base.html declares an empty icon,
so Chromium does not ask for /favicon.ico)."""


# -- the server ------------------------------------------------------------------


class LoopThread:
    """An event loop in a daemon thread; ``run(coro)`` waits for its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="demo-loop", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        """Cancel what the server left running (a simulator's sleeps), then stop."""

        async def cancel_rest() -> None:
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        self.run(cancel_rest(), timeout=10.0)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@dataclass(slots=True)
class Server:
    """The running demo, seen from the test thread."""

    demo: Demo
    loop: LoopThread
    base_url: str
    login: tuple[str, str]
    spki: list[str]
    charging: tuple[str, int]
    """A station with a car charging, and its transaction id."""

    @property
    def station_ids(self) -> list[str]:
        return [s.spec.identity for s in self.demo.stations]


def spki_hash(pem: Path) -> str:
    """Base64 SHA-256 of a certificate's SubjectPublicKeyInfo, as Chromium's
    ``--ignore-certificate-errors-spki-list`` wants it."""
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    der = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


async def _wait_for_session(demo: Demo, within: float) -> tuple[str, int]:
    """Until a simulated car charges and has sent meter values (a chart to draw);
    its station and transaction id."""
    fleet = demo.central.services.fleet
    async with asyncio.timeout(within):
        while True:
            active = await fleet.transactions(TransactionFilter(active_only=True), limit=10)
            for transaction in active:
                detail = await fleet.transaction(transaction.id)
                if detail is not None and detail.samples:
                    return transaction.station_id, transaction.id
            await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A demo of six stations (a car charging within seconds), for a module's tests
    (stopped after them: its fleet must not run on under the rest of the suite)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)")
    loop = LoopThread()
    options = DemoOptions(
        data_dir=tmp_path_factory.mktemp("demo"),
        stations=STATIONS,
        api_port=0,
        ocpp_port=0,
        meter_interval=2,  # the session chart has points after a few seconds
        first_arrival=2.0,  # after the stations have connected (else the car waits a minute)
    )
    try:
        demo = loop.run(start_demo(options))
        try:
            charging = loop.run(_wait_for_session(demo, 20.0), timeout=25.0)
            assert demo.ca_file is not None, "the demo serves HTTPS with its development CA"
            certs = sorted(demo.ca_file.parent.glob("server-*.pem"))
            spki = [spki_hash(p) for p in certs if not p.name.endswith("-key.pem")]
            yield Server(demo, loop, demo.central.api_url, demo.login, spki, charging)
        finally:
            loop.run(demo.stop(), timeout=30.0)
    finally:
        loop.close()


# -- the browser -----------------------------------------------------------------


def output_dir() -> Path:
    root = os.environ.get("OPENCSMS_TEST_OUTPUT")
    return (Path(root) if root else REPO / "test-output") / "screenshots"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Module-scoped, not session-scoped: while it is open, its event loop counts
    as running in the main thread, and pytest-asyncio could not run the async
    tests collected after this module."""
    with sync_playwright() as p:
        yield p


@dataclass
class Browser:
    """One test's Chromium page, with what went wrong in it and its screenshots."""

    page: Page
    server: Server
    name: str
    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=lambda: list(ALWAYS_ALLOWED))

    def url(self, path: str) -> str:
        return self.server.base_url + path

    def goto(self, path: str) -> None:
        response = self.page.goto(self.url(path), wait_until="load")
        assert response is not None and response.ok, (path, response and response.status)

    def shot(self, step: str) -> Path:
        """A full-page screenshot: ``<output>/<test>-<step>.png``."""
        path = output_dir() / f"{self.name}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def log_in(self, name: str | None = None, password: str | None = None) -> None:
        """Through the login form, as an operator would."""
        user, secret = self.server.login
        self.goto("/dashboard/login")
        self.page.get_by_label("Name").fill(name or user)
        self.page.get_by_label("Password").fill(password or secret)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_load_state("load")

    def allow(self, pattern: str) -> None:
        """An error this test expects (a 401 for a wrong password) is not a failure."""
        self.allowed.append(re.compile(pattern))

    def assert_clean(self) -> None:
        """No console error, no uncaught exception, no CSP violation on the pages seen."""
        errors = [e for e in self.errors if not any(p.search(e) for p in self.allowed)]
        assert errors == [], "\n".join(errors)


def _console(errors: list[str]) -> Callable[[ConsoleMessage], None]:
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    return on_console


@pytest.fixture
def browser(
    playwright: Playwright, server: Server, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Browser]:
    """Chromium with a fresh profile on the demo's dashboard."""
    profile = tmp_path / "chromium-profile"
    args = [*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={','.join(server.spki)}"]
    context: BrowserContext = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        headless=True,
        args=args,
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(WAIT_MS)
    page = context.pages[0] if context.pages else context.new_page()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    output_dir().mkdir(parents=True, exist_ok=True)
    for old in output_dir().glob(f"{name}-*.png"):
        old.unlink()
    here = Browser(page, server, name)
    page.on("console", _console(here.errors))
    page.on("pageerror", lambda error: here.errors.append(f"page error: {error}"))
    try:
        yield here
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)
