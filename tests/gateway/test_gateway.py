"""The gateway in this process, with real peers, a real signaling server and hub:
mux/demux round trips, the hub bridge, peers joining and leaving, a slow destination."""

from __future__ import annotations

import asyncio
import signal
import time
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from gwpeers import join, peering, take
from gwprocs import Process, start_signal, start_slow_peer
from rtcprocs import Turn

from earlgate.client import HubClient
from earlgate.gateway.aggregate import Part, decode, encode
from earlgate.gateway.routes import parse_routes
from earlgate.gateway.service import Gateway, GatewayOptions
from earlgate.rtc import DataConnection, Peer
from hubproc import start_hub

GatewayFactory = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def gateways(signal_server: Process, relay: Turn) -> AsyncIterator[GatewayFactory]:
    started: list[Gateway] = []

    async def factory(gateway_id: str, routes: str, **kw: Any) -> Gateway:
        options = GatewayOptions(
            gateway_id, peering(signal_server, relay), parse_routes(tomllib.loads(routes)), **kw
        )
        gateway = Gateway(options)
        await gateway.start()
        started.append(gateway)
        return gateway

    yield factory
    for gateway in started:
        await gateway.stop()


@pytest.fixture
async def peers() -> AsyncIterator[list[Peer]]:
    """Peers to destroy at the end of a test."""
    made: list[Peer] = []
    yield made
    await asyncio.gather(*(peer.destroy() for peer in made))


MUX_DEMUX = """
[[mux]]
from = "dev-*"
to = "cloud"
window = 0.1

[[demux]]
from = "cloud"
"""


async def test_mux_to_a_dialed_peer_and_demux_back(
    gateways: GatewayFactory, peers: list[Peer], signal_server: Process, relay: Turn
) -> None:
    gateway = await gateways("md-gw", MUX_DEMUX)
    options = peering(signal_server, relay)
    cloud = options.make_peer("cloud")
    await cloud.open()
    peers.append(cloud)
    devices = await asyncio.gather(*(join(options, f"dev-{n}", "md-gw") for n in range(4)))
    peers.extend(peer for peer, _ in devices)
    sent: dict[str, list[dict[str, Any]]] = {}
    for round_ in range(5):
        for peer, conn in devices:
            assert peer.id is not None
            message = {"ts": time.time() * 1000, "round": round_, "v": [0.5, -0.25, 9.81]}
            sent.setdefault(peer.id, []).append(message)
            conn.send(message)
        await asyncio.sleep(0.03)
    # Nobody called "cloud" yet: the gateway dials it with the first aggregate.
    async with asyncio.timeout(15):
        upstream = await cloud.accept()
    parts: list[Part] = []
    while len(parts) < 20:
        parts.extend(decode((await take(upstream, 1, timeout=10))[0]))
    for src, messages in sent.items():
        # peerjs's default channel is unordered: aggregates may overtake each other.
        mine = sorted((part for part in parts if part.src == src), key=lambda part: part.seq)
        assert [part.seq for part in mine] == list(range(5))  # per-source sequence numbers
        assert [part.data for part in mine] == messages
        assert [part.ts for part in mine] == [m["ts"] for m in messages]  # the sender's clock
    stats = gateway.statistics()["routes"]["mux#1"]
    assert stats["in"] == 20 and stats["parts_out"] == 20 and stats["processing_ms"]["count"] >= 1
    # The reverse: one aggregate from the cloud, split to each part's dst.
    commands = [Part("cloud", n, time.time() * 1000, {"cmd": n}, dst=f"dev-{n}") for n in range(4)]
    upstream.send(encode(commands))
    for n, (_, conn) in enumerate(devices):
        assert await take(conn, 1) == [{"cmd": n}]
    upstream.send(encode(commands[:2]))  # repeats: dropped and counted
    upstream.send({"mux": 9, "parts": []})  # unknown version: dropped and counted
    for _ in range(100):
        demux = gateway.statistics()["routes"]["demux#1"]
        if demux["dropped"].get("malformed"):
            break
        await asyncio.sleep(0.02)
    assert demux["in"] == 3 and demux["out"] == 4 and demux["duplicates"] == 2
    assert demux["dropped"] == {"malformed": 1}
    # A part for a peer that is not there: dialed, given up, its queue not kept.
    upstream.send(encode([Part("cloud", 4, time.time() * 1000, {"cmd": 4}, dst="nobody")]))
    async with asyncio.timeout(15):
        while gateway.statistics()["routes"]["demux#1"]["dropped"].get("peer_gone") != 1:
            await asyncio.sleep(0.05)
    assert gateway.metrics.dials == {"opened": 1, "failed": 1}
    assert "nobody" not in gateway.statistics()["queues"]


BRIDGE = """
[[bridge]]
peer = "th-*"
publish = "sensors/{peer}/temp"
subscribe = "commands/{peer}"
"""


async def test_bridge_to_a_real_hub(
    gateways: GatewayFactory, peers: list[Peer], signal_server: Process, relay: Turn
) -> None:
    hub = start_hub()
    try:
        gateway = await gateways("br-gw", BRIDGE, hub=hub.ws_url)
        async with HubClient(hub.ws_url) as client:
            readings = await client.subscribe("sensors/+/temp")
            # Retained, so the peer gets it whenever the gateway subscribes for it.
            await client.publish("commands/th-1", {"heater": "on"}, retain=True, ack=True)
            peer, conn = await join(peering(signal_server, relay), "th-1", "br-gw")
            peers.append(peer)
            command = (await take(conn, 1))[0]
            assert command["subject"] == "commands/th-1" and command["data"] == {"heater": "on"}
            conn.send({"ts": 1764000000123, "celsius": 21.5})
            async with asyncio.timeout(10):
                reading = await readings.get()
            assert reading["subject"] == "sensors/th-1/temp"
            assert reading["data"] == {"ts": 1764000000123, "celsius": 21.5}
            assert reading["published"] == 1764000000123  # the device's timestamp
            await client.publish("commands/th-1", {"heater": "off"})
            assert (await take(conn, 1))[0]["data"] == {"heater": "off"}
            stats = gateway.statistics()["routes"]["bridge#1"]
            assert stats["in"] == 3 and stats["out"] == 3
    finally:
        hub.stop()


MESHY = """
[[forward]]
from = "jl-*"
to = "jl-*"
"""


async def test_peers_join_and_leave(
    gateways: GatewayFactory, peers: list[Peer], signal_server: Process, relay: Turn
) -> None:
    gateway = await gateways("jl-gw", MESHY, dial=False)
    options = peering(signal_server, relay)
    members: dict[str, DataConnection] = {}

    async def enter(name: str) -> None:
        peer, conn = await join(options, name, "jl-gw", serialization="json", reliable=True)
        peers.append(peer)
        members[name] = conn

    await asyncio.gather(*(enter(f"jl-{n}") for n in range(3)))
    await gateway.wait_peers("jl-0", "jl-1", "jl-2")
    members["jl-0"].send({"hello": 1})
    assert await take(members["jl-1"], 1) == [{"hello": 1}]
    assert await take(members["jl-2"], 1) == [{"hello": 1}]
    # jl-2 leaves: the others go on, nothing is sent its way.
    await next(p for p in peers if p.id == "jl-2").destroy()
    async with asyncio.timeout(10):
        while "jl-2" in gateway.peers:
            await asyncio.sleep(0.02)
    await enter("jl-3")
    await enter("jl-2")  # back, same id
    await gateway.wait_peers("jl-2", "jl-3")
    members["jl-1"].send({"hello": 2})
    for name in ("jl-0", "jl-2", "jl-3"):
        assert await take(members[name], 1) == [{"hello": 2}]
    assert gateway.statistics()["routes"]["forward#1"]["out"] == 5
    assert gateway.metrics.connections_closed >= 1


async def test_a_slow_destination_does_not_stall_the_others(
    gateways: GatewayFactory, peers: list[Peer], signal_server: Process, relay: Turn
) -> None:
    routes = '[[forward]]\nfrom = "sl-src"\nto = ["sl-fast", "sl-slow"]\n'
    gateway = await gateways("sl-gw", routes, dial=False, queue_limit=50, high_water=16 * 1024)
    slow = start_slow_peer(signal_server.url, relay, "sl-slow", "sl-gw")
    try:
        assert slow.stdout is not None
        assert await asyncio.to_thread(slow.stdout.readline) == b"connected\n"
        options = peering(signal_server, relay)
        (src, to_gw), (fast, from_gw) = await asyncio.gather(
            join(options, "sl-src", "sl-gw", serialization="json", reliable=True),
            join(options, "sl-fast", "sl-gw", serialization="json", reliable=True),
        )
        peers.extend((src, fast))
        await gateway.wait_peers("sl-src", "sl-fast", "sl-slow")
        slow.send_signal(signal.SIGSTOP)  # it stops reading and acknowledging
        count, pad = 300, "x" * 1000
        started = time.monotonic()
        received: list[int] = []

        async def receive() -> None:
            while len(received) < count:
                received.append((await from_gw.recv())["n"])

        receiver = asyncio.create_task(receive())
        for n in range(count):
            to_gw.send({"n": n, "pad": pad})
            if n % 20 == 19:
                await asyncio.sleep(0.02)
        async with asyncio.timeout(15):
            await receiver
        elapsed = time.monotonic() - started
        assert received == list(range(count))
        assert elapsed < 10
        queues = gateway.statistics()["queues"]
        assert queues["sl-fast"]["sent"] == count and queues["sl-fast"]["dropped"] == 0
        assert queues["sl-slow"]["queued"] <= 50
        assert queues["sl-slow"]["dropped"] > 0  # oldest first, counted
        dropped = gateway.statistics()["routes"]["forward#1"]["dropped"]
        assert dropped["queue_full"] == queues["sl-slow"]["dropped"]
    finally:
        slow.send_signal(signal.SIGCONT)
        slow.kill()
        slow.wait()
        if slow.stdout is not None:
            slow.stdout.close()


async def test_the_gateway_outlives_a_signaling_server_restart(
    peers: list[Peer], relay: Turn
) -> None:
    server = start_signal()
    try:
        options = GatewayOptions(
            "rs-gw",
            peering(server, relay),
            parse_routes(tomllib.loads('[[forward]]\nfrom = "rs-a"\nto = "rs-[bc]"\n')),
            dial=False,
        )
        async with Gateway(options) as gateway:
            (a, from_a), (b, to_b) = await asyncio.gather(
                join(peering(server, relay), "rs-a", "rs-gw", serialization="json"),
                join(peering(server, relay), "rs-b", "rs-gw", serialization="json"),
            )
            peers.extend((a, b))
            await gateway.wait_peers("rs-a", "rs-b")
            port = int(server.url.rsplit(":", 1)[1].split("/", 1)[0])
            server.stop()
            assert gateway.peer is not None
            async with asyncio.timeout(10):
                while gateway.peer.is_open:
                    await asyncio.sleep(0.02)
            from_a.send({"while": "down"})  # data connections do not need the server
            assert await take(to_b, 1) == [{"while": "down"}]
            server = start_signal(port)
            async with asyncio.timeout(15):
                await gateway.peer.wait_open()
            c, to_c = await join(peering(server, relay), "rs-c", "rs-gw", serialization="json")
            peers.append(c)
            await gateway.wait_peers("rs-c")
            from_a.send({"after": "restart"})
            assert await take(to_b, 1) == [{"after": "restart"}]
            assert await take(to_c, 1) == [{"after": "restart"}]
    finally:
        server.stop()
