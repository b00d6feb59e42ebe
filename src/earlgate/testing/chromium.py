"""Debian's Chromium as the benches and tests drive it: where it is and its flags.

A browser download never works on the machines we target, so Playwright is
pointed at ``/usr/bin/chromium`` (``EARLGATE_CHROMIUM`` overrides it).
"""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("EARLGATE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # WebRTC with aiortc on loopback: show host candidates, not mDNS names.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--enable-features=WebBluetooth",
)


def chromium_problem() -> str | None:
    """Why a bench cannot drive Chromium here (no browser, no Playwright), or None."""
    import importlib.util
    import shutil

    if shutil.which(CHROMIUM) is None and not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} not found (apt-get install chromium, or set EARLGATE_CHROMIUM)"
    if importlib.util.find_spec("playwright") is None:
        return "the Python package playwright is missing (pip install -e '.[dev]')"
    return None
