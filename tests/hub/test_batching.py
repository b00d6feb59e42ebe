"""Batched delivery (``?batch=1``): several messages in one frame, only for clients that ask."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Callable

from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode

from hubproc import HubProcess

BURST = 50


async def publish_in_one_write(hub: HubProcess, count: int) -> None:
    """``count`` publish frames in one TCP write, so the hub reads them in one loop turn."""
    reader, writer = await asyncio.open_connection(hub.host, hub.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: {hub.host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    frames = [
        Frame(Opcode.TEXT, json.dumps({"type": "publish", "subject": f"b/{n}", "data": n}).encode())
        for n in range(count)
    ]
    writer.write(b"".join(frame.serialize(mask=True, extensions=[]) for frame in frames))
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()


async def frames_for_a_burst(hub: HubProcess, query: str = "") -> list[str]:
    """Subscribe with ``query``, publish a burst, return the frames that carried it."""
    async with connect(hub.ws_url + query, max_size=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "subject": "b/#", "id": 1}))
        assert json.loads(await ws.recv())["type"] == "ack"
        await publish_in_one_write(hub, BURST)
        frames: list[str] = []
        got = 0
        while got < BURST:
            frame = str(await asyncio.wait_for(ws.recv(), 5))
            frames.append(frame)
            got += len(frame.split("\n"))
        return frames


Factory = Callable[..., HubProcess]


async def test_a_client_that_asks_gets_messages_batched_in_order(hub_factory: Factory) -> None:
    hub = hub_factory()
    batched = await frames_for_a_burst(hub, "?batch=1")
    plain = await frames_for_a_burst(hub)
    messages = [json.loads(line) for frame in batched for line in frame.split("\n")]
    assert [m["data"] for m in messages] == list(range(BURST))
    assert len(batched) < BURST / 5, f"{len(batched)} frames for {BURST} messages"
    assert len(plain) == BURST and all("\n" not in f for f in plain)


async def test_batches_are_cut_at_batch_max_bytes(hub_factory: Factory) -> None:
    hub = hub_factory("--batch-max-bytes", "300")
    batched = await frames_for_a_burst(hub, "?batch=1")
    assert len(batched) > 1
    assert all(len(frame.encode()) <= 300 for frame in batched)


async def test_batch_max_bytes_0_never_batches(hub_factory: Factory) -> None:
    hub = hub_factory("--batch-max-bytes", "0")
    frames = await frames_for_a_burst(hub, "?batch=1")
    assert len(frames) == BURST
