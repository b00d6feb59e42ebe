"""A raw PeerJS socket client on the `websockets` package, for the signaling tests.

Independent of both servers; it records what a PeerJS client would see:
frames, silence, and how the socket was closed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TIMEOUT = 5.0


class RawPeer:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> RawPeer:
        return cls(await connect(url, open_timeout=TIMEOUT, max_size=None, **kwargs))

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def next(self, timeout: float = TIMEOUT) -> Any:
        """The next frame as JSON, ``("closed", code)`` once closed, or ``"silence"``."""
        try:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
        except TimeoutError:
            return "silence"
        except ConnectionClosed as closed:
            return ("closed", closed.rcvd.code if closed.rcvd else None)
        return json.loads(raw)

    async def frames(self, count: int, timeout: float = TIMEOUT) -> list[Any]:
        return [await self.next(timeout) for _ in range(count)]

    async def quiet(self, wait: float = 0.3) -> Any:
        """``"silence"`` when nothing arrives within ``wait`` seconds."""
        return await self.next(wait)

    async def close(self) -> None:
        await self.ws.close()

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        self.ws.transport.abort()


async def opened(url: str) -> RawPeer:
    """A peer that has received its OPEN."""
    peer = await RawPeer.open(url)
    first = await peer.next()
    assert first == {"type": "OPEN"}, first
    return peer
