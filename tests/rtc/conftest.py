"""Fixtures of the WebRTC suite: coturn and Node's PeerServer on loopback.

Lets this suite's tests import their helper modules by name too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from rtcprocs import Server, Turn, start_peer_server, start_turn  # noqa: E402


@pytest.fixture(scope="session")
def turn() -> Iterator[Turn]:
    """A TURN relay: aioice offers no loopback host candidates (PEERJS.md), so
    peers on this host meet through it with relay-only ICE."""
    server = start_turn()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def peer_server() -> Iterator[Server]:
    """The real Node PeerServer, shared by the tests that leave it as it was."""
    server = start_peer_server()
    yield server
    server.stop()
