"""The WebSocket publish/subscribe hub (PROTOCOL.md).

Pure core: :mod:`~earlgate.hub.frames`, :mod:`~earlgate.hub.subjects`,
:mod:`~earlgate.hub.core`, :mod:`~earlgate.hub.session`, :mod:`~earlgate.hub.outbox`,
:mod:`~earlgate.hub.histogram`, :mod:`~earlgate.hub.metrics`. I/O:
:mod:`~earlgate.hub.server` (picows WebSocket) and :mod:`~earlgate.hub.http` (h11).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from earlgate.hub.auth import AuthError, Grants, TokenVerifier, make_token
from earlgate.hub.config import HubConfig, SlowConsumerPolicy
from earlgate.hub.core import Hub

if TYPE_CHECKING:
    from earlgate.hub.server import HubServer, run_hub


def __getattr__(name: str) -> Any:
    # The server pulls in the broker, which uses this package's pure modules:
    # importing it lazily keeps ``earlgate.broker`` importable on its own.
    if name in ("HubServer", "run_hub"):
        from earlgate.hub import server

        return getattr(server, name)
    raise AttributeError(name)


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
