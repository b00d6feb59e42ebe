"""Minimal hubs on two WebSocket libraries, to choose the library by measurement.

Each speaks the subset of PROTOCOL.md the load generator needs (subscribe;
publish/publisher forwarded verbatim to the subject's subscribers) with no
validation, metrics or limits: the cost measured is the library's. Run as
``python -m earlgate.bench.naive_hubs {websockets,picows} --port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections import defaultdict
from typing import Any

import orjson


async def serve_websockets(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    subscribers: defaultdict[str, set[ServerConnection]] = defaultdict(set)

    async def handler(ws: ServerConnection) -> None:
        mine: list[str] = []
        try:
            async for text in ws:
                message = orjson.loads(text)
                kind = message.get("type")
                if kind == "subscribe":
                    subscribers[message["subject"]].add(ws)
                    mine.append(message["subject"])
                elif kind in ("publish", "publisher"):
                    # websockets' recommended fan-out: never await each client in turn.
                    broadcast(subscribers.get(message["subject"], ()), text)
        finally:
            for subject in mine:
                subscribers[subject].discard(ws)

    async with serve(handler, "127.0.0.1", port, compression=None, max_queue=None):
        print(f"naive websockets hub listening on ws://127.0.0.1:{port}/ws", flush=True)
        await _until_signalled()


async def serve_picows(port: int) -> None:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    subscribers: defaultdict[str, set[WSTransport]] = defaultdict(set)

    class Listener(WSListener):
        def __init__(self) -> None:
            self.mine: list[str] = []

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type is not WSMsgType.TEXT:
                return
            payload = frame.get_payload_as_bytes()
            message: dict[str, Any] = orjson.loads(payload)
            kind = message.get("type")
            if kind == "subscribe":
                subscribers[message["subject"]].add(transport)
                self.mine.append(message["subject"])
            elif kind in ("publish", "publisher"):
                for target in subscribers.get(message["subject"], ()):
                    target.send(WSMsgType.TEXT, payload)

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            for subject in self.mine:
                subscribers[subject].discard(transport)

    server = await ws_create_server(lambda request: Listener(), "127.0.0.1", port)
    print(f"naive picows hub listening on ws://127.0.0.1:{port}/ws", flush=True)
    async with server:
        await _until_signalled()


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("library", choices=["websockets", "picows"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve = serve_websockets if args.library == "websockets" else serve_picows
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
