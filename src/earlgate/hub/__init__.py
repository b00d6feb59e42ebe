"""The WebSocket publish/subscribe hub (PROTOCOL.md): its pure core and its asyncio server.

Pure core, tested without sockets or an event loop: :mod:`~earlgate.hub.frames`
(parsing and encoding frames), :mod:`~earlgate.hub.core` and
:mod:`~earlgate.hub.replays` (the :class:`Hub`: frames and broker results in,
:mod:`~earlgate.hub.actions` out), :mod:`~earlgate.hub.session` and
:mod:`~earlgate.hub.sendqueue` (one connection's state and bounded send queue),
:mod:`~earlgate.hub.resume`, :mod:`~earlgate.hub.auth`,
:mod:`~earlgate.hub.config`, :mod:`~earlgate.hub.metrics`. I/O:
:mod:`~earlgate.hub.effects` (carries out the actions), :mod:`~earlgate.hub.connection`
(one picows WebSocket), :mod:`~earlgate.hub.http_routes` and
:mod:`~earlgate.hub.server` (the process). Subjects, error codes and the
durable policy are in :mod:`earlgate.wire`.
"""

from __future__ import annotations

from earlgate.hub.auth import AuthError, Grants, TokenVerifier, make_token
from earlgate.hub.config import HubConfig, SlowConsumerPolicy
from earlgate.hub.core import Hub
from earlgate.hub.server import HubServer, run_hub

__all__ = [
    "AuthError",
    "Grants",
    "Hub",
    "HubConfig",
    "HubServer",
    "SlowConsumerPolicy",
    "TokenVerifier",
    "make_token",
    "run_hub",
]
