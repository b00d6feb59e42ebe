"""``earlgate demo`` (= ``make run``): a hub, simulated devices and a live view."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time

from rich.console import Console
from rich.live import Live

from earlgate.cli import UsageError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a hub with simulated devices and a live view (make run)",
        description="Start a hub with its embedded broker, simulated Earl devices "
        "(arm-probe accelerometers, Activity Streams thermometers) and a live console view. "
        "Ctrl-C stops it.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--arms", type=int, default=3, help="simulated arm-probes")
    parser.add_argument("--thermometers", type=int, default=2)
    parser.add_argument("--period", type=float, default=0.25, help="seconds between readings")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after S seconds")
    parser.add_argument("--plain", action="store_true", help="print a summary, no live view")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.period <= 0:
        raise UsageError("--period must be positive")
    if args.arms < 0 or args.thermometers < 0:
        raise UsageError("--arms and --thermometers must not be negative")
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(_demo(args))


async def _demo(args: argparse.Namespace) -> int:
    from earlgate.client import HubClient
    from earlgate.devices import default_devices, run_device
    from earlgate.devices.monitor import Monitor
    from earlgate.hub.config import HubConfig
    from earlgate.hub.server import HubServer

    console = Console()
    server = HubServer(HubConfig(host=args.host, port=args.port))
    try:
        await server.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    url = f"ws://{args.host}:{server.port}/ws"
    console.print(f"earlgate hub listening on {url}  (Ctrl-C to stop)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if args.duration > 0:
        loop.call_later(args.duration, stop.set)

    monitor = Monitor()
    devices = default_devices(args.arms, args.thermometers, args.period)
    async with HubClient(url) as viewer:
        sub = await viewer.subscribe("earl/#")

        async def watch() -> None:
            async for message in sub:
                monitor.add(message)

        watcher = asyncio.create_task(watch())
        tasks = [asyncio.create_task(run_device(url, spec, stop)) for spec in devices]
        live_view = not args.plain and sys.stdout.isatty()
        started = time.monotonic()
        if live_view:
            with Live(monitor.table(), console=console, refresh_per_second=4) as live:
                while not stop.is_set():
                    live.update(monitor.table(hub_stats=server.stats()))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.25)
        else:
            await stop.wait()
        sent = sum(await asyncio.gather(*tasks))
        await asyncio.sleep(0.1)  # let the last deliveries arrive
        watcher.cancel()
    console.print(monitor.table(hub_stats=server.stats()))
    console.print(
        f"{len(devices)} devices published {sent} messages in "
        f"{time.monotonic() - started:.1f} s; the viewer received "
        f"{sum(s.count for s in monitor.subjects.values())}."
    )
    await server.stop()
    return 0
