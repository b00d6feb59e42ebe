"""Python peers talking through each signaling server and a coturn relay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiortc import RTCIceServer
from rtcprocs import SERVER_KINDS, Server, Turn, start_signal

from earlgate.rtc import DataConnection, DataConnectionError, Peer, PeerError

BIG_TEXT = "0123456789abcdé" * 2800  # 42,000 UTF-8 bytes: three chunks
BIG_BYTES = bytes(range(256)) * 160  # 40,960 bytes


def make_peer(server: Server, turn: Turn, peer_id: str | None = None, **kw: Any) -> Peer:
    return Peer(
        peer_id,
        host="127.0.0.1",
        port=server.port,
        ice_servers=[turn.ice_server],
        ice_transport_policy="relay",
        **kw,
    )


async def echo(peer: Peer) -> None:
    async for conn in peer.connections():
        conn.on("data", conn.send)


@pytest.fixture
async def pair(peer_server: Server, turn: Turn) -> AsyncIterator[tuple[Peer, Peer]]:
    """An echoing answerer and a caller, both open."""
    answerer = make_peer(peer_server, turn)
    caller = make_peer(peer_server, turn)
    await asyncio.gather(answerer.open(), caller.open())
    task = asyncio.create_task(echo(answerer))
    yield answerer, caller
    await asyncio.gather(caller.destroy(), answerer.destroy())
    await task


async def roundtrip(conn: DataConnection, values: list[Any]) -> list[Any]:
    for value in values:
        conn.send(value)
    async with asyncio.timeout(10):
        return [await conn.recv() for _ in values]


def same_items(got: list[Any], expected: list[Any]) -> bool:
    """Unordered channels (peerjs's default) may reorder messages."""
    return sorted(map(repr, got)) == sorted(map(repr, expected))


async def test_binary_round_trip_with_chunking(pair: tuple[Peer, Peer]) -> None:
    answerer, caller = pair
    assert answerer.id is not None
    conn = await caller.connect(answerer.id)  # peerjs default: binary
    values = [{"n": 1, "list": [1, 2.5, True, None], "t": "héllo"}, b"\x00\xff", BIG_TEXT]
    values.append(BIG_BYTES)
    assert same_items(await roundtrip(conn, values), values)
    frames = conn._codec.encode(BIG_TEXT)  # what went on the wire for the big one
    assert len(frames) == 3 and all(len(f) <= 16300 + 64 for f in frames)


async def test_json_round_trip_and_limits(pair: tuple[Peer, Peer]) -> None:
    answerer, caller = pair
    assert answerer.id is not None
    conn = await caller.connect(answerer.id, serialization="json", reliable=True)
    values = [{"a": [1, "é", None]}, 3, "text", [True, 0.5]]
    assert await roundtrip(conn, values) == values  # reliable: ordered
    # PEERJS.md: "UTF-8 JSON sent as binary frames ... Accept text frames too".
    assert conn.channel is not None
    conn.channel.send('{"as":"text"}')
    async with asyncio.timeout(10):
        assert await conn.recv() == {"as": "text"}
    with pytest.raises(DataConnectionError) as info:
        conn.send("x" * 16300)
    assert info.value.type == "message-too-big"


async def test_raw_round_trip(pair: tuple[Peer, Peer]) -> None:
    answerer, caller = pair
    assert answerer.id is not None
    conn = await caller.connect(answerer.id, serialization="raw", reliable=True)
    values = ["plain text", b"\x00\x01\x02", ""]
    assert await roundtrip(conn, values) == values
    with pytest.raises(TypeError):
        conn.send({"not": "raw"})


async def test_offer_options_reach_the_answerer(peer_server: Server, turn: Turn) -> None:
    async with make_peer(peer_server, turn) as answerer, make_peer(peer_server, turn) as caller:
        assert answerer.id is not None
        connecting = asyncio.create_task(
            caller.connect(
                answerer.id,
                label="probe",
                serialization="json",
                metadata={"room": 7},
                max_retransmits=0,
            )
        )
        async with asyncio.timeout(10):
            incoming = await answerer.accept()
            conn = await connecting
            await incoming.wait_open()
        assert (incoming.peer, incoming.label, incoming.serialization) == (
            caller.id,
            "probe",
            "json",
        )
        assert incoming.metadata == {"room": 7} and incoming.reliable is False
        assert incoming.connection_id == conn.connection_id
        # Partial reliability travels in the channel's own open message.
        assert incoming.channel is not None and incoming.channel.maxRetransmits == 0
        assert incoming.channel.ordered is False
        # Only relay candidates with the relay policy: the traffic went through coturn.
        sdp = conn.pc.localDescription.sdp
        candidates = [line for line in sdp.splitlines() if line.startswith("a=candidate")]
        assert candidates and all(" typ relay" in line for line in candidates)
        closed = asyncio.Event()
        incoming.on("close", closed.set)
        await conn.close()
        async with asyncio.timeout(10):
            await closed.wait()
        assert [v async for v in incoming] == []


async def test_reliable_keeps_order(pair: tuple[Peer, Peer]) -> None:
    answerer, caller = pair
    assert answerer.id is not None
    conn = await caller.connect(answerer.id, reliable=True)
    values = list(range(300))
    assert await roundtrip(conn, values) == values


async def test_a_failing_handler_does_not_break_the_connection(pair: tuple[Peer, Peer]) -> None:
    answerer, caller = pair
    assert answerer.id is not None
    conn = await caller.connect(answerer.id, serialization="json", reliable=True)

    def explode(value: object) -> None:
        raise RuntimeError("handler bug")

    conn.on("data", explode)
    assert await roundtrip(conn, [1, 2]) == [1, 2]
    assert conn.open


async def test_server_errors_carry_peerjs_types(peer_server: Server, turn: Turn) -> None:
    async with make_peer(peer_server, turn, "taken-id") as first:
        errors: list[PeerError] = []
        second = make_peer(peer_server, turn, "taken-id", reconnect=False)
        second.on("error", errors.append)
        with pytest.raises(PeerError) as info:
            await second.open()
        assert info.value.type == "unavailable-id"
        assert [e.type for e in errors] == ["unavailable-id"]

        wrong_key = Peer(port=peer_server.port, key="wrong", reconnect=False)
        with pytest.raises(PeerError) as info:
            await wrong_key.open()
        assert info.value.type == "server-error" and "Invalid key" in info.value.message

        with pytest.raises(PeerError) as info:
            async with asyncio.timeout(15):
                await first.connect("nobody-here")
        assert info.value.type == "peer-unavailable"
    with pytest.raises(ValueError, match="invalid-id"):
        Peer("bad id!")


async def test_unreachable_server_is_a_network_error() -> None:
    from rtcprocs import free_port

    peer = Peer("lonely", port=free_port(), reconnect=False)
    with pytest.raises(PeerError) as info:
        await peer.open()
    assert info.value.type == "network"


@pytest.mark.parametrize("kind", SERVER_KINDS)
async def test_server_restart_keeps_data_channels(turn: Turn, kind: str) -> None:
    server = start_signal(kind)
    try:
        async with make_peer(server, turn, "steady-a") as a, make_peer(server, turn) as b:
            task = asyncio.create_task(echo(a))
            conn = await b.connect("steady-a", serialization="json", reliable=True)
            events: list[str] = []
            b.on("disconnected", lambda _id: events.append("disconnected"))
            b.on("open", lambda _id: events.append("open"))

            server.stop()
            async with asyncio.timeout(10):
                while not b.disconnected or not a.disconnected:
                    await asyncio.sleep(0.05)
            assert await roundtrip(conn, ["while the server is down"]) == [
                "while the server is down"
            ]
            server = start_signal(kind, server.port)
            async with asyncio.timeout(15):
                await asyncio.gather(a.wait_open(), b.wait_open())
            assert events == ["disconnected", "open"]
            assert await roundtrip(conn, ["old channel"]) == ["old channel"]
            fresh = await b.connect("steady-a", serialization="json")
            assert await roundtrip(fresh, ["new channel"]) == ["new channel"]
            await a.destroy()
            await task
    finally:
        server.stop()


def _heartbeats(frames: list[str]) -> Callable[[], int]:
    return lambda: sum('"HEARTBEAT"' in f for f in frames)


async def test_heartbeat_and_message_shapes_seen_by_a_server() -> None:
    """A scripted server: what our peer sends, frame by frame."""
    import websockets

    frames: list[str] = []
    paths: list[str] = []

    async def handler(ws: Any) -> None:
        paths.append(ws.request.path)
        await ws.send('{"type":"OPEN"}')
        await ws.send("not json")  # dropped, the peer stays
        async for frame in ws:
            frames.append(frame)

    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        peer = Peer("hb", port=port, path="/base", key="k", heartbeat_interval=0.05)
        await peer.open()
        async with asyncio.timeout(5):
            while _heartbeats(frames)() < 3:
                await asyncio.sleep(0.02)
        assert frames[0] == '{"type":"HEARTBEAT"}'
        assert paths[0].startswith("/base/peerjs?key=k&id=hb&token=")
        await peer.destroy()


async def test_a_socket_closed_before_open_is_an_error() -> None:
    import websockets

    async def handler(ws: Any) -> None:
        await ws.close()

    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(PeerError) as info:
            async with asyncio.timeout(10):
                await Peer("early", port=port).open()
        assert info.value.type == "socket-closed"


async def test_relay_only_with_refused_turn_credentials_fails_at_once(
    peer_server: Server, turn: Turn
) -> None:
    refused = RTCIceServer(turn.url, "test", "wrong password")
    async with (
        make_peer(peer_server, turn) as good,
        Peer(port=peer_server.port, ice_servers=[refused], ice_transport_policy="relay") as bad,
    ):
        assert good.id is not None
        with pytest.raises(DataConnectionError) as info:
            async with asyncio.timeout(10):
                await bad.connect(good.id)
        assert info.value.type == "negotiation-failed"
        assert "no local ICE candidates" in info.value.message
        assert bad.connections_by_peer == {}


async def test_sending_before_open_is_not_open_yet(peer_server: Server, turn: Turn) -> None:
    async with make_peer(peer_server, turn) as answerer, make_peer(peer_server, turn) as caller:
        assert answerer.id is not None
        early: list[str] = []

        def try_send(conn: DataConnection) -> None:
            try:
                conn.send("too soon")
            except DataConnectionError as exc:
                early.append(exc.type)

        answerer.on("connection", try_send)  # answered, ICE not even started
        conn = await caller.connect(answerer.id)
        assert early == ["not-open-yet"]
        incoming = await answerer.accept()
        await incoming.wait_open()
        incoming.send("now")
        async with asyncio.timeout(10):
            assert await conn.recv() == "now"
