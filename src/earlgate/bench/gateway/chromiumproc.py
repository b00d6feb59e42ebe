"""A headless Chromium of the rtc bench's own: pinned like a gateway, its CPU all counted.

- Placement: Chromium starts under a prefix (e.g. ``taskset -c 1``) through a
  launcher script that ``exec``s it, so every process it forks inherits the
  pinning, like the Python gateway process.
- CPU: the sum over its whole process tree (browser, renderer, GPU, network
  and utility processes; :mod:`~earlgate.bench.gateway.proctree`).
- Pages record what they log as errors and what they throw.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import psutil

from earlgate.bench.gateway.proctree import find_marked_root, marked_pids, tree_cpu_s
from earlgate.testing.chromium import CHROMIUM, CHROMIUM_FLAGS

__all__ = ["MARKER", "BenchChromium", "launcher"]

# A flag Chromium ignores, so that the bench finds its own browser process among its children.
MARKER = "--earlgate-bench-browser"


def launcher(prefix: tuple[str, ...], workdir: Path) -> str:
    """Chromium's executable for Playwright: itself, or a script that ``exec``s it under
    ``prefix`` (all of Chromium's processes then inherit, e.g., its CPU pinning)."""
    if not prefix:
        return CHROMIUM
    script = workdir / "chromium-under-prefix.sh"
    script.write_text(f'#!/bin/sh\nexec {shlex.join((*prefix, CHROMIUM))} "$@"\n')
    script.chmod(0o755)
    return str(script)


class BenchChromium:
    """One Chromium (``start``/``close``), its pages and the CPU of all its processes."""

    def __init__(self, prefix: tuple[str, ...], workdir: Path) -> None:
        self.prefix = prefix
        self.workdir = workdir
        self.errors: list[str] = []  # what its pages logged as errors or threw
        self._playwright: Any = None
        self._browser: Any = None
        self._tree: psutil.Process | None = None

    async def start(self) -> None:
        from playwright.async_api import async_playwright

        earlier = marked_pids(MARKER)
        self._playwright = await async_playwright().start()
        try:
            self._browser = await self._playwright.chromium.launch(
                executable_path=launcher(self.prefix, self.workdir),
                args=[*CHROMIUM_FLAGS, MARKER],
            )
            self._tree = find_marked_root(MARKER, exclude=earlier)
        except BaseException:
            await self.close()
            raise

    async def new_page(self) -> Any:
        """A page in a context of its own, recording its errors; no favicon fetched."""
        context = await self._browser.new_context()
        page = await context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on(
            "console",
            lambda message: (
                self.errors.append(f"console: {message.text}") if message.type == "error" else None
            ),
        )
        await page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
        return page

    def cpu_s(self) -> float:
        """CPU-seconds of Chromium's whole process tree so far."""
        assert self._tree is not None
        return tree_cpu_s(self._tree)

    async def close(self) -> None:
        if self._browser is not None:
            browser, self._browser = self._browser, None
            await browser.close()
        if self._playwright is not None:
            playwright, self._playwright = self._playwright, None
            await playwright.stop()
