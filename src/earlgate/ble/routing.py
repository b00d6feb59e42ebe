"""The BLE gateway's decisions: events in, actions out. Pure (no Bluetooth, no clock).

:class:`GatewayCore` is fed what happened (a device connected, a
notification arrived, a hub command came, a write failed, a device dropped)
with the time it happened, and returns what to do: publish on the hub, write
to a device, reconnect after a delay. The asyncio layer
(:mod:`earlgate.ble.gateway`) only carries these out.

Subjects, for a device named ``NAME`` of kind ``KIND``:

* ``earl/NAME/KIND``: every reading, ``published`` mapped from the device's clock;
* ``earl/NAME/link``: ``connected``, ``disconnected`` and ``gap`` events;
* ``earl/NAME/led`` (subscribed): commands, ``earlgate led serve``'s JSON;
* ``earl/NAME/led/state`` (retained) and ``earl/NAME/led/error``: their answers.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

from earlgate.ble import profile
from earlgate.ble.profile import DeviceInfo, LedWrite, ProfileError, Status
from earlgate.led.commands import CommandError, parse_command
from earlgate.metrics.histogram import Histogram
from earlgate.metrics.percentile import percentile

__all__ = [
    "Backoff",
    "ClockMap",
    "GatewayCore",
    "Publish",
    "Reconnect",
    "Write",
]

SEQ_MOD: Final = 2**32
LEDS: Final = ("lower", "upper")
BACKOFF_INITIAL_S: Final = 0.1
BACKOFF_MAX_S: Final = 5.0


@dataclass(frozen=True)
class Publish:
    subject: str
    data: Any
    published: float | None = None  # ms since the epoch
    retain: bool = False


@dataclass(frozen=True)
class Write:
    device: str
    data: bytes
    command_id: int


@dataclass(frozen=True)
class Reconnect:
    device: str
    delay: float


Action = Publish | Write | Reconnect


@dataclass
class Backoff:
    """Exponential backoff: 0.1 s, doubling, at most 5 s; reset once a link holds."""

    initial: float = BACKOFF_INITIAL_S
    maximum: float = BACKOFF_MAX_S
    failures: int = 0

    def next_delay(self) -> float:
        delay: float = min(self.maximum, self.initial * 2.0 ** min(self.failures, 60))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


@dataclass
class ClockMap:
    """Maps a device's clock (µs since it started) to the epoch (ms).

    The offset is the smallest ``received - device clock`` seen: the reading
    that waited least for the radio gives the tightest bound, and the mapped
    time never lies after the real one by more than that reading's own
    delay. A device clock that goes backwards (the device restarted) resets it.
    """

    offset_ms: float | None = None
    last_clock_us: int = -1

    def map(self, clock_us: int, received_ms: float) -> float:
        if clock_us < self.last_clock_us:
            self.offset_ms = None
        self.last_clock_us = clock_us
        candidate = received_ms - clock_us / 1000
        if self.offset_ms is None or candidate < self.offset_ms:
            self.offset_ms = candidate
        return float(clock_us / 1000 + self.offset_ms)


@dataclass
class _Pending:
    hub_id: Any
    data: Any
    received_ms: float
    published: float | None


@dataclass
class DeviceState:
    name: str
    connected: bool = False
    info: DeviceInfo | None = None
    last_seq: int | None = None
    clock: ClockMap = field(default_factory=ClockMap)
    backoff: Backoff = field(default_factory=Backoff)
    pending: dict[int, _Pending] = field(default_factory=dict)
    readings: int = 0
    lost: int = 0
    gaps: int = 0
    bad_notifications: int = 0
    connects: int = 0
    drops: int = 0
    commands: int = 0
    applied: int = 0
    errors: int = 0
    delays_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    command_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    # every delay since the start, for /metrics (the deques keep the recent ones)
    delay_histogram: Histogram = field(default_factory=Histogram)
    command_histogram: Histogram = field(default_factory=Histogram)


def _ms(value: float) -> int | None:
    if not math.isfinite(value) or value < 0 or value > profile.MAX_TIME_MS:
        return None
    return round(value)


class GatewayCore:
    """Every device's state and the gateway's rules, without I/O."""

    def __init__(self) -> None:
        self.devices: dict[str, DeviceState] = {}
        self._next_id = 1

    def device(self, name: str) -> DeviceState:
        if name not in self.devices:
            self.devices[name] = DeviceState(name)
        return self.devices[name]

    # -- link events -------------------------------------------------------------------

    def connected(self, name: str, info_bytes: bytes, now_ms: float) -> list[Action]:
        state = self.device(name)
        try:
            info = profile.decode_info(info_bytes)
        except ProfileError as exc:
            state.bad_notifications += 1
            return [
                Publish(f"earl/{name}/link", {"event": "bad_info", "reason": str(exc)}),
                Reconnect(name, state.backoff.next_delay()),
            ]
        state.info = info
        state.connected = True
        state.connects += 1
        state.backoff.reset()
        event = {
            "event": "connected",
            "kind": info.kind,
            "units": info.units,
            "rate_hz": info.rate_hz,
            "connects": state.connects,
        }
        return [Publish(f"earl/{name}/link", event, published=now_ms)]

    def connect_failed(self, name: str, reason: str) -> list[Action]:
        state = self.device(name)
        return [Reconnect(name, state.backoff.next_delay())]

    def disconnected(self, name: str, reason: str, now_ms: float) -> list[Action]:
        state = self.device(name)
        actions: list[Action] = []
        if state.connected:
            state.drops += 1
            state.connected = False
            actions.append(
                Publish(
                    f"earl/{name}/link",
                    {"event": "disconnected", "reason": reason, "last_seq": state.last_seq},
                    published=now_ms,
                )
            )
        for pending in state.pending.values():
            actions.append(self._error(state, "disconnected", reason, pending))
        state.pending.clear()
        actions.append(Reconnect(name, state.backoff.next_delay()))
        return actions

    # -- notifications -------------------------------------------------------------------

    def reading(self, name: str, data: bytes, now_ms: float) -> list[Action]:
        state = self.device(name)
        try:
            reading = profile.decode_reading(data)
        except ProfileError as exc:
            state.bad_notifications += 1
            event = {"event": "bad_notification", "reason": str(exc), "bytes": data[:32].hex()}
            return [Publish(f"earl/{name}/link", event, published=now_ms)]
        actions: list[Action] = []
        if state.last_seq is not None:
            missing = (reading.seq - state.last_seq - 1) % SEQ_MOD
            if missing and missing < SEQ_MOD // 2:
                state.lost += missing
                state.gaps += 1
                gap = {"event": "gap", "after": state.last_seq, "next": reading.seq}
                gap["missing"] = missing
                actions.append(Publish(f"earl/{name}/link", gap, published=now_ms))
            elif missing:  # an old or repeated sequence number: a restart
                pass
        state.last_seq = reading.seq
        state.readings += 1
        published = state.clock.map(reading.clock_us, now_ms)
        state.delays_ms.append(now_ms - published)
        state.delay_histogram.record(max(0, round((now_ms - published) * 1e6)))
        value: Any = reading.value
        if isinstance(value, tuple):
            value = dict(zip("xyz", value, strict=True))
        units = state.info.units if state.info is not None else ""
        data_out = {"value": value, "unit": units, "seq": reading.seq, "clock_us": reading.clock_us}
        actions.append(Publish(f"earl/{name}/{reading.kind}", data_out, published=published))
        return actions

    def status(self, name: str, data: bytes, now_ms: float) -> list[Action]:
        state = self.device(name)
        try:
            status = profile.decode_status(data)
        except ProfileError as exc:
            state.bad_notifications += 1
            event = {"event": "bad_notification", "reason": str(exc), "bytes": data[:32].hex()}
            return [Publish(f"earl/{name}/link", event, published=now_ms)]
        pending = state.pending.pop(status.id, None)
        if pending is None:
            return []  # a write refused at the ATT layer, or a command of another central
        return [self._answer(state, status, pending, now_ms)]

    def _answer(self, state: DeviceState, status: Status, pending: _Pending, now: float) -> Action:
        if not status.applied:
            return self._error(state, status.result, status.reason, pending)
        state.applied += 1
        latency: dict[str, float] = {"receive_to_status": round(now - pending.received_ms, 3)}
        if pending.published is not None:
            latency["command_to_status"] = round(now - pending.published, 3)
            state.command_ms.append(now - pending.published)
            state.command_histogram.record(max(0, round((now - pending.published) * 1e6)))
        leds = {
            s.led: {
                "color": list(s.color),
                "blink": None
                if s.blink is None
                else dict(zip(("on_ms", "off_ms", "fade_ms", "once"), s.blink, strict=True)),
            }
            for s in status.leds
        }
        body: dict[str, Any] = {"applied": leds, "latency_ms": latency, "command": {}}
        if pending.hub_id is not None:
            body["command"]["id"] = pending.hub_id
            body["id"] = pending.hub_id
        return Publish(f"earl/{state.name}/led/state", body, published=now, retain=True)

    def _error(self, state: DeviceState, code: str, reason: str, pending: _Pending) -> Publish:
        state.errors += 1
        body: dict[str, Any] = {"error": code, "reason": reason, "command": pending.data}
        if pending.hub_id is not None:
            body["id"] = pending.hub_id
        return Publish(f"earl/{state.name}/led/error", body)

    # -- hub commands ----------------------------------------------------------------------

    def command(
        self, name: str, data: Any, now_ms: float, published: float | None = None
    ) -> list[Action]:
        """A command from ``earl/NAME/led``: a GATT write, or an error answer."""
        state = self.device(name)
        state.commands += 1
        hub_id = data.get("id") if isinstance(data, dict) else None
        pending = _Pending(hub_id, data, now_ms, published)
        try:
            command = parse_command(data, LEDS)
        except CommandError as exc:
            pending.hub_id = exc.command_id
            return [self._error(state, exc.code, exc.reason, pending)]
        pending.hub_id = command.id
        if not state.connected:
            return [self._error(state, "disconnected", f"{name} is not connected", pending)]
        if state.info is not None and state.info.kind != "ball":
            reason = f"{name} is a {state.info.kind} device, without an LED module"
            return [self._error(state, "not_supported", reason, pending)]
        times = [_ms(t) for t in (command.on_ms, command.off_ms, command.fade_ms)]
        if None in times:
            reason = f"blink times go up to {profile.MAX_TIME_MS} ms over BLE"
            return [self._error(state, "bad_command", reason, pending)]
        on, off, fade = (t or 0 for t in times)
        ble_id = self._allocate(state)
        color = (tuple(command.color) + (0, 0, 0))[:3]
        write = LedWrite(
            command.action,
            ble_id,
            command.led,
            (color[0], color[1], color[2]),
            on,
            off,
            fade,
            command.once,
            command.strict,
        )
        state.pending[ble_id] = pending
        return [Write(name, profile.encode_led(write), ble_id)]

    def _allocate(self, state: DeviceState) -> int:
        for _ in range(0x10000):
            ble_id = self._next_id
            self._next_id = self._next_id % 0xFFFF + 1  # 1..65535; 0 answers no command
            if ble_id not in state.pending:
                return ble_id
        raise RuntimeError("65535 commands waiting for one device")  # pragma: no cover

    def write_failed(self, name: str, command_id: int, reason: str) -> list[Action]:
        state = self.device(name)
        pending = state.pending.pop(command_id, None)
        if pending is None:
            return []
        return [self._error(state, "ble", reason, pending)]

    # -- statistics -----------------------------------------------------------------------------

    def statistics(self) -> dict[str, Any]:
        def summary(values: deque[float]) -> dict[str, Any]:
            data = sorted(values)
            if not data:
                return {"count": 0}
            return {
                "count": len(data),
                "p50": round(percentile(data, 0.50), 3),
                "p99": round(percentile(data, 0.99), 3),
                "max": round(data[-1], 3),
            }

        devices: dict[str, dict[str, Any]] = {}
        for name, s in sorted(self.devices.items()):
            devices[name] = {
                "connected": s.connected,
                "kind": s.info.kind if s.info else None,
                "readings": s.readings,
                "lost": s.lost,
                "gaps": s.gaps,
                "bad_notifications": s.bad_notifications,
                "connects": s.connects,
                "drops": s.drops,
                "commands": s.commands,
                "applied": s.applied,
                "errors": s.errors,
                "reading_delay_ms": summary(s.delays_ms),
                "command_to_status_ms": summary(s.command_ms),
            }
        totals = {
            key: sum(int(d[key]) for d in devices.values())
            for key in ("readings", "lost", "gaps", "bad_notifications", "drops", "commands")
        }
        return {"devices": devices, **totals}
