"""``earlgate led serve``: the LED module driven from the network (thesis ch. 4-5).

:class:`LedServer` subscribes to the LED's command subject on a hub, checks
each command (:mod:`earlgate.led.commands`), applies it to the chip, and
publishes the resulting state, retained, on ``<subject>/state``; a command it
cannot apply is answered on ``<subject>/error`` and changes nothing. Every
command gets exactly one answer, and the chip changes only for a command
whose state answer can be sent: the command's ``id`` is checked before
anything is written.

Commands are taken from the subscription as fast as they come and wait in a
:class:`~earlgate.led.coalesce.CommandQueue`, where the latest command for an
LED supersedes the ones still waiting (answered ``superseded``): under a
flood the chip shows the newest command within a few commands' time instead
of replaying the backlog. The state carries the latency from the command's
``published`` time to the moment its registers were written: the actuation
half of the thesis's proposed end-to-end test. All clocks are injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import statistics
import time
from collections import deque
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import orjson

from earlgate.led.coalesce import DEFAULT_MAX_WAITING, CommandQueue, QueueFull
from earlgate.led.commands import (
    MAX_DEPTH,
    CommandError,
    LedCommand,
    deeper_than,
    execute,
    parse_command,
)
from earlgate.led.errors import I2CError, LedResourceError, LedUsageError
from earlgate.led.module import LedModule
from earlgate.metrics.percentile import percentile

__all__ = ["DEFAULT_MAX_ECHO_BYTES", "ERROR_CODES", "LedServer", "Publisher"]

logger = logging.getLogger(__name__)

# The ``error`` field of a message on ``<subject>/error``.
ERROR_CODES: Final = {
    "bad_json": "data is a string that is not JSON",
    "bad_command": "the command does not follow the schema (the reason names the field)",
    "refused": "the chip cannot show it (strict mode): no free bank or level, or a time "
    "more than 12.5 % from every time code; nothing was written",
    "i2c": "the bus failed while writing; the registers were read back",
    "superseded": "a later command for the same LED arrived before this one reached the "
    "chip; nothing was written for it",
    "overloaded": "too many commands were waiting (--max-waiting); nothing was written",
    "internal": "the server failed on this command (see its log); the registers were read back",
}

# Latencies kept for statistics(): the most recent ones.
LATENCY_WINDOW: Final = 10_000
# The command as received is echoed in an error up to this size of its JSON.
DEFAULT_MAX_ECHO_BYTES: Final = 4096
# Actions that set an LED whatever it shows: they supersede waiting commands.
_OUTRIGHT: Final = frozenset({"set", "blink", "off"})


class Publisher(Protocol):
    """What the server needs of ``earlgate.client.HubClient``."""

    async def publish(self, subject: str, data: Any = None, *, retain: bool = False) -> None: ...


@dataclass(frozen=True)
class _Waiting:
    """A checked command waiting for the chip, with what its answer needs."""

    command: LedCommand
    data: Any  # as received, for an error's echo
    received: float  # perf time it was taken from the subscription
    published: float | None  # the sender's time, ms since the epoch


def _published_ms(frame: dict[str, Any]) -> float | None:
    """The frame's ``published`` time if it is a usable number."""
    published = frame.get("published")
    if isinstance(published, bool) or not isinstance(published, int | float):
        return None
    try:
        value = float(published)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


class LedServer:
    """Applies commands from a hub subject to an :class:`LedModule`.

    Args:
        client: a connected ``HubClient`` (anything with its ``publish``).
        module: the LEDs to drive.
        subject: the command subject, e.g. ``earl/ball-01/led``.
        clock: wall clock in seconds, comparable with the senders' ``published``.
        perf: monotonic clock for the local processing time.
        on_change: called after every command that reached the chip (the CLI
            saves the simulator's state there).
        max_waiting: commands that may wait for the chip at once (see
            :mod:`earlgate.led.coalesce`); beyond, ``overloaded``.
        max_echo_bytes: an error echoes the command as received up to this
            size of its JSON; a larger one (or one that cannot be encoded) is
            left out and ``command_omitted`` says why.
    """

    def __init__(
        self,
        client: Publisher,
        module: LedModule,
        subject: str,
        *,
        clock: Callable[[], float] = time.time,
        perf: Callable[[], float] = time.perf_counter,
        on_change: Callable[[], None] | None = None,
        max_waiting: int = DEFAULT_MAX_WAITING,
        max_echo_bytes: int = DEFAULT_MAX_ECHO_BYTES,
    ) -> None:
        self.client = client
        self.module = module
        self.subject = subject
        self.state_subject = f"{subject}/state"
        self.error_subject = f"{subject}/error"
        self.clock = clock
        self.perf = perf
        self.on_change = on_change
        self.max_echo_bytes = max_echo_bytes
        self.queue: CommandQueue[_Waiting] = CommandQueue(max_waiting)
        self.seq = 0
        self.received = 0
        self.applied = 0
        self.refused = 0
        self.superseded = 0
        self.overloaded = 0
        self.latencies_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.local_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._leds = tuple(module.layout.leds)
        self._queued = asyncio.Event()
        self._closing = False

    def statistics(self) -> dict[str, Any]:
        """Commands by outcome, those still waiting, and latency percentiles in ms.

        ``received`` = ``applied`` + ``refused`` + ``superseded`` +
        ``overloaded`` + ``waiting``. ``command_to_written`` is the sender's
        ``published`` time to the end of the register write (needs the
        sender's clock in step with ours); ``receive_to_written`` is the time
        spent in this process, waiting included.
        """
        result: dict[str, Any] = {
            "received": self.received,
            "applied": self.applied,
            "refused": self.refused,
            "superseded": self.superseded,
            "overloaded": self.overloaded,
            "waiting": len(self.queue),
        }
        for name, values in (
            ("command_to_written", self.latencies_ms),
            ("receive_to_written", self.local_ms),
        ):
            if values:
                ordered = sorted(values)
                result[name] = {
                    "count": len(ordered),
                    "median": round(statistics.median(ordered), 3),
                    "p99": round(percentile(ordered, 0.99), 3),
                    "max": round(ordered[-1], 3),
                }
        return result

    def snapshot(self) -> dict[str, Any]:
        """Every LED's state and the raw registers."""
        return {
            "leds": {name: s.as_dict() for name, s in self.module.states().items()},
            "registers": self.module.chip.registers.encode().hex(" "),
        }

    async def publish_state(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Publish the current state, retained, and return it."""
        self.seq += 1
        payload = {**self.snapshot(), "seq": self.seq, **(extra or {})}
        await self.client.publish(self.state_subject, payload, retain=True)
        return payload

    def _echo(self, data: Any) -> dict[str, Any]:
        """``{"command": data}`` when it can be sent back; else why it is not."""
        if deeper_than(data, MAX_DEPTH):  # the encoder's own limit counts the frame's levels
            return {"command_omitted": f"nested more than {MAX_DEPTH} levels"}
        try:
            size = len(orjson.dumps(data))
        except TypeError as exc:  # orjson.JSONEncodeError is one
            return {"command_omitted": f"not encodable as JSON ({exc})"}
        if size > self.max_echo_bytes:
            return {"command_omitted": f"{size} bytes of JSON, over {self.max_echo_bytes}"}
        return {"command": data}

    async def _error(
        self, code: str, reason: str, data: Any, command_id: Any, **extra: Any
    ) -> None:
        """Answer a command on the error subject (the caller counts it)."""
        payload: dict[str, Any] = {"error": code, "reason": reason, **self._echo(data), **extra}
        if command_id is not None:
            payload["id"] = command_id
        level = logging.DEBUG if code == "superseded" else logging.INFO
        if code in ("i2c", "overloaded"):
            level = logging.WARNING
        logger.log(level, "command %s (id %r): %s", code, command_id, reason)
        await self.client.publish(self.error_subject, payload)

    async def receive(self, frame: dict[str, Any]) -> None:
        """Check one publish frame's command and queue it for the chip.

        A malformed command is answered at once; so are the waiting commands
        it supersedes, and the command itself when too many are waiting.
        """
        self.received += 1
        received = self.perf()
        data = frame.get("data")
        try:
            command = parse_command(data, self._leds)
        except CommandError as exc:
            self.refused += 1
            await self._error(exc.code, exc.reason, data, exc.command_id)
            return
        waiting = _Waiting(command, data, received, _published_ms(frame))
        try:
            superseded = self.queue.push(waiting, command.led, outright=command.action in _OUTRIGHT)
        except QueueFull:
            self.overloaded += 1
            reason = (
                f"{self.queue.max_waiting} commands are waiting for the chip (brightness "
                "steps wait their turn); send fewer, or an outright command"
            )
            await self._error("overloaded", reason, data, command.id)
            return
        self._queued.set()
        for old in superseded:
            self.superseded += 1
            by = {} if command.id is None else {"by": command.id}
            reason = f"a later command for {command.led} replaced it before it reached the chip"
            await self._error("superseded", reason, old.data, old.command.id, **by)

    async def apply_waiting(self) -> None:
        """Apply every waiting command, oldest first."""
        while (waiting := self.queue.pop()) is not None:
            await self._apply(waiting)

    async def handle(self, frame: dict[str, Any]) -> None:
        """Check one frame's command, then apply what waits: one answer each."""
        await self.receive(frame)
        await self.apply_waiting()

    async def _apply(self, waiting: _Waiting) -> None:
        command, data = waiting.command, waiting.data
        try:
            applied = execute(self.module, command)
        except LedResourceError as exc:
            self.refused += 1
            await self._error("refused", str(exc), data, command.id)
            return
        except LedUsageError as exc:
            self.refused += 1
            await self._error("bad_command", str(exc), data, command.id)
            return
        except I2CError as exc:
            self.refused += 1
            await self._error("i2c", str(exc), data, command.id)
            self._reload()
            return
        except Exception as exc:  # a bug: answer it, log it, keep serving
            logger.exception("LED command failed: %r", command)
            self.refused += 1
            await self._error("internal", f"{type(exc).__name__}: {exc}", data, command.id)
            self._reload()
            return
        written = self.clock()
        done = self.perf()
        self.applied += 1
        if self.on_change is not None:
            try:
                self.on_change()  # before the state: who reads it finds the change saved
            except Exception:  # the chip has changed: its state is published all the same
                logger.exception("saving the LED state failed")
        await self.publish_state(self._result(waiting, applied, written, done - waiting.received))

    def _reload(self) -> None:
        with contextlib.suppress(I2CError):
            self.module.chip.load()  # the shadow may be stale after a failed burst

    def _result(
        self, waiting: _Waiting, applied: dict[str, Any], written: float, local_s: float
    ) -> dict[str, Any]:
        command = waiting.command
        latency: dict[str, float] = {"receive_to_written": round(local_s * 1000, 3)}
        self.local_ms.append(local_s * 1000)
        if waiting.published is not None:
            latency["command_to_written"] = round(written * 1000 - waiting.published, 3)
            self.latencies_ms.append(written * 1000 - waiting.published)
        result: dict[str, Any] = {
            "command": {"action": command.action, "led": command.led},
            "applied": {name: state.as_dict() for name, state in applied.items()},
            "written_at": round(written * 1000, 3),
            "latency_ms": latency,
        }
        if command.id is not None:
            result["command"]["id"] = command.id
        return result

    async def _intake(self, subscription: AsyncIterable[dict[str, Any]]) -> None:
        # ``async for`` does not yield while frames are buffered: a burst is
        # queued, and coalesced, whole before the next command is applied.
        async for frame in subscription:
            try:
                await self.receive(frame)
            except Exception:  # one bad frame must not stop the server
                logger.exception("LED command frame failed: %r", frame)

    async def _work(self) -> None:
        while True:
            waiting = self.queue.pop()
            if waiting is None:
                if self._closing:
                    return
                self._queued.clear()
                await self._queued.wait()
                continue
            try:
                await self._apply(waiting)
            except Exception:  # the answer could not be published
                logger.exception("LED command answer failed: %r", waiting.command)
            await asyncio.sleep(0)  # let the frames that came meanwhile reach the queue

    async def run(
        self, subscription: AsyncIterable[dict[str, Any]], stop: asyncio.Event | None = None
    ) -> None:
        """Publish the initial state, then handle commands until ``stop`` is set.

        Commands already waiting when it stops are still applied and answered.

        Args:
            subscription: the client's subscription to :attr:`subject` (an
                async iterator of publish frames).
            stop: set it to return; runs until the subscription ends otherwise.
        """
        await self.publish_state()
        intake = asyncio.ensure_future(self._intake(subscription))
        worker = asyncio.ensure_future(self._work())
        waiters: set[asyncio.Future[Any]] = {intake, worker}
        if stop is not None:
            waiters.add(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters - {worker}:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
            self._closing = True
            self._queued.set()
            await worker
