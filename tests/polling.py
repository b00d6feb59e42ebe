"""Waiting in tests for a condition that another process brings about."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 8.0) -> T:
    """Poll ``check`` until it gives a value; a server that does not answer
    (``OSError``) counts as 'not yet'."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except OSError:
            value = None
        if value is not None:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")
