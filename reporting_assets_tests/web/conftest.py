"""Browser fixtures: per test module, one headless Chromium (Debian's, driven by Playwright)
and one web app server (`reporting serve` in a process of its own, see `live.py`); per test,
a fresh page (no cookies) at a phone's and at a desktop's width.

    def test_x(live_site, page):             # runs at 375 px and at 1,280 px
        live_site.sign_in(page)              # through a signed link, as a reader does
        new_id = live_site.publish("Title")  # a critical alert in the app database
        visible(page, f'#feed li[data-id="{new_id}"]')

A module that needs another config defines its own `live_site` fixture:
`LiveSite(tmp_path_factory.mktemp("x"), configure=lambda raw: ...)`, then `start()`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("BROWSER_PATH", "/usr/bin/chromium")  # the `chromium` apt package
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}
_TIMINGS: list[str] = []


@pytest.fixture(scope="module")
def browser():
    """Chromium, headless, for the tests of one module (about 0.4 s to launch). No longer:
    while Playwright's sync API is open its event loop counts as running in this thread, and
    `asyncio.run` (in any other test, or in code it calls) refuses to start."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make setup` installs the `chromium` package")
    from playwright.sync_api import sync_playwright

    began = time.perf_counter()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        _TIMINGS.append(f"browser launch: {time.perf_counter() - began:.2f} s")
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def live_site(tmp_path_factory):
    """`reporting serve` on a free port over a home of its own (see `LiveSite`); stopped after
    the module. A test that kills it leaves it running again (`restart`)."""
    # Imported here, not with this file: a conftest named on the command line is loaded before
    # the root conftest sets the test environment, and the app reads its config on import.
    from reporting_assets_tests.web.live import LiveSite

    site = LiveSite(tmp_path_factory.mktemp("live-site"))
    site.start()
    yield site
    site.kill()
    _TIMINGS.append(
        "server start (spawn to healthy): " + ", ".join(f"{s:.2f} s" for s in site.startups)
    )


@pytest.fixture(autouse=True)
def _live_site_running(request) -> None:
    """A test that uses `live_site` finds it running, even after one that killed it failed."""
    if "live_site" in request.fixturenames:
        site = request.getfixturevalue("live_site")
        if not site.running:
            site.start()


def _page(browser, viewport: dict):
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(10_000)
    from reporting_assets_tests.web.live import RECORD_EVENT_SOURCES

    context.add_init_script(RECORD_EVENT_SOURCES)
    return context, context.new_page()


@pytest.fixture(params=[PHONE, DESKTOP], ids=["375px", "1280px"])
def page(browser, request):
    """A page in a fresh browser context (no cookies), at 375 px and again at 1,280 px."""
    context, page = _page(browser, request.param)
    yield page
    context.close()


@pytest.fixture
def phone_page(browser):
    """A page in a fresh browser context at 375 × 812."""
    context, page = _page(browser, PHONE)
    yield page
    context.close()


@pytest.fixture
def timing(request):
    """`timing(what, seconds)`: print a measured figure and list it at the end of the run."""

    def record(what: str, seconds: float) -> None:
        line = f"{request.node.name}: {what}: {seconds:.2f} s"
        print(line)
        _TIMINGS.append(line)

    return record


def pytest_terminal_summary(terminalreporter) -> None:
    if _TIMINGS:
        terminalreporter.section("browser timings")
        for line in _TIMINGS:
            terminalreporter.write_line(line)
