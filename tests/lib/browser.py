"""Headless Chromium for the browser tests (Debian's package; skipped where none is installed)."""

from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


@contextmanager
def chromium():
    """A headless Chromium. Playwright runs an event loop in this thread while it is open, so
    Django's ORM refuses to run inside the block: prepare data before it, check after it."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = next((path for path in CHROMIUM_PATHS if Path(path).exists()), None)
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=executable,
                args=["--autoplay-policy=no-user-gesture-required", "--no-sandbox"],
            )
        except sync_api.Error as exc:
            pytest.skip(f"no Chromium to drive: {exc.message.splitlines()[0]}")
        try:
            yield browser
        finally:
            browser.close()


def signed_in_tab(browser, live_server, client, settings, problems: list):
    """A tab with `client`'s session; page and console errors go into `problems`."""
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context = browser.new_context()
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    tab = context.new_page()
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.on("console", lambda m: m.type == "error" and "favicon" not in m.location["url"]
           and problems.append(m.text))  # fmt: skip
    return tab
