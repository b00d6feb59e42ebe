"""A PeerJS-compatible signaling server: a drop-in for PeerServer (PEERJS.md).

Pure core: :mod:`~earlgate.signal.messages` (frames),
:mod:`~earlgate.signal.router` (the protocol's state machine),
:mod:`~earlgate.signal.queues` (messages for absent peers, expiry),
:mod:`~earlgate.signal.liveness` (HEARTBEAT), :mod:`~earlgate.signal.http`
(the HTTP routes) and :mod:`~earlgate.signal.metrics`. I/O:
:mod:`~earlgate.signal.server` (asyncio, h11 and picows).
"""

from __future__ import annotations

from earlgate.signal.config import SignalConfig
from earlgate.signal.errors import ConfigError, SignalError
from earlgate.signal.messages import Message, MessageError, MessageType, PeerId
from earlgate.signal.router import Close, ConnId, Send, SignalingRouter
from earlgate.signal.server import SignalServer

__all__ = [
    "Close",
    "ConfigError",
    "ConnId",
    "Message",
    "MessageError",
    "MessageType",
    "PeerId",
    "Send",
    "SignalConfig",
    "SignalError",
    "SignalServer",
    "SignalingRouter",
]
