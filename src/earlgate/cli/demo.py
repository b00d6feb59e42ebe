"""``earlgate demo`` (= ``make run``): a hub, simulated devices, a ball-probe and a live view.

The hub serves the dashboard at its own address (``http://HOST:PORT/``,
docs/dashboard.md); the demo prints that URL beside the console view. The
simulated ball-probe is ``earlgate led serve --simulate`` run in this process
(:class:`earlgate.led.serve.LedServer` on a :class:`SimulatedTCA6507`), so the
dashboard's LED panel is live out of the box.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live

from earlgate.cli import UsageError

if TYPE_CHECKING:
    from earlgate.client import HubClient

DEFAULT_LED_SUBJECT = "earl/ball-01/led"
# The thermometers' subjects are durable in the demo, so the dashboard has
# offsets and an epoch to show.
DEMO_DURABLE = ("earl/+/temperature",)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a hub with simulated devices, a dashboard and a live view (make run)",
        description="Start a hub with its embedded broker, simulated Earl devices "
        "(arm-probe accelerometers, Activity Streams thermometers, a ball-probe LED "
        "module), the dashboard at http://HOST:PORT/ and a live console view. "
        "Ctrl-C stops it.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--arms", type=int, default=3, help="simulated arm-probes")
    parser.add_argument("--thermometers", type=int, default=2)
    parser.add_argument("--period", type=float, default=0.25, help="seconds between readings")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after S seconds")
    parser.add_argument("--plain", action="store_true", help="print a summary, no live view")
    parser.add_argument(
        "--led-subject",
        default=DEFAULT_LED_SUBJECT,
        help=f"command subject of the simulated ball-probe (default {DEFAULT_LED_SUBJECT})",
    )
    parser.add_argument("--no-led", action="store_true", help="no simulated ball-probe")
    parser.add_argument(
        "--mqtt-port",
        type=int,
        default=1883,
        help="the hub's MQTT port, with a simulated MQTT thermometer on it "
        "(default 1883; 0: any free port; -1: no MQTT)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.period <= 0:
        raise UsageError("--period must be positive")
    if args.arms < 0 or args.thermometers < 0:
        raise UsageError("--arms and --thermometers must not be negative")
    if not -1 <= args.mqtt_port <= 65535:
        raise UsageError("--mqtt-port must be 0-65535 (or -1: no MQTT)")
    if not args.no_led:
        from earlgate.wire.subjects import SubjectError, check_subject

        try:
            check_subject(args.led_subject)
        except SubjectError as exc:
            raise UsageError(f"--led-subject: {exc}") from None
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(_demo(args))


async def _ball_probe(client: HubClient, subject: str, stop: asyncio.Event) -> None:
    """``earlgate led serve --simulate --subject SUBJECT``, in this process."""
    from earlgate.led import TCA6507, LedModule
    from earlgate.led.serve import LedServer
    from earlgate.led.simulator import SimulatedTCA6507

    chip = TCA6507(SimulatedTCA6507(clock=time.time))
    chip.load()
    server = LedServer(client, LedModule(chip), subject)
    await server.run(await client.subscribe(subject), stop)


async def _demo(args: argparse.Namespace) -> int:
    from earlgate.client import HubClient
    from earlgate.devices import default_devices, run_device
    from earlgate.devices.monitor import Monitor
    from earlgate.hub.config import HubConfig
    from earlgate.hub.server import HubServer
    from earlgate.mqtt.server import MqttListenError

    console = Console()
    mqtt_port = None if args.mqtt_port < 0 else args.mqtt_port
    config = HubConfig(
        host=args.host, port=args.port, durable=list(DEMO_DURABLE), mqtt_port=mqtt_port
    )
    server = HubServer(config)
    try:
        await server.start()
    except MqttListenError as exc:
        await server.stop()
        raise UsageError(f"{exc}; --mqtt-port 0 takes a free port, -1 none") from None
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    url = f"ws://{args.host}:{server.port}/ws"
    console.print(f"earlgate hub listening on {url}  (Ctrl-C to stop)")
    console.print(f"dashboard: http://{args.host}:{server.port}/")
    mqtt_bound = server.mqtt.port if mqtt_port is not None else None
    if mqtt_bound is not None:
        console.print(
            f"mqtt: mqtt://{args.host}:{mqtt_bound}  "
            f"(mosquitto_sub -h {args.host} -p {mqtt_bound} -t 'earl/#' -v)"
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if args.duration > 0:
        loop.call_later(args.duration, stop.set)

    monitor = Monitor()
    devices = default_devices(args.arms, args.thermometers, args.period)
    async with HubClient(url) as viewer, HubClient(url) as led_side:
        sub = await viewer.subscribe("earl/#")

        async def watch() -> None:
            async for message in sub:
                monitor.add(message)

        watcher = asyncio.create_task(watch())
        tasks = [asyncio.create_task(run_device(url, spec, stop)) for spec in devices]
        if mqtt_bound is not None:
            from earlgate.devices.mqtt_device import run_mqtt_device
            from earlgate.devices.simulated import thermometer

            spec = thermometer(args.thermometers + 1, args.period)
            spec.device_id, spec.subject = "mqtt-temp-01", "earl/mqtt-temp-01/temperature"
            devices.append(spec)
            tasks.append(asyncio.create_task(run_mqtt_device(args.host, mqtt_bound, spec, stop)))
        ball = (
            None
            if args.no_led
            else asyncio.create_task(_ball_probe(led_side, args.led_subject, stop))
        )
        live_view = not args.plain and sys.stdout.isatty()
        started = time.monotonic()
        if live_view:
            caption = f"dashboard: http://{args.host}:{server.port}/"
            with Live(monitor.table(), console=console, refresh_per_second=4) as live:
                while not stop.is_set():
                    table = monitor.table(hub_stats=server.stats())
                    table.caption = caption
                    live.update(table)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.25)
        else:
            await stop.wait()
        sent = sum(await asyncio.gather(*tasks))
        if ball is not None:
            await ball
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
