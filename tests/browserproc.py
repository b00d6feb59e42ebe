"""Debian's Chromium driven by Playwright for tests: the flags, and pages that record errors.

A browser download never works here, so Playwright is pointed at
``/usr/bin/chromium``. Every page records its console errors and uncaught
exceptions; a test asserts there were none (``page_errors``) where a person
looking at the page would have noticed them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    async_playwright,
)

from earlgate.testing.chromium import CHROMIUM, CHROMIUM_FLAGS

PHONE = {"width": 390, "height": 844}


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if shutil.which(CHROMIUM) is None and not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} not found (apt-get install chromium)"
    return None


@dataclass
class WatchedPage:
    """A page and what went wrong on it."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def page_errors(self) -> list[str]:
        return list(self.errors)


@dataclass
class Chromium:
    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)

    async def new_page(self, viewport: dict[str, int] | None = None) -> WatchedPage:
        context = await self.browser.new_context(
            viewport=viewport or {"width": 1280, "height": 900}
        )  # type: ignore[arg-type]
        self.contexts.append(context)
        page = await context.new_page()
        watched = WatchedPage(page)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                watched.errors.append(f"console: {message.text}")

        def on_error(error: Error) -> None:
            watched.errors.append(f"uncaught: {error.message}")

        page.on("console", on_console)
        page.on("pageerror", on_error)
        return watched


@asynccontextmanager
async def chromium() -> AsyncIterator[Chromium]:
    """One headless Chromium for the block; closed after it."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_FLAGS)
        )
        try:
            yield Chromium(browser)
        finally:
            await browser.close()
