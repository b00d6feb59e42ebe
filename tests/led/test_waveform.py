"""The output waveform: steady duties, blink sequence timing, fades, one-shot."""

from __future__ import annotations

from dataclasses import replace

import pytest

from earlgate.led import LedModule, SimulatedTCA6507
from earlgate.led.registers import Registers
from earlgate.led.waveform import (
    FADE_OFF,
    FADE_ON,
    FIRST_OFF,
    FULLY_ON,
    SECOND_OFF,
    blink_level,
    blink_phase,
    period_ms,
    port_level,
)

from .conftest import FakeClock


def test_steady_states_are_duty_n_over_15() -> None:
    regs = replace(Registers(), max_intensity=(3, 9), master=6)
    expected = {0: 0.0, 1: 0.0, 2: 3 / 15, 3: 9 / 15, 4: 1.0, 5: 6 / 15}
    for state, duty in expected.items():
        assert port_level(regs.with_port(2, state), 2) == pytest.approx(duty)


def test_ald_override_replaces_a_banks_maximum() -> None:
    # "bank 0/1 maximum taken from ALD".
    regs = replace(Registers(), max_intensity=(3, 9), master=6, master_overrides=(True, False))
    assert port_level(regs.with_port(0, 2), 0) == pytest.approx(6 / 15)
    assert port_level(regs.with_port(0, 3), 0) == pytest.approx(9 / 15)


def test_the_eight_segments_in_order() -> None:
    times = (100, 200, 300, 400, 500)
    # "fade-on (A), fully-on (B), fade-off (C), first fully-off (D), fade-on (A),
    # fully-on (B), fade-off (C), second fully-off (E)".
    assert period_ms(times) == 2 * (100 + 200 + 300) + 400 + 500
    starts = [0, 100, 300, 600, 1000, 1100, 1300, 1600]
    names = [FADE_ON, FULLY_ON, FADE_OFF, FIRST_OFF, FADE_ON, FULLY_ON, FADE_OFF, SECOND_OFF]
    for start, name in zip(starts, names, strict=True):
        phase = blink_phase(times, start + 1)
        assert phase is not None and phase[0] == name and phase[1] == pytest.approx(1)
    assert blink_phase(times, 2100 + 1)[0] == FADE_ON  # type: ignore[index]


def test_fades_are_linear_staircases() -> None:
    times = (150, 0, 150, 100, 100)
    # Fade-on to peak 15 over 150 ms: one level every 10 ms, 0 … 14.
    assert [blink_level(times, 15, t) for t in (0, 9.9, 10, 75, 149.9)] == [0, 0, 1, 7, 14]
    # Fade-off mirrors it: 15 … 1, then the fully-off time.
    assert [blink_level(times, 15, 150 + t) for t in (0, 10, 75, 149.9)] == [15, 14, 8, 1]
    assert blink_level(times, 15, 300) == 0
    # A lower peak takes bigger steps: peak 3 over 150 ms, one level every 50 ms.
    assert [blink_level(times, 3, t) for t in (0, 49, 50, 100, 149)] == [0, 0, 1, 2, 2]


def test_one_shot_runs_one_period_and_stays_off() -> None:
    times = (0, 100, 0, 100, 100)
    assert blink_level(times, 15, 50, one_shot=True) == 15
    assert blink_level(times, 15, 150, one_shot=True) == 0
    assert blink_level(times, 15, 250, one_shot=True) == 15
    assert blink_level(times, 15, 450, one_shot=True) == 0
    assert blink_level(times, 15, 450, one_shot=False) == 15


def test_a_zero_period_shows_nothing() -> None:
    assert blink_level((0, 0, 0, 0, 0), 15, 10) == 0
    assert blink_phase((0, 0, 0, 0, 0), 10) is None


def test_the_512_1024_blink(leds: LedModule, sim: SimulatedTCA6507, clock: FakeClock) -> None:
    """A 512/1024 ms blink is on at t=0.1 s, off at t=0.7 s, period 3.072 s."""
    t0 = clock.now
    state = leds.blink("upper", (15, 0, 0), on_ms=512, off_ms=1024)
    assert state.blink is not None and state.blink.period_ms == 3072
    red = 4
    assert sim.pattern_start(red) == t0
    assert sim.level(red, t0 + 0.1) == 1.0
    assert sim.level(red, t0 + 0.7) == 0.0
    for k in range(3):
        base = t0 + 3.072 * k
        assert sim.level(red, base + 0.1) == 1.0
        assert sim.level(red, base + 0.7) == 0.0
        assert sim.level(red, base + 1.536 + 0.1) == 1.0  # second half: on again
        assert sim.level(red, base + 2.048 + 0.5) == 0.0  # second fully-off
    # The edges: on for [0, 512) ms, off for [512, 1536) ms.
    assert sim.level(red, t0 + 0.511) == 1.0
    assert sim.level(red, t0 + 0.512) == 0.0
    assert sim.level(red, t0 + 1.535) == 0.0
    assert sim.level(red, t0 + 1.536) == 1.0
    assert sim.level(red, t0 + 3.071) == 0.0
    assert sim.level(red, t0 + 3.072) == 1.0
    # The other channels stay off, the clock's "now" is the default time.
    assert sim.level(5, t0 + 0.1) == 0.0
    clock.advance(0.1)
    assert sim.level(red) == 1.0


def test_a_fading_blink_in_the_simulator(leds: LedModule, sim: SimulatedTCA6507) -> None:
    t0 = sim.clock()
    leds.blink("lower", (0, 0, 15), on_ms=256, off_ms=512, fade_ms=384)
    blue = 3
    assert sim.level(blue, t0) == 0.0
    assert sim.level(blue, t0 + 0.192) == pytest.approx(7 / 15)  # half-way up
    assert sim.level(blue, t0 + 0.384 + 0.1) == 1.0
    assert sim.level(blue, t0 + 0.640 + 0.192) == pytest.approx(8 / 15)  # half-way down
    assert sim.level(blue, t0 + 1.024 + 0.1) == 0.0


def test_render_samples_the_waveform(leds: LedModule, sim: SimulatedTCA6507) -> None:
    t0 = sim.clock()
    leds.blink("upper", (15, 0, 0), on_ms=512, off_ms=1024)
    samples = sim.render(4, t0, t0 + 3.072, 0.256)
    assert len(samples) == 13
    assert [level for _, level in samples] == [1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1]
    assert samples[-1][0] == pytest.approx(t0 + 3.072)
    with pytest.raises(ValueError):
        sim.render(4, t0, t0 + 1, 0)
    with pytest.raises(ValueError):
        sim.level(7)
