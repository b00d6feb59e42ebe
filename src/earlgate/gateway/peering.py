"""How the gateway and the mesh reach the signaling server and each other.

``--signal URL`` names a PeerServer (ours, ``earlgate signal``, or Node's):
``http://host:port/path`` or its WebSocket URL ``ws://host:port/path/peerjs``.
ICE servers (STUN/TURN) are URLs; a TURN relay is what lets aiortc peers on
one loopback-only host meet (PEERJS.md: "aioice never offers 127.0.0.1/::1
host candidates").
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field

from aiortc import RTCIceServer

from earlgate.rtc import Peer

__all__ = ["PeerOptions", "SignalURLError", "parse_signal_url"]


class SignalURLError(ValueError):
    """The signaling server's URL cannot be used; the message says why."""


@dataclass(frozen=True)
class SignalAddress:
    """Where a signaling server is: what a :class:`~earlgate.rtc.Peer` is given."""

    host: str
    port: int
    path: str
    secure: bool


def parse_signal_url(url: str) -> SignalAddress:
    """Where a PeerServer is, from its HTTP or WebSocket URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        raise SignalURLError(f"{url!r}: expected http://, https://, ws:// or wss://")
    if not parts.hostname:
        raise SignalURLError(f"{url!r}: no host")
    secure = parts.scheme in ("https", "wss")
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError:
        raise SignalURLError(f"{url!r}: bad port") from None
    path = parts.path or "/"
    if parts.scheme.startswith("ws"):
        # The socket lives at PATH/peerjs; the peer wants PATH.
        path = path.rstrip("/").removesuffix("/peerjs") or "/"
    if not path.endswith("/"):
        path += "/"
    return SignalAddress(parts.hostname, port, path, secure)


@dataclass(frozen=True)
class PeerOptions:
    """Everything needed to make a :class:`~earlgate.rtc.Peer` on a given server."""

    signal: str
    key: str = "peerjs"
    ice_servers: tuple[str, ...] = ()
    ice_username: str | None = None
    ice_credential: str | None = None
    relay_only: bool = False
    server: SignalAddress = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "server", parse_signal_url(self.signal))

    def make_peer(self, peer_id: str | None) -> Peer:
        servers = [
            RTCIceServer(url, self.ice_username, self.ice_credential) for url in self.ice_servers
        ]
        return Peer(
            peer_id,
            host=self.server.host,
            port=self.server.port,
            path=self.server.path,
            key=self.key,
            secure=self.server.secure,
            ice_servers=servers,
            ice_transport_policy="relay" if self.relay_only else "all",
        )
