"""``earlgate led serve``: the LED module driven from the network (thesis ch. 4-5).

:class:`LedServer` subscribes to the LED's command subject on a hub, checks
each command (:mod:`earlgate.led.commands`), applies it to the chip, and
publishes the resulting state, retained, on ``<subject>/state``; a command it
cannot apply is answered on ``<subject>/error`` and changes nothing. The state
carries the latency from the command's ``published`` time to the moment its
registers were written: the actuation half of the thesis's proposed
end-to-end test. All clocks are injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections import deque
from collections.abc import AsyncIterable, Callable
from typing import Any, Final, Protocol

from earlgate.led.commands import CommandError, LedCommand, execute, parse_command
from earlgate.led.errors import I2CError, LedResourceError, LedUsageError
from earlgate.led.module import LedModule

__all__ = ["ERROR_CODES", "LedServer", "Publisher"]

logger = logging.getLogger(__name__)

# The ``error`` field of a message on ``<subject>/error``.
ERROR_CODES: Final = {
    "bad_json": "data is a string that is not JSON",
    "bad_command": "the command does not follow the schema (the reason names the field)",
    "refused": "the chip cannot show it (strict mode): no free bank or level, or a time "
    "more than 12.5 % from every time code; nothing was written",
    "i2c": "the bus failed while writing; the registers were read back",
}

# Latencies kept for statistics(): the most recent ones.
LATENCY_WINDOW: Final = 10_000


class Publisher(Protocol):
    """What the server needs of ``earlgate.client.HubClient``."""

    async def publish(self, subject: str, data: Any = None, *, retain: bool = False) -> None: ...


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
    ) -> None:
        self.client = client
        self.module = module
        self.subject = subject
        self.state_subject = f"{subject}/state"
        self.error_subject = f"{subject}/error"
        self.clock = clock
        self.perf = perf
        self.on_change = on_change
        self.seq = 0
        self.applied = 0
        self.refused = 0
        self.latencies_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.local_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def statistics(self) -> dict[str, Any]:
        """Commands applied and refused, and latency percentiles in ms.

        ``command_to_written`` is the sender's ``published`` time to the end of
        the register write (needs the sender's clock in step with ours);
        ``receive_to_written`` is the time spent in this process.
        """
        result: dict[str, Any] = {"applied": self.applied, "refused": self.refused}
        for name, values in (
            ("command_to_written", self.latencies_ms),
            ("receive_to_written", self.local_ms),
        ):
            if values:
                ordered = sorted(values)
                result[name] = {
                    "count": len(ordered),
                    "median": round(statistics.median(ordered), 3),
                    "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
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

    async def _error(self, code: str, reason: str, data: Any, command_id: Any) -> None:
        self.refused += 1
        payload: dict[str, Any] = {"error": code, "reason": reason, "command": data}
        if command_id is not None:
            payload["id"] = command_id
        await self.client.publish(self.error_subject, payload)

    async def handle(self, frame: dict[str, Any]) -> None:
        """Apply one publish frame's command and answer on state or error."""
        received = self.perf()
        data = frame.get("data")
        try:
            command = parse_command(data, tuple(self.module.layout.leds))
        except CommandError as exc:
            await self._error(exc.code, exc.reason, data, exc.command_id)
            return
        try:
            applied = execute(self.module, command)
        except LedResourceError as exc:
            await self._error("refused", str(exc), data, command.id)
            return
        except LedUsageError as exc:
            await self._error("bad_command", str(exc), data, command.id)
            return
        except I2CError as exc:
            await self._error("i2c", str(exc), data, command.id)
            with contextlib.suppress(I2CError):
                self.module.chip.load()  # the shadow may be stale after a failed burst
            return
        written = self.clock()
        done = self.perf()
        self.applied += 1
        if self.on_change is not None:
            self.on_change()
        await self.publish_state(self._result(command, applied, frame, written, done - received))

    def _result(
        self,
        command: LedCommand,
        applied: dict[str, Any],
        frame: dict[str, Any],
        written: float,
        local_s: float,
    ) -> dict[str, Any]:
        latency: dict[str, float] = {"receive_to_written": round(local_s * 1000, 3)}
        self.local_ms.append(local_s * 1000)
        published = frame.get("published")
        if isinstance(published, int | float) and not isinstance(published, bool):
            latency["command_to_written"] = round(written * 1000 - published, 3)
            self.latencies_ms.append(written * 1000 - published)
        result: dict[str, Any] = {
            "command": {"action": command.action, "led": command.led},
            "applied": {name: state.as_dict() for name, state in applied.items()},
            "written_at": round(written * 1000, 3),
            "latency_ms": latency,
        }
        if command.id is not None:
            result["command"]["id"] = command.id
        return result

    async def run(
        self, subscription: AsyncIterable[dict[str, Any]], stop: asyncio.Event | None = None
    ) -> None:
        """Publish the initial state, then handle commands until ``stop`` is set.

        Args:
            subscription: the client's subscription to :attr:`subject` (an
                async iterator of publish frames).
            stop: set it to return; runs until the subscription ends otherwise.
        """
        await self.publish_state()

        async def loop() -> None:
            async for frame in subscription:
                try:
                    await self.handle(frame)
                except Exception:  # one bad command must not stop the server
                    logger.exception("LED command failed: %r", frame)

        task = asyncio.ensure_future(loop())
        if stop is None:
            await task
            return
        waiter = asyncio.ensure_future(stop.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        for pending in (task, waiter):
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
