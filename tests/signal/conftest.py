"""Fixtures of the signaling suite: ``earlgate signal`` and Node PeerServer processes.

The Node PeerServer (npm ``peer`` 1.x) is installed into ``.cache/peerjs-server``
on first use. Where npm cannot reach its registry the differential tests are
skipped with npm's reason, except under CI (``$CI`` set), where they fail.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator

import pytest

from earlgate.testing.signalprocs import (
    PeerServerError,
    ServerProcess,
    SignalSettings,
    ensure_peer_server,
    start_earlgate_signal,
    start_node_peer_server,
)

# This suite's helper module (signalpeers.py) is imported by name.
sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def signal_factory() -> Iterator[Callable[..., ServerProcess]]:
    """Start ``earlgate signal`` processes, stopped at the end of the test."""
    started: list[ServerProcess] = []

    def factory(settings: SignalSettings | None = None, *extra: str) -> ServerProcess:
        server = start_earlgate_signal(settings or SignalSettings(), *extra)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def peer_server_installed() -> None:
    try:
        ensure_peer_server()
    except PeerServerError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the Node PeerServer is required under CI: {exc}")
        pytest.skip(f"Node PeerServer unavailable: {exc}")


@pytest.fixture(scope="session")
def server_pairs(peer_server_installed: None) -> Iterator[Callable[[SignalSettings], Pair]]:
    """Ours and Node's, started once per settings for the whole session."""
    pairs: dict[SignalSettings, Pair] = {}

    def get(settings: SignalSettings) -> Pair:
        if settings not in pairs:
            pairs[settings] = (
                start_earlgate_signal(settings),
                start_node_peer_server(settings),
            )
        return pairs[settings]

    yield get
    for ours, theirs in pairs.values():
        ours.stop()
        theirs.stop()


Pair = tuple[ServerProcess, ServerProcess]
