"""Where a benchmark writes, what it says it ran, and when: the same for every bench."""

from __future__ import annotations

import datetime as dt
import shlex
import sys
from pathlib import Path


def results_dir(given: Path | None, name: str) -> Path:
    """``given``, or ``results/<name>-<local date and time>``."""
    return given or Path("results") / f"{name}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def command_line() -> str:
    """The ``earlgate …`` command line this process runs, quoted for a shell."""
    return "earlgate " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])


def utc_now() -> str:
    """The date reports carry, e.g. ``2026-11-29 19:40 UTC``."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
