"""``earlgate device --virtual KIND``: a virtual Earl device serving the Earl GATT profile.

With ``--transport`` (``usb:0``, ``hci-socket:0``, ``serial:/dev/ttyACM0``,
any bumble transport) it advertises on that controller, for a gateway on
another machine. Without one it runs on an in-process simulated link (the
connection-interval model, ``--interval-ms``) with a local central that
connects to it and prints what it notifies, one JSON line each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "device",
        help="run a virtual Earl device (accel, temp, ball) over Bluetooth LE",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("--virtual", required=True, choices=["accel", "temp", "ball"])
    parser.add_argument("--name", help="the advertised name (default earl-KIND-1)")
    parser.add_argument("--transport", help="a bumble controller transport (usb:0, hci-socket:0)")
    parser.add_argument("--period", type=float, default=0.25, help="seconds between readings")
    parser.add_argument(
        "--interval-ms",
        type=float,
        default=30.0,
        help="without --transport: the modelled connection interval (default 30)",
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from earlgate.cli import UsageError

    name = args.name or f"earl-{args.virtual}-1"
    if not name or len(name.encode()) > 26:
        raise UsageError("--name: 1-26 bytes (it travels in the advertisement)")
    if not 0.005 <= args.period <= 3600:
        raise UsageError("--period: 0.005-3600 s")
    if not 7.5 <= args.interval_ms <= 4000:
        raise UsageError(f"--interval-ms: {args.interval_ms:g} is outside 7.5-4000")
    if args.duration is not None and args.duration <= 0:
        raise UsageError("--duration must be positive")
    try:
        stats = asyncio.run(serve(args, name))
    except Exception as exc:
        print(f"earlgate device: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(stats))
    return 0


async def serve(args: argparse.Namespace, name: str) -> dict[str, Any]:
    from earlgate.ble import profile
    from earlgate.ble.virtual import VirtualEarl, address_for

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    if args.transport is not None:
        from bumble.device import Device
        from bumble.hci import Address
        from bumble.transport import open_transport

        transport = await open_transport(args.transport)
        device = Device.with_hci(name, Address(address_for(name)), transport.source, transport.sink)
        earl = VirtualEarl(device, args.virtual, period=args.period)
        await earl.start()
        print(f"{name} advertising on {args.transport} as {address_for(name)}", flush=True)
        try:
            await stop.wait()
        finally:
            await earl.stop()
            await transport.close()
        return earl.statistics()

    from earlgate.ble.fleet import Fleet

    fleet = await Fleet.create(
        [(args.virtual, name)], interval_s=args.interval_ms / 1000, period=args.period
    )
    earl = fleet.devices[name]
    try:
        await fleet.central.start()
        link = await fleet.central.connect(name, 5.0)
        info = profile.decode_info(await link.read(profile.INFO_UUID))
        print(
            json.dumps(
                {"connected": name, "kind": info.kind, "units": info.units, "rate_hz": info.rate_hz}
            ),
            flush=True,
        )

        def show(data: bytes) -> None:
            try:
                r = profile.decode_reading(data)
                print(
                    json.dumps({"seq": r.seq, "clock_us": r.clock_us, "value": r.value}), flush=True
                )
            except profile.ProfileError as exc:
                print(json.dumps({"error": str(exc)}), flush=True)

        await link.subscribe(profile.READINGS_UUID, show)
        await stop.wait()
    finally:
        await fleet.central.close()
        await fleet.close()
    return earl.statistics()
