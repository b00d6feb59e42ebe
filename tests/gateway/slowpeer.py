"""A peer in its own process that connects to the gateway and then only idles.

The test stops this process (SIGSTOP) so that the gateway's channel to it
backs up the way it does to a phone that stopped reading.
"""

from __future__ import annotations

import asyncio
import sys

from earlgate.gateway.peering import PeerOptions


async def main(
    signal_url: str, turn_url: str, user: str, password: str, peer_id: str, gateway: str
) -> None:
    options = PeerOptions(
        signal_url,
        ice_servers=(turn_url,),
        ice_username=user,
        ice_credential=password,
        relay_only=True,
    )
    peer = options.make_peer(peer_id)
    await peer.open()
    async with asyncio.timeout(15):
        await peer.connect(gateway, serialization="json", reliable=True)
    print("connected", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
