"""The WebSocket publish/subscribe hub (PROTOCOL.md).

Pure core: :mod:`~earlgate.hub.frames`, :mod:`~earlgate.hub.core`,
:mod:`~earlgate.hub.session`, :mod:`~earlgate.hub.outbox`,
:mod:`~earlgate.hub.metrics`. I/O: :mod:`~earlgate.hub.server` (picows
WebSocket). Subjects, error codes and the durable policy are in
:mod:`earlgate.wire`.
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
