"""``earlgate peer``: a command-line PeerJS peer.

Prints one JSON line per event on stdout (``open``, ``connection``, ``data``,
``close``, ``error``); bytes are written as ``{"$bytes": "<hex>"}``. With
``--echo`` it sends every value it receives back on the same connection; with
``--connect OTHER --send JSON`` it opens a connection, sends each value and
waits for ``--expect`` values back.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any
from urllib.parse import urlsplit

import orjson

from earlgate.cli import UsageError

SERIALIZATIONS = ("binary", "json", "raw")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "peer",
        help="a WebRTC peer that talks to PeerJS peers through a signaling server",
        description="A WebRTC peer (aiortc) compatible with the peerjs browser client.",
    )
    parser.add_argument("--id", help="our peer id (default: one from the server)")
    parser.add_argument(
        "--signal",
        default="http://127.0.0.1:9000",
        metavar="URL",
        help="the signaling server, http[s]://HOST:PORT/PATH (default %(default)s)",
    )
    parser.add_argument("--key", default="peerjs", help="the server's key (default peerjs)")
    parser.add_argument(
        "--echo", action="store_true", help="send every received value back on its connection"
    )
    parser.add_argument("--connect", metavar="OTHER", help="open a data connection to OTHER")
    parser.add_argument(
        "--send", action="append", default=[], metavar="JSON", help="a value to send (repeat)"
    )
    parser.add_argument("--serialization", choices=SERIALIZATIONS, default="binary")
    parser.add_argument(
        "--reliable", action="store_true", help="an ordered channel (peerjs reliable: true)"
    )
    parser.add_argument(
        "--expect", type=int, default=0, metavar="N", help="with --connect: values to wait for"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="with --connect: give up after S"
    )
    parser.add_argument("--turn", metavar="URL", help="a TURN server, turn:HOST:PORT")
    parser.add_argument("--turn-user", metavar="U")
    parser.add_argument("--turn-pass", metavar="P")
    parser.add_argument("--relay-only", action="store_true", help="use TURN relay candidates only")
    parser.set_defaults(func=run)


def _server(url: str) -> tuple[str, int, str, bool]:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise UsageError(f"--signal {url!r}: give http://HOST:PORT[/PATH]")
    secure = parts.scheme in ("https", "wss")
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError as exc:
        raise UsageError(f"--signal {url!r}: {exc}") from exc
    return parts.hostname, port, parts.path or "/", secure


def _options(args: argparse.Namespace) -> dict[str, Any]:
    from aiortc import RTCIceServer

    from earlgate.rtc.protocol import is_valid_id

    if args.id is not None and not is_valid_id(args.id):
        raise UsageError(f"--id {args.id!r}: letters and digits, joined by single ' ', '_', '-'")
    if args.send and not args.connect:
        raise UsageError("--send needs --connect OTHER")
    if args.expect and not args.connect:
        raise UsageError("--expect needs --connect OTHER")
    if (args.turn_user or args.turn_pass or args.relay_only) and not args.turn:
        raise UsageError("--turn-user, --turn-pass and --relay-only need --turn URL")
    if args.turn and not args.turn.startswith(("turn:", "turns:")):
        raise UsageError(f"--turn {args.turn!r}: give turn:HOST:PORT")
    host, port, path, secure = _server(args.signal)
    servers = [RTCIceServer(args.turn, args.turn_user, args.turn_pass)] if args.turn else []
    return {
        "host": host,
        "port": port,
        "path": path,
        "key": args.key,
        "secure": secure,
        "ice_servers": servers,
        "ice_transport_policy": "relay" if args.relay_only else "all",
    }


def _values(args: argparse.Namespace) -> list[Any]:
    values = []
    for text in args.send:
        try:
            values.append(orjson.loads(text))
        except orjson.JSONDecodeError as exc:
            raise UsageError(f"--send {text!r} is not JSON: {exc}") from exc
    return values


def _default(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": bytes(value).hex()}
    raise TypeError


def _print(event: str, **fields: Any) -> None:
    line = orjson.dumps({"event": event, **fields}, default=_default)
    sys.stdout.write(line.decode() + "\n")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    options = _options(args)
    values = _values(args)
    return asyncio.run(_main(args, options, values))


async def _main(args: argparse.Namespace, options: dict[str, Any], values: list[Any]) -> int:
    from earlgate.rtc import DataConnection, Peer, PeerError

    peer = Peer(args.id, **options)

    tasks: set[asyncio.Task[None]] = set()

    async def relay(conn: DataConnection, echo: bool) -> None:
        async for value in conn:
            _print("data", peer=conn.peer, label=conn.label, data=value)
            if echo:
                conn.send(value)
        _print("close", peer=conn.peer, label=conn.label)

    async def serve() -> None:
        async for conn in peer.connections():
            _print("connection", peer=conn.peer, label=conn.label, serialization=conn.serialization)
            task = asyncio.create_task(relay(conn, args.echo))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    peer.on("error", lambda exc: _print("error", type=str(exc.type), message=exc.message))
    peer.on("disconnected", lambda _id: _print("disconnected"))
    try:
        _print("open", id=await peer.open())
        server = asyncio.create_task(serve())
        if args.connect:
            async with asyncio.timeout(args.timeout):
                conn = await peer.connect(
                    args.connect, serialization=args.serialization, reliable=args.reliable
                )
                for value in values:
                    conn.send(value)
                for _ in range(args.expect):
                    value = await conn.recv()
                    _print("data", peer=conn.peer, label=conn.label, data=value)
                await conn.wait_drained()
            if not args.echo:
                await conn.close()
                server.cancel()
                return 0
            tasks.add(asyncio.create_task(relay(conn, echo=True)))
        await server
        return 0
    except PeerError as exc:
        print(f"earlgate peer: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"earlgate peer: nothing more after {args.timeout} s", file=sys.stderr)
        return 1
    finally:
        await peer.destroy()
