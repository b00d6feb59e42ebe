"""``earlgate ble``: the gateway's BLE side, Earl devices to hub subjects and back.

Three centrals: bleak on a BlueZ adapter (``--adapter hci0``, the default:
a Raspberry Pi or any Linux host), bumble on a controller through a bumble
transport (``--transport usb:0``, ``hci-socket:0``...), or virtual Earl
devices on an in-process simulated link (``--simulate accel:2,ball``, with
the connection-interval model; for trying it out without hardware).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from typing import Any

__all__ = ["register"]

EXIT_FAILED = 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "ble",
        help="connect Earl devices over Bluetooth LE to a hub",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument(
        "--hub", required=True, help="hub WebSocket URL, e.g. ws://127.0.0.1:8080/ws"
    )
    parser.add_argument("--token", help="a token for a hub with auth")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--device", action="append", metavar="NAME|ADDRESS", help="a device (repeatable)"
    )
    which.add_argument("--scan", metavar="PREFIX", help="every device whose name starts so")
    which.add_argument(
        "--simulate",
        metavar="KIND[:N],...",
        help="virtual devices on a simulated link, e.g. accel:2,temp,ball",
    )
    parser.add_argument("--adapter", default="hci0", help="BlueZ adapter for bleak (default hci0)")
    parser.add_argument(
        "--transport", help="use bumble on this controller transport instead (usb:0, hci-socket:0)"
    )
    parser.add_argument(
        "--interval-ms",
        type=float,
        default=30.0,
        help="--simulate: the modelled connection interval (7.5-4000 ms, default 30)",
    )
    parser.add_argument("--metrics-host", default="127.0.0.1", help="(default 127.0.0.1)")
    parser.add_argument(
        "--metrics-port", type=int, metavar="P", help="serve /metrics on this port (0 = any)"
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from earlgate.cli import UsageError

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    if args.simulate is not None:
        from earlgate.ble.fleet import parse_simulate

        try:
            parse_simulate(args.simulate)
        except ValueError as exc:
            raise UsageError(f"--simulate: {exc}") from None
        if not 7.5 <= args.interval_ms <= 4000:
            raise UsageError(f"--interval-ms: {args.interval_ms:g} is outside 7.5-4000")
    if args.duration is not None and args.duration <= 0:
        raise UsageError("--duration must be positive")
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        raise UsageError(f"--metrics-port: {args.metrics_port} is not a port (0-65535)")
    try:
        stats = asyncio.run(serve(args))
    except Exception as exc:
        print(f"earlgate ble: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(stats))
    return 0


def _warn_unconnected(client: Any) -> None:
    if not client.connected.is_set():
        logging.getLogger(__name__).warning("hub %s not answering yet; still trying", client.url)


async def _serve_metrics(gateway: Any, host: str, port: int) -> asyncio.Server:
    from earlgate.ble.metrics import make_registry
    from earlgate.metrics.endpoint import serve_metrics

    try:
        server = await serve_metrics(make_registry(gateway.core, gateway.central), host, port)
    except OSError as exc:
        raise OSError(f"cannot serve /metrics on {host}:{port}: {exc.strerror or exc}") from None
    bound = server.sockets[0].getsockname()[1]
    print(f"earlgate ble: metrics http://{host}:{bound}/metrics", file=sys.stderr, flush=True)
    return server


async def serve(args: argparse.Namespace) -> dict[str, Any]:
    """Run the gateway's BLE side until SIGINT/SIGTERM or ``--duration``; its statistics."""
    from earlgate.ble.central import Central
    from earlgate.ble.gateway import BleGateway
    from earlgate.client import HubClient

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    fleet = None
    transport = None
    targets: list[str] = list(args.device or [])
    central: Central
    if args.simulate is not None:
        from earlgate.ble.fleet import Fleet, parse_simulate

        devices = parse_simulate(args.simulate)
        fleet = await Fleet.create(devices, interval_s=args.interval_ms / 1000)
        central = fleet.central
        targets = [name for _, name in devices]
    elif args.transport is not None:
        from bumble.device import Device
        from bumble.hci import Address
        from bumble.transport import open_transport

        from earlgate.ble.bumble_central import BumbleCentral

        transport = await open_transport(args.transport)
        device = Device.with_hci(
            "earl-gateway", Address("F0:F1:F2:F3:F4:F5"), transport.source, transport.sink
        )
        central = BumbleCentral(device)
    else:
        from earlgate.ble.bleak_central import BleakCentral

        central = BleakCentral(args.adapter)
    client = HubClient(args.hub, args.token)
    await client.connect(wait=False)  # keeps trying; readings queue meanwhile
    loop.call_later(5.0, _warn_unconnected, client)
    gateway = BleGateway(client, central, targets, scan_prefix=args.scan)
    metrics = None
    try:
        if args.metrics_port is not None:
            metrics = await _serve_metrics(gateway, args.metrics_host, args.metrics_port)
        await gateway.run(stop)
    finally:
        if metrics is not None:
            metrics.close()
            await metrics.wait_closed()
        if fleet is not None:
            await fleet.close()
        if transport is not None:
            await transport.close()
        await client.close()
    return gateway.statistics()
