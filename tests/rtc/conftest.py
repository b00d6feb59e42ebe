"""Fixtures of the WebRTC suite: coturn and the signaling servers on loopback.

Lets this suite's tests import their helper modules by name too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from rtcprocs import SERVER_KINDS, Server, Turn, start_signal, start_turn  # noqa: E402


@pytest.fixture(scope="session")
def turn() -> Iterator[Turn]:
    """A TURN relay: aioice offers no loopback host candidates (PEERJS.md), so
    peers on this host meet through it with relay-only ICE."""
    server = start_turn()
    yield server
    server.stop()


@pytest.fixture(scope="session", params=SERVER_KINDS)
def peer_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """Each signaling server in turn, the real Node PeerServer and ``earlgate
    signal``, shared by the tests that leave it as it was."""
    server = start_signal(request.param)
    yield server
    server.stop()
