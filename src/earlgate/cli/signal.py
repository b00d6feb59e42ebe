"""``earlgate signal``: run a PeerJS-compatible signaling server (a PeerServer drop-in)."""

from __future__ import annotations

import argparse
import logging
import ssl

from earlgate.cli import (
    UsageError,
    add_setting_options,
    check_readable,
    run_event_loop,
    setup_logging,
)
from earlgate.signal.config import SignalConfig
from earlgate.signal.errors import ConfigError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    defaults = SignalConfig()
    parser = subparsers.add_parser(
        "signal",
        help="run the PeerJS-compatible WebRTC signaling server",
        description="Run a drop-in for PeerJS's PeerServer: HTTP routes under PATH and "
        "the WebSocket at PATH/peerjs. Timeouts are in seconds.",
    )
    parser.add_argument("--host", default=defaults.host, help="address to listen on")
    parser.add_argument("--port", type=int, default=defaults.port, help="TCP port (0 = any)")
    parser.add_argument("--path", default=defaults.path, help="URL path the server lives under")
    parser.add_argument("--key", default=defaults.key, help="the key PeerJS clients must pass")
    parser.add_argument(
        "--allow-discovery", action="store_true", help="serve GET PATH/KEY/peers (else 401)"
    )
    parser.add_argument(
        "--alive-timeout",
        type=float,
        default=defaults.alive_timeout,
        metavar="S",
        help="drop a peer silent (no HEARTBEAT) for this long",
    )
    parser.add_argument(
        "--expire-timeout",
        type=float,
        default=defaults.expire_timeout,
        metavar="S",
        help="EXPIRE messages queued for an absent peer after this long",
    )
    parser.add_argument(
        "--concurrent-limit", type=int, default=defaults.concurrent_limit, metavar="N"
    )
    parser.add_argument(
        "--max-frame",
        type=int,
        default=defaults.max_frame,
        metavar="BYTES",
        help="largest client message; a larger one closes that connection with 1009",
    )
    parser.add_argument(
        "--send-buffer",
        type=int,
        default=defaults.send_buffer,
        metavar="BYTES",
        help="unsent bytes to one peer before a send to it counts as failed",
    )
    parser.add_argument(
        "--max-queued",
        type=int,
        default=defaults.max_queued_bytes,
        metavar="BYTES",
        help="bytes held for absent peers, all queues together",
    )
    parser.add_argument(
        "--max-depth",
        type=int,
        default=defaults.max_depth,
        help=f"nesting levels per client message; deeper is dropped (default {defaults.max_depth})",
    )
    seconds = [
        ("--handshake-timeout", "WebSocket handshake, and each HTTP request's head and body"),
        ("--idle-timeout", "close a keep-alive HTTP connection idle this long"),
    ]
    add_setting_options(parser, defaults, seconds)
    counts = [("--max-connections-per-address", "connections per source IP (0 = unlimited)")]
    add_setting_options(parser, defaults, counts, seconds=False)
    parser.add_argument("--tls-cert", metavar="FILE")
    parser.add_argument("--tls-key", metavar="FILE")
    parser.add_argument(
        "--uvloop",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run on uvloop where it is installed (default; --no-uvloop: asyncio's own loop)",
    )
    parser.add_argument(
        "--pages",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve the browser pages: /gateway (a browser as a gateway), /arm (default; "
        "--no-pages: PeerServer's routes only)",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.set_defaults(func=run)


def config_from(args: argparse.Namespace) -> SignalConfig:
    config = SignalConfig(
        host=args.host,
        port=args.port,
        path=args.path,
        key=args.key,
        allow_discovery=args.allow_discovery,
        alive_timeout=args.alive_timeout,
        expire_timeout=args.expire_timeout,
        concurrent_limit=args.concurrent_limit,
        max_frame=args.max_frame,
        send_buffer=args.send_buffer,
        max_queued_bytes=args.max_queued,
        max_depth=args.max_depth,
        handshake_timeout=args.handshake_timeout,
        idle_timeout=args.idle_timeout,
        max_connections_per_address=args.max_connections_per_address,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )
    try:
        config.validate()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    check_readable(args, "tls_cert", "tls_key")
    from earlgate.signal.server import make_ssl_context

    try:
        make_ssl_context(config)
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(f"--tls-cert/--tls-key: not a usable certificate and key: {exc}") from None
    return config


def run(args: argparse.Namespace) -> int:
    config = config_from(args)
    setup_logging(args.log_level)
    logging.getLogger("picows").setLevel(logging.WARNING)
    from earlgate.signal.server import SignalServer

    async def main() -> None:
        server = SignalServer(config, pages=args.pages)
        try:
            await server.start()
        except OSError as exc:
            raise UsageError(f"cannot listen on {config.host}:{config.port}: {exc}") from None
        http = "https" if config.tls_cert else "http"
        ws = "wss" if config.tls_cert else "ws"
        where = f"{config.host}:{server.port}"
        print(
            f"earlgate signal listening on {http}://{where}{config.base_path} "
            f"(WebSocket {ws}://{where}{config.ws_path}, key {config.key})",
            flush=True,
        )
        if args.pages:
            print(f"pages: {http}://{where}/gateway?id=NAME, {http}://{where}/arm", flush=True)
        await server.serve_forever()

    run_event_loop(main(), args.uvloop)
    return 0
