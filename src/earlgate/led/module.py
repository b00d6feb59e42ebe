"""The ball-probe LED module: RGB LEDs by name, on top of the TCA6507 driver.

:class:`LedModule` speaks in LEDs and colours (levels 0-15 per channel) and
leaves the chip's shared resources to :mod:`earlgate.led.allocator`. The rules
a caller sees:

* ``set_color``: 0 is off and 15 fully on, free; any other level needs one of
  bank 0 max, bank 1 max or ALD, so at most three distinct partial levels are
  lit at once (a blinking LED's peak counts as one).
* ``blink``: one bank per LED; ``on_ms`` is the fully-on time, ``off_ms``
  both fully-off times, ``fade_ms`` the fade-on and fade-off times, and the
  colour's level the bank's maximum, so a blinking LED shows one level on all
  its lit channels. Blinking again replaces the LED's own pattern; the other
  LEDs' patterns and banks are left alone. Two LEDs blinking alike share a bank.
* times are rounded to the nearest time code. In strict mode (the default) a
  time more than 12.5 % from every code, or a request needing more banks or
  levels than the chip has, raises :class:`LedResourceError` and writes
  nothing; with ``strict=False`` the nearest feasible request is applied and
  returned.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from earlgate.led.allocator import Blinking, Output, Pattern, Steady, allocate, decode_outputs
from earlgate.led.chip import TCA6507
from earlgate.led.errors import LedResourceError, LedUsageError
from earlgate.led.registers import NUM_PORTS, STATE_BLINK0, Registers
from earlgate.led.timecodes import TIME_CODES_MS, RoundedTime, round_time
from earlgate.led.waveform import period_ms

__all__ = ["BALL_PROBE", "BlinkTiming", "LedModule", "LedState", "Layout"]

Color = tuple[int, ...]


@dataclass(frozen=True)
class Layout:
    """Which ports drive which LED, channels in order (red, green, blue).

    Args:
        leds: LED name -> its ports, one per channel.
        channel_names: names of the channels, for messages and plots.
    """

    leds: Mapping[str, tuple[int, ...]]
    channel_names: tuple[str, ...] = ("red", "green", "blue")

    def __post_init__(self) -> None:
        object.__setattr__(self, "leds", MappingProxyType(dict(self.leds)))
        seen: set[int] = set()
        for name, ports in self.leds.items():
            if not ports or name in ("all", ""):
                raise ValueError(f"LED {name!r} needs a name other than 'all' and ports")
            for port in ports:
                if not 0 <= port < NUM_PORTS or port in seen:
                    raise ValueError(f"port {port} of LED {name!r} is out of range or reused")
                seen.add(port)

    def ports(self, led: str) -> tuple[int, ...]:
        """The ports of ``led``.

        Raises:
            LedUsageError: no such LED.
        """
        try:
            return self.leds[led]
        except KeyError:
            known = ", ".join(self.leds)
            raise LedUsageError(f"unknown LED {led!r}; this layout has {known}") from None

    def port_names(self) -> dict[int, str]:
        """Port -> ``"led.channel"``, e.g. ``{1: "lower.red"}``."""
        names = {}
        for led, ports in self.leds.items():
            for i, port in enumerate(ports):
                channel = self.channel_names[i] if i < len(self.channel_names) else str(i)
                names[port] = f"{led}.{channel}"
        return names


# The thesis's board: "lower LED on P1-P3, upper LED on P4-P6, P0 unused".
BALL_PROBE = Layout({"lower": (1, 2, 3), "upper": (4, 5, 6)})


@dataclass(frozen=True)
class BlinkTiming:
    """A blink pattern's five phase times in ms, as the chip runs them."""

    fade_on_ms: int
    fully_on_ms: int
    fade_off_ms: int
    first_off_ms: int
    second_off_ms: int
    once: bool = False

    @classmethod
    def from_pattern(cls, pattern: Pattern) -> BlinkTiming:
        """Timing of an allocator pattern (codes to ms)."""
        a, b, c, d, e = (TIME_CODES_MS[code] for code in pattern.times)
        return cls(a, b, c, d, e, pattern.one_shot)

    @property
    def on_ms(self) -> int:
        """The fully-on time."""
        return self.fully_on_ms

    @property
    def off_ms(self) -> int:
        """The first fully-off time (``blink`` sets both to the same)."""
        return self.first_off_ms

    @property
    def fade_ms(self) -> int:
        """The fade-on time (``blink`` sets fade-off to the same)."""
        return self.fade_on_ms

    @property
    def period_ms(self) -> int:
        """Period = 2(A+B+C) + D + E."""
        times = (
            self.fade_on_ms,
            self.fully_on_ms,
            self.fade_off_ms,
            self.first_off_ms,
            self.second_off_ms,
        )
        return int(period_ms(times))


@dataclass(frozen=True)
class LedState:
    """What one LED shows: a colour, and the blink timing when it blinks.

    Attributes:
        color: level 0-15 per channel (for a blinking LED, the peak).
        blink: the pattern's timing, or ``None`` for a steady colour.
        bank: the bank the pattern runs on, or ``None``.
    """

    color: Color
    blink: BlinkTiming | None = None
    bank: int | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"color": [...], "blink": {...} or None}``."""
        blink: dict[str, Any] | None = None
        if self.blink is not None:
            b = self.blink
            blink = {
                "on_ms": b.on_ms,
                "off_ms": b.off_ms,
                "fade_ms": b.fade_ms,
                "fade_off_ms": b.fade_off_ms,
                "second_off_ms": b.second_off_ms,
                "once": b.once,
                "period_ms": b.period_ms,
                "bank": self.bank,
            }
        return {"color": list(self.color), "blink": blink}

    def describe(self) -> str:
        """One line, e.g. ``(15, 0, 0) blinking on 512/off 1024/fade 0 ms (bank 0)``."""
        text = str(tuple(self.color))
        if self.blink is not None:
            b = self.blink
            text += f" blinking on {b.on_ms}/off {b.off_ms}/fade {b.fade_ms} ms"
            if (b.fade_off_ms, b.second_off_ms) != (b.fade_on_ms, b.first_off_ms):
                text += f" (fade-off {b.fade_off_ms}, second off {b.second_off_ms} ms)"
            if b.once:
                text += ", once"
            text += f" (bank {self.bank})"
        elif not any(self.color):
            text += " off"
        return text


def _check_levels(color: Sequence[int], count: int) -> Color:
    if len(color) != count:
        raise LedUsageError(f"a colour needs {count} levels, got {len(color)}")
    for level in color:
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 15:
            raise LedUsageError(f"levels are integers 0-15, got {level!r}")
    return tuple(color)


def _nearest_first(levels: Iterable[int], target: int) -> list[int]:
    return sorted(levels, key=lambda x: (abs(x - target), x))


def _check_time(name: str, ms: float, strict: bool) -> RoundedTime:
    try:
        rounded = round_time(ms)
    except (TypeError, ValueError):
        raise LedUsageError(f"{name} must be a number of ms >= 0, got {ms!r}") from None
    if strict and not rounded.exact:
        raise LedResourceError(
            f"{name}={ms:g} ms is {rounded.error:.1%} from the nearest time code "
            f"({rounded.ms} ms); the chip's codes are {', '.join(map(str, TIME_CODES_MS))} ms "
            "and a time must be within 12.5 % of one"
        )
    return rounded


class LedModule:
    """The LEDs of a board driven by one TCA6507.

    The module keeps no state of its own: what each LED shows is decoded from
    the driver's register shadow, so call ``chip.load()`` first when the chip
    may already be showing something worth keeping.

    Args:
        chip: the driver.
        layout: which ports form which LED; the ball-probe's by default.
        strict: refuse (rather than approximate) what the chip cannot show.
    """

    def __init__(self, chip: TCA6507, layout: Layout = BALL_PROBE, *, strict: bool = True):
        self.chip = chip
        self.layout = layout
        self.strict = strict
        self._names = layout.port_names()

    # -- reading ------------------------------------------------------------

    def state(self, led: str) -> LedState:
        """What ``led`` shows now, from the register shadow."""
        return self._decode(self.chip.registers, led)

    def states(self) -> dict[str, LedState]:
        """Every LED's state."""
        return {led: self.state(led) for led in self.layout.leds}

    def _decode(self, registers: Registers, led: str) -> LedState:
        outputs = decode_outputs(registers)
        color = []
        blink: BlinkTiming | None = None
        bank: int | None = None
        for port in self.layout.ports(led):
            out = outputs[port]
            if isinstance(out, Blinking):
                color.append(out.pattern.peak)
                if blink is None:
                    blink = BlinkTiming.from_pattern(out.pattern)
                    bank = registers.ports[port] - STATE_BLINK0
            else:
                color.append(out.level)
        return LedState(tuple(color), blink, bank)

    # -- the requests --------------------------------------------------------

    def set_color(self, led: str, color: Sequence[int], *, strict: bool | None = None) -> LedState:
        """Show a steady colour on ``led``.

        Returns:
            What the LED now shows (differs from ``color`` only with ``strict=False``).

        Raises:
            LedResourceError: strict, and the chip lacks a level for it; nothing written.
            LedUsageError: unknown LED or a level outside 0-15.
        """
        ports = self.layout.ports(led)
        wanted = _check_levels(color, len(ports))
        candidates = [wanted] if self._strict(strict) else self._steady_candidates(led, wanted)
        requests = [
            {port: Steady(level) for port, level in zip(ports, c, strict=True)} for c in candidates
        ]
        self._apply_first(requests)
        return self.state(led)

    def blink(
        self,
        led: str,
        color: Sequence[int],
        on_ms: float,
        off_ms: float,
        fade_ms: float = 0,
        *,
        once: bool = False,
        strict: bool | None = None,
    ) -> LedState:
        """Blink ``led``: fade-on, on, fade-off, off, repeated (``once``: one period).

        The lit channels all blink at one level (a bank has one maximum); a
        colour of all zeros turns the LED off.

        Returns:
            What the LED now shows, with the times the chip actually uses.

        Raises:
            LedResourceError: strict, and a time is unreachable, the colour has
                two different lit levels, or no bank is free; nothing written.
            LedUsageError: unknown LED, a level outside 0-15, a negative time.
        """
        is_strict = self._strict(strict)
        ports = self.layout.ports(led)
        wanted = _check_levels(color, len(ports))
        on = _check_time("on_ms", on_ms, is_strict)
        off = _check_time("off_ms", off_ms, is_strict)
        fade = _check_time("fade_ms", fade_ms, is_strict)
        lit = sorted({level for level in wanted if level})
        if not lit:
            return self.set_color(led, wanted, strict=is_strict)
        if len(lit) > 1 and is_strict:
            raise LedResourceError(
                f"{led} blinks with one bank, which has one maximum level, but colour "
                f"{wanted} has levels {', '.join(map(str, lit))}"
            )
        if on.code + off.code + fade.code == 0:
            raise LedUsageError("a blink needs a non-zero on, off or fade time")
        times = (fade.code, on.code, fade.code, off.code, off.code)
        return self._apply_blink(led, wanted, Pattern(times, lit[-1], once), is_strict)

    def off(self, led: str | None = None) -> None:
        """Turn ``led`` off, or every LED of the layout (``None`` or ``"all"``)."""
        leds = list(self.layout.leds) if led in (None, "all") else [led]
        requests: dict[int, Output] = {}
        for name in leds:
            assert name is not None
            for port in self.layout.ports(name):
                requests[port] = Steady(0)
        self._apply_first([requests])

    def brightness_up(self, led: str, *, strict: bool | None = None) -> LedState:
        """One of 16 steps brighter on every lit channel (an off LED stays off)."""
        return self._step(led, +1, strict)

    def brightness_down(self, led: str, *, strict: bool | None = None) -> LedState:
        """One step dimmer; a lit channel stops at level 1 (use ``off`` to turn off)."""
        return self._step(led, -1, strict)

    def _step(self, led: str, delta: int, strict: bool | None) -> LedState:
        current = self.state(led)
        color = tuple(max(1, min(15, c + delta)) if c else 0 for c in current.color)
        if color == current.color:
            return current
        if current.blink is None:
            return self.set_color(led, color, strict=strict)
        b = current.blink
        ms = (b.fade_on_ms, b.fully_on_ms, b.fade_off_ms, b.first_off_ms, b.second_off_ms)
        a, on, c, d, e = (TIME_CODES_MS.index(t) for t in ms)
        pattern = Pattern((a, on, c, d, e), max(color), b.once)
        return self._apply_blink(led, color, pattern, self._strict(strict))

    # -- approximation and applying -------------------------------------------

    def _apply_blink(self, led: str, color: Color, pattern: Pattern, strict: bool) -> LedState:
        ports = self.layout.ports(led)
        requests: list[dict[int, Output]] = [
            {
                port: Blinking(p) if level else Steady(0)
                for port, level in zip(ports, color, strict=True)
            }
            for p in self._pattern_candidates(led, pattern, strict)
        ]
        self._apply_first(requests)
        return self.state(led)

    def _strict(self, strict: bool | None) -> bool:
        return self.strict if strict is None else strict

    def _other_levels(self, led: str) -> set[int]:
        """Partial levels other LEDs (and unlisted ports) hold: reusable for free."""
        mine = set(self.layout.ports(led))
        levels = set()
        for port, out in enumerate(decode_outputs(self.chip.registers)):
            if port in mine:
                continue
            level = out.pattern.peak if isinstance(out, Blinking) else out.level
            if 0 < level < 15:
                levels.add(level)
        return levels

    def _steady_candidates(self, led: str, wanted: Color) -> list[Color]:
        """Colours near ``wanted``, nearest first, to try when not strict."""
        pool = self._other_levels(led) | {15} | {v for v in wanted if v}
        options = [[v] if v in (0, 15) else _nearest_first(pool | {v}, v) for v in wanted]

        def error(c: Color) -> int:
            return sum(abs(a - b) for a, b in zip(c, wanted, strict=True))

        return sorted(itertools.product(*options), key=error)

    def _pattern_candidates(self, led: str, pattern: Pattern, strict: bool) -> list[Pattern]:
        """Patterns near ``pattern``, nearest first: other peaks, then a bank's pattern."""
        if strict:
            return [pattern]
        peaks = _nearest_first(self._other_levels(led) | {15, pattern.peak}, pattern.peak)
        candidates = [Pattern(pattern.times, p, pattern.one_shot) for p in peaks]
        registers = self.chip.registers
        mine = set(self.layout.ports(led))
        for port, state in enumerate(registers.ports):
            if port not in mine and state >= STATE_BLINK0:
                out = decode_outputs(registers)[port]
                assert isinstance(out, Blinking)
                if out.pattern not in candidates:
                    candidates.append(out.pattern)
        return candidates

    def _apply_first(self, candidates: Iterable[Mapping[int, Output]]) -> None:
        """Apply the first request the chip can show; raise the first refusal if none."""
        first_error: LedResourceError | None = None
        for requests in candidates:
            try:
                allocation = allocate(self.chip.registers, requests, self._names)
            except LedResourceError as exc:
                first_error = first_error or exc
                continue
            self.chip.apply(allocation.registers, allocation.restart)
            return
        assert first_error is not None
        raise first_error
