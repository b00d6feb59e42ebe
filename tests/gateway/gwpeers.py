"""Python peers for the gateway tests: relay-only ICE through the suite's TURN server."""

from __future__ import annotations

import asyncio
import urllib.request
from typing import Any

from gwprocs import Process
from rtcprocs import TURN_PASS, TURN_USER, Turn

from earlgate.gateway.peering import PeerOptions
from earlgate.rtc import DataConnection, Peer


def peering(signal_server: Process, relay: Turn) -> PeerOptions:
    return PeerOptions(
        signal_server.url,
        ice_servers=(relay.url,),
        ice_username=TURN_USER,
        ice_credential=TURN_PASS,
        relay_only=True,
    )


async def join(
    options: PeerOptions, peer_id: str, gateway: str, **kw: Any
) -> tuple[Peer, DataConnection]:
    """A peer, open, with a data connection to the gateway."""
    peer = options.make_peer(peer_id)
    await peer.open()
    async with asyncio.timeout(15):
        conn = await peer.connect(gateway, **kw)
    return peer, conn


async def take(conn: DataConnection, count: int, timeout: float = 10.0) -> list[Any]:
    async with asyncio.timeout(timeout):
        return [await conn.recv() for _ in range(count)]


def scrape(url: str) -> dict[str, float]:
    """A /metrics page as {'name{labels}': value}."""
    with urllib.request.urlopen(url, timeout=5) as reply:
        text: str = reply.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples
