"""Fixtures of the gateway suite: a real signaling server and a TURN relay, shared.

The WebRTC suite's process helpers (tests/rtc/rtcprocs.py) and this suite's
(gwprocs.py) are imported by name.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "rtc"))

from gwprocs import Process, start_signal, start_wide_turn  # noqa: E402
from rtcprocs import Turn  # noqa: E402


@pytest.fixture(scope="session")
def signal_server() -> Iterator[Process]:
    server = start_signal()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def relay() -> Iterator[Turn]:
    server = start_wide_turn()
    yield server
    server.stop()
