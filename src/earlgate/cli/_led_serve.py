"""``earlgate led serve``: the LED module on a hub subject (docs/led.md).

Kept apart from :mod:`earlgate.cli.led`, which registers it: the other LED
commands touch the chip once and exit, this one is a server (signals, the
hub connection, logging). The leading underscore keeps it out of the
``earlgate`` command list: it has no ``register`` of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from earlgate.cli import UsageError, setup_logging
from earlgate.led.coalesce import DEFAULT_MAX_WAITING
from earlgate.led.module import LedModule
from earlgate.led.serve import DEFAULT_MAX_ECHO_BYTES

if TYPE_CHECKING:
    from earlgate.client import HubClient

# Exit status besides 0 and 2 (usage): the hub failed or never answered.
EXIT_FAILED = 1

DEFAULT_SUBJECT = "earl/ball-01/led"
# How long ``serve`` waits for the hub before saying that it keeps trying.
HUB_WAIT_NOTICE_S = 5.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``earlgate led serve`` besides the chip's."""
    p.add_argument(
        "--hub", default="ws://127.0.0.1:8080/ws", help="hub URL (default ws://127.0.0.1:8080/ws)"
    )
    p.add_argument(
        "--subject",
        default=DEFAULT_SUBJECT,
        help=f"command subject (default {DEFAULT_SUBJECT}); state on SUBJECT/state, "
        "errors on SUBJECT/error",
    )
    p.add_argument("--token", help="bearer token (JWT) for a hub with auth")
    p.add_argument("--duration", type=_positive, help="stop after this many seconds")
    p.add_argument(
        "--max-waiting",
        type=_count,
        default=DEFAULT_MAX_WAITING,
        metavar="N",
        help="commands that may wait for the chip at once; the latest for an LED "
        f"supersedes the others (default {DEFAULT_MAX_WAITING})",
    )
    p.add_argument(
        "--max-echo-bytes",
        type=_count,
        default=DEFAULT_MAX_ECHO_BYTES,
        metavar="N",
        help="an error echoes the command up to this size of its JSON "
        f"(default {DEFAULT_MAX_ECHO_BYTES})",
    )
    p.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default="INFO",
        help="INFO logs every error answer, DEBUG the superseded commands too (default INFO)",
    )


def serve(args: argparse.Namespace, module: LedModule, on_change: Callable[[], None] | None) -> int:
    """Run the server until a signal, ``--duration`` or a hub failure; the exit status."""
    setup_logging(args.log_level)
    logging.getLogger("picows").setLevel(logging.WARNING)
    return asyncio.run(_serve(args, module, on_change))


async def _serve(
    args: argparse.Namespace, module: LedModule, on_change: Callable[[], None] | None
) -> int:
    from earlgate.client import HubClient, HubClientError
    from earlgate.led.serve import LedServer
    from earlgate.wire.subjects import SubjectError, check_subject

    try:
        check_subject(args.subject)
    except SubjectError as exc:
        raise UsageError(f"--subject: {exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if args.duration:
        loop.call_later(args.duration, stop.set)
    client = HubClient(args.hub, token=args.token)
    try:
        if not await _wait_for_hub(client, stop):
            print(f"earlgate led: stopped before {args.hub} answered", file=sys.stderr)
            return EXIT_FAILED
        subscription = await client.subscribe(args.subject)
        server = LedServer(
            client,
            module,
            args.subject,
            on_change=on_change,
            max_waiting=args.max_waiting,
            max_echo_bytes=args.max_echo_bytes,
        )
        print(
            f"earlgate led: serving {args.subject} on {args.hub} "
            f"(state on {server.state_subject}, errors on {server.error_subject})",
            flush=True,
        )
        await server.run(subscription, stop)
    except HubClientError as exc:
        print(f"earlgate led: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await client.close()
    print(f"earlgate led: {json.dumps(server.statistics())}", flush=True)
    return 0


async def _wait_for_hub(client: HubClient, stop: asyncio.Event) -> bool:
    """Connect, retrying until the hub answers; ``False`` if stopped first."""
    await client.connect(wait=False)
    connected = asyncio.ensure_future(client.connected.wait())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait(
            {connected, stopped}, timeout=HUB_WAIT_NOTICE_S, return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            print(
                f"earlgate led: no answer from {client.url} yet ({client.last_error}); "
                "still trying",
                file=sys.stderr,
                flush=True,
            )
            await asyncio.wait({connected, stopped}, return_when=asyncio.FIRST_COMPLETED)
        return connected.done()
    finally:
        for waiter in (connected, stopped):
            waiter.cancel()
