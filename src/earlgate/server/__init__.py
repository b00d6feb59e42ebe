"""The network front the hub and the signaling server share (I/O).

:mod:`~earlgate.server.listener`: the accept loop (descriptor and per-address
limits). :mod:`~earlgate.server.http`: the h11 front of every connection,
plain HTTP requests and responses, listening, TLS and stopping on signals.
:mod:`~earlgate.server.websocket`: the hand-off of upgrades to picows, message
assembly, upgrade refusals and the graceful stop's wait.
"""

from __future__ import annotations

from earlgate.server.http import (
    HttpFront,
    HttpRequest,
    HttpResponse,
    listen,
    serve_until_signalled,
    server_tls_context,
)
from earlgate.server.listener import Listener
from earlgate.server.websocket import (
    Drain,
    MessageAssembler,
    MessageTooLarge,
    UnexpectedContinuation,
    hand_to_websocket,
    refuse_upgrade,
)

__all__ = [
    "Drain",
    "HttpFront",
    "HttpRequest",
    "HttpResponse",
    "Listener",
    "MessageAssembler",
    "MessageTooLarge",
    "UnexpectedContinuation",
    "hand_to_websocket",
    "listen",
    "refuse_upgrade",
    "serve_until_signalled",
    "server_tls_context",
]
