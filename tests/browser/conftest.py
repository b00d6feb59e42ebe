"""Fixtures for tests that run pages in a real Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from browserproc import Chromium, chromium, chromium_missing


@pytest.fixture
async def browser() -> AsyncIterator[Chromium]:
    missing = chromium_missing()
    if missing is not None:
        pytest.fail(missing)
    async with chromium() as opened:
        yield opened
