"""Fixtures for tests that run pages in a real Chromium."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from browserproc import Chromium, chromium, chromium_missing

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "gateway"))
sys.path.insert(0, str(HERE.parent / "rtc"))

from gwprocs import Process, start_signal  # noqa: E402
from rtcprocs import Turn, start_turn  # noqa: E402


@pytest.fixture
async def browser() -> AsyncIterator[Chromium]:
    missing = chromium_missing()
    if missing is not None:
        pytest.fail(missing)
    async with chromium() as opened:
        yield opened


@pytest.fixture(scope="module")
def signal_server() -> Iterator[Process]:
    """A real ``earlgate signal`` serving the pages and signaling their peers."""
    server = start_signal()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def relay() -> Iterator[Turn]:
    """A loopback coturn: the Python peers offer no loopback candidates, so ICE relays."""
    server = start_turn(relay_ports=200)
    yield server
    server.stop()
