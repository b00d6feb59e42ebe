"""Property: any sequence of requests is shown exactly, or refused leaving all as it was."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from earlgate.led import (
    BALL_PROBE,
    TCA6507,
    BlinkTiming,
    LedModule,
    LedResourceError,
    LedState,
    LedUsageError,
    SimulatedTCA6507,
)
from earlgate.led.timecodes import TIME_CODES_MS, round_time

from .conftest import FakeClock

LEDS = ("lower", "upper")
# Levels drawn mostly from a few values so that sharing and conflicts happen.
levels = st.one_of(st.sampled_from([0, 0, 15, 3, 7, 11]), st.integers(0, 15))
colors = st.tuples(levels, levels, levels)
times = st.one_of(st.sampled_from(TIME_CODES_MS[:9]), st.integers(0, 3000))
flags = st.booleans()

ops = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(LEDS), colors, flags),
    st.tuples(st.just("blink"), st.sampled_from(LEDS), colors, times, times, times, flags),
    st.tuples(st.just("off"), st.sampled_from((*LEDS, None))),
    st.tuples(st.just("wait"), st.floats(0, 5)),
)


def expected_blink(color: tuple[int, ...], on: int, off: int, fade: int) -> LedState:
    if not any(color):
        return LedState(color)
    r_on, r_off, r_fade = (round_time(t).ms for t in (on, off, fade))
    return LedState(color, BlinkTiming(r_fade, r_on, r_fade, r_off, r_off))


def decoded(sim: SimulatedTCA6507) -> dict[str, LedState]:
    """What the chip shows, read back over the bus by a fresh driver."""
    fresh = TCA6507(sim)
    fresh.load()
    return LedModule(fresh).states()


def check_waveform(sim: SimulatedTCA6507, states: dict[str, LedState]) -> None:
    for led, state in states.items():
        ports = BALL_PROBE.leds[led]
        if state.blink is None:
            assert [round(sim.level(p) * 15) for p in ports] == list(state.color)
            continue
        b = state.blink
        start = sim.pattern_start(next(p for p, c in zip(ports, state.color, strict=True) if c))
        assert start is not None
        if b.fully_on_ms:
            t = start + (b.fade_on_ms + b.fully_on_ms / 2) / 1000
            assert [round(sim.level(p, t) * 15) for p in ports] == list(state.color)
        if b.first_off_ms:
            t = start + (b.fade_on_ms + b.fully_on_ms + b.fade_off_ms + b.first_off_ms / 2) / 1000
            assert [sim.level(p, t) for p in ports] == [0.0] * len(ports)


@settings(max_examples=150, deadline=None)
@given(st.lists(ops, max_size=10))
def test_requests_are_shown_exactly_or_change_nothing(sequence: list[tuple[Any, ...]]) -> None:
    clock = FakeClock()
    sim = SimulatedTCA6507(clock=clock)
    chip = TCA6507(sim)
    chip.load()
    leds = LedModule(chip)
    expected = {led: LedState((0, 0, 0)) for led in LEDS}
    for op in sequence:
        if op[0] == "wait":
            clock.advance(op[1])
            continue
        before = (sim.register_bytes(), [sim.pattern_start(p) for p in range(7)])
        count = len(sim.transfers)
        try:
            if op[0] == "set":
                _, led, color, strict = op
                result = leds.set_color(led, color, strict=strict)
                expected[led] = LedState(color) if strict else result
            elif op[0] == "blink":
                _, led, color, on, off, fade, strict = op
                result = leds.blink(led, color, on, off, fade, strict=strict)
                expected[led] = expected_blink(color, on, off, fade) if strict else result
            else:
                _, led = op
                leds.off(led)
                for name in LEDS if led is None else (led,):
                    expected[name] = LedState((0, 0, 0))
        except (LedResourceError, LedUsageError):
            assert op[-1] is True or op[0] == "blink"  # only strict requests are refused
            assert (sim.register_bytes(), [sim.pattern_start(p) for p in range(7)]) == before
            assert len(sim.transfers) == count
        assert decoded(sim) == expected
        check_waveform(sim, expected)
