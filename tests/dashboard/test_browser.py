"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright):
the DOM after the page's script ran, live updates without a reload, hostile text
shown as text, and screenshots of the overview, an app page and a node page at a
laptop's and a phone's width, saved under test-artifacts/dashboard/."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import Running
from tests.e2e.conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is missing (make install)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as play:
        chromium = play.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def test_pages_render_and_a_failed_node_appears_without_reload(
    running: Running, browser: Any
) -> None:
    page = browser.new_page(viewport=LAPTOP)
    try:
        page.goto(running.base + "/")
        page.wait_for_selector("body[data-live=on]")
        page.wait_for_function("document.body.dataset.updated !== undefined")  # one refresh ran
        assert page.locator('tr[data-node="paris-01"]').get_attribute("data-state") == "Degraded"
        assert page.locator("#states [data-state=Synced] b").inner_text() == "1"
        assert "gadget" in page.locator("table.apps").inner_text()
        shot(page, "overview-laptop")

        # An edge reports Failed: the open page shows it within 2 s, without a reload.
        page.evaluate("window.notReloaded = true")
        published = time.monotonic()
        running.report("paris-02", state="Failed", apps={"base": "Failed"}, message="disk full")
        page.wait_for_selector('tr[data-node="paris-02"][data-state="Failed"]', timeout=2000)
        print(f"Failed node on the page {time.monotonic() - published:.2f} s after its report")
        assert page.evaluate("window.notReloaded") is True

        page.goto(running.base + "/apps/gadget")
        page.wait_for_selector("body[data-live=on]")
        assert "Gadget" in page.locator("#messages").inner_text()
        assert page.locator("#app-states [data-state=Failed] b").inner_text() == "1"
        shot(page, "app-laptop")

        page.goto(running.base + "/nodes/paris-01")
        page.wait_for_selector("table.history")
        assert page.locator("#tags").inner_text().strip() == "site=paris"
        assert page.locator('[data-app="gadget"] .badge').inner_text() == "Failed"
        shot(page, "node-laptop")
    finally:
        page.close()


def test_phone_width_and_hostile_text(running: Running, browser: Any) -> None:
    running.report(
        "paris-02",
        state="Failed",
        apps={"base": "Failed"},
        message='<script>window.owned = 1</script><img src=x onerror="window.owned = 2">',
    )
    page = browser.new_page(viewport=PHONE, is_mobile=True, device_scale_factor=2)
    try:
        page.goto(running.base + "/nodes/paris-02")
        page.wait_for_selector("#node-messages")
        page.wait_for_function("document.body.dataset.updated !== undefined")
        assert "<script>window.owned = 1</script>" in page.locator("#node-messages").inner_text()
        assert page.evaluate("window.owned") is None
        assert page.locator("#node-messages img").count() == 0
        # Nothing wider than the phone but the tables, which scroll on their own.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
        shot(page, "node-phone")
        page.goto(running.base + "/")
        page.wait_for_selector('tr[data-node="paris-01"]')
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
        shot(page, "overview-phone")
        page.goto(running.base + "/apps/gadget")
        page.wait_for_selector("#messages")
        shot(page, "app-phone")
    finally:
        page.close()
