"""What carries accepted sockets: uvloop's own transports on uvloop, aiofastnet's on asyncio.

The hub's published and delivered frames, its HTTP front and the MQTT port
must behave the same on either (docs/hub.md, "Memory per connection").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
import pytest
import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from earlgate.hub.config import HubConfig
from earlgate.hub.server import HubServer
from earlgate.server.listener import Listener, bind_socket


class Collect(WSListener):
    def __init__(self) -> None:
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            self.frames.put_nowait(orjson.loads(frame.get_payload_as_bytes()))


async def _next(listener: Collect, kind: str) -> dict[str, Any]:
    while True:
        frame = await asyncio.wait_for(listener.frames.get(), 5)
        if frame.get("type") == kind:
            return frame


async def _round_trip(hub: HubServer) -> tuple[str, dict[str, Any], bytes]:
    """Subscribe, publish from another connection, read /healthz: what each gave."""
    url = f"ws://127.0.0.1:{hub.port}/ws"
    sub_transport, sub = await ws_connect(Collect, url)
    pub_transport, _ = await ws_connect(Collect, url)
    assert isinstance(sub, Collect)
    sub_transport.send(WSMsgType.TEXT, b'{"type":"subscribe","subject":"t/1","id":1}')
    await _next(sub, "ack")
    pub_transport.send(WSMsgType.TEXT, b'{"type":"publish","subject":"t/1","data":{"v":7}}')
    message = await _next(sub, "publish")
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    sub_transport.disconnect()
    pub_transport.disconnect()
    listener = hub._server
    assert isinstance(listener, Listener)
    return listener.transports, message, answer


def _run(main: Callable[[], Coroutine[Any, Any, Any]], loop: asyncio.AbstractEventLoop) -> Any:
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


@pytest.mark.parametrize(
    ("make_loop", "expected"),
    [(uvloop.new_event_loop, "loop"), (asyncio.new_event_loop, "aiofastnet")],
    ids=["uvloop", "asyncio"],
)
def test_the_hub_serves_on_the_transports_chosen_for_its_loop(
    make_loop: Callable[[], asyncio.AbstractEventLoop], expected: str
) -> None:
    async def main() -> tuple[str, dict[str, Any], bytes]:
        hub = HubServer(HubConfig(port=0))
        await hub.start()
        try:
            return await _round_trip(hub)
        finally:
            await hub.stop()

    transports, message, answer = _run(main, make_loop())
    assert transports == expected
    assert message["subject"] == "t/1" and message["data"] == {"v": 7}
    assert answer.startswith(b"HTTP/1.1 200")


def test_either_transport_can_be_asked_for_and_nothing_else() -> None:
    async def main() -> list[str]:
        chosen = []
        for asked in ("loop", "aiofastnet"):
            sock = bind_socket("127.0.0.1", 0)
            listener = Listener(sock, asyncio.Protocol, None, transports=asked)
            chosen.append(listener.transports)
            listener.close()
        sock = bind_socket("127.0.0.1", 0)
        with pytest.raises(ValueError, match="must be one of auto, loop, aiofastnet"):
            Listener(sock, asyncio.Protocol, None, transports="epoll")
        sock.close()
        return chosen

    assert _run(main, uvloop.new_event_loop()) == ["loop", "aiofastnet"]


def test_an_mqtt_client_is_served_on_uvloop_transports() -> None:
    async def main() -> bytes:
        hub = HubServer(HubConfig(port=0, mqtt_port=0))
        await hub.start()
        try:
            assert hub.mqtt.port is not None
            reader, writer = await asyncio.open_connection("127.0.0.1", hub.mqtt.port)
            # CONNECT, MQTT 3.1.1, clean session, keep alive 60, client id "u".
            writer.write(b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01u")
            connack = await asyncio.wait_for(reader.readexactly(4), 5)
            writer.close()
            return connack
        finally:
            await hub.stop()

    assert _run(main, uvloop.new_event_loop()) == b"\x20\x02\x00\x00"
