"""Real headless Chromium for the sandbox's browser tests: Debian's `chromium`, driven by
Playwright with its executable path (Playwright never downloads a browser here).

Where Chromium or Playwright is missing the tests skip, saying which and how to get it;
`.ci/run` installs Chromium, so in CI they always run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# Chromium's own calls home are refused on this network (and by the tests' guard): switch
# them off, and the sandbox, which needs a user namespace the test machine may not give.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
]
VIEWPORT = {"width": 1280, "height": 800}


def chromium_path() -> str | None:
    """The system Chromium (SLIS_CHROMIUM overrides), or None."""
    given = os.environ.get("SLIS_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless Chromium browser for a module's tests, or a skip that says why not.

    Playwright's sync API keeps an event loop running in this thread while it is open, which
    async tests in the same process cannot run beside: so it lives no longer than a module of
    sync browser tests (pytest tears it down before the next module's tests run)."""
    executable = chromium_path()
    if executable is None:
        pytest.skip(
            "no Chromium: install Debian's `chromium` package (apt-get install chromium)"
            " or set SLIS_CHROMIUM to a Chromium executable; .ci/run installs it"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh page (its own context: no storage shared between tests) that fails the test on
    any console error or uncaught exception in the page."""
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.set_default_timeout(15_000)
    try:
        yield page
        assert problems == [], "the page reported errors:\n" + "\n".join(problems)
    finally:
        context.close()
