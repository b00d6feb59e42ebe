"""The ball-probe LED module: colours, blinks, resource sharing and refusals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from earlgate.led import (
    BALL_PROBE,
    TCA6507,
    Layout,
    LedModule,
    LedResourceError,
    LedUsageError,
    SimulatedTCA6507,
)

from .conftest import FakeClock

LOWER, UPPER = BALL_PROBE.leds["lower"], BALL_PROBE.leds["upper"]


def shown(sim: SimulatedTCA6507, ports: tuple[int, ...], t: float | None = None) -> list[int]:
    """Steady levels the simulator outputs, back in 0-15 units."""
    return [round(sim.level(p, t) * 15) for p in ports]


@contextmanager
def unchanged(sim: SimulatedTCA6507) -> Iterator[None]:
    """Assert the block leaves the chip exactly as it was: bytes, phases, no writes."""
    regs = sim.register_bytes()
    starts = [sim.pattern_start(p) for p in range(7)]
    count = len(sim.transfers)
    yield
    assert sim.register_bytes() == regs
    assert [sim.pattern_start(p) for p in range(7)] == starts
    assert len(sim.transfers) == count


def test_layout_of_the_ball_probe() -> None:
    assert LOWER == (1, 2, 3) and UPPER == (4, 5, 6)
    assert BALL_PROBE.port_names()[5] == "upper.green"
    with pytest.raises(ValueError):
        Layout({"a": (1, 2, 3), "b": (3, 4, 5)})
    with pytest.raises(ValueError):
        Layout({"a": (7,)})
    with pytest.raises(ValueError):
        Layout({"all": (1,)})


@pytest.mark.parametrize(
    "color", [(0, 0, 0), (15, 0, 0), (0, 15, 0), (15, 15, 15), (8, 0, 0), (1, 2, 3), (14, 7, 14)]
)
def test_steady_colours_show_as_requested(
    leds: LedModule, sim: SimulatedTCA6507, color: tuple[int, int, int]
) -> None:
    state = leds.set_color("lower", color)
    assert state.color == color and state.blink is None
    assert shown(sim, LOWER) == list(color)
    assert shown(sim, UPPER) == [0, 0, 0]
    assert sim.registers.ports[0] == 0  # P0 unused


def test_levels_use_every_steady_port_state(leds: LedModule, sim: SimulatedTCA6507) -> None:
    leds.set_color("lower", (15, 5, 0))
    leds.set_color("upper", (9, 12, 0))
    # 0 off, 15 fully on, three partial levels on ALD, bank 0 and bank 1.
    assert sorted(sim.registers.ports[1:]) == [0, 0, 2, 3, 4, 5]
    assert shown(sim, LOWER + UPPER) == [15, 5, 0, 9, 12, 0]


def test_a_fourth_partial_level_is_refused_and_nothing_changes(
    leds: LedModule, sim: SimulatedTCA6507
) -> None:
    leds.set_color("lower", (1, 2, 3))
    leds.set_color("upper", (3, 2, 1))  # the same three levels: shared
    with unchanged(sim), pytest.raises(LedResourceError) as info:
        leds.set_color("upper", (4, 0, 0))
    message = str(info.value)
    assert "4 (upper.red)" in message and "1 (lower.red)" in message and "three" in message
    assert leds.state("upper").color == (3, 2, 1)


def test_not_strict_approximates_the_level(leds: LedModule, sim: SimulatedTCA6507) -> None:
    leds.set_color("lower", (1, 2, 3))
    state = leds.set_color("upper", (4, 0, 9), strict=False)
    assert state.color == (3, 0, 3)
    assert shown(sim, UPPER) == [3, 0, 3]
    assert shown(sim, LOWER) == [1, 2, 3]


def test_module_wide_non_strict(chip: TCA6507, sim: SimulatedTCA6507) -> None:
    leds = LedModule(chip, strict=False)
    leds.set_color("lower", (1, 5, 9))
    assert leds.set_color("upper", (2, 0, 0)).color == (1, 0, 0)
    with pytest.raises(LedResourceError):
        leds.set_color("upper", (2, 0, 0), strict=True)


def test_blink_uses_one_bank_and_the_colour_as_its_maximum(
    leds: LedModule, sim: SimulatedTCA6507
) -> None:
    state = leds.blink("lower", (0, 9, 9), on_ms=512, off_ms=1024, fade_ms=128)
    assert state.color == (0, 9, 9) and state.bank is not None
    assert state.blink is not None
    assert (state.blink.on_ms, state.blink.off_ms, state.blink.fade_ms) == (512, 1024, 128)
    regs = sim.registers
    bank = state.bank
    assert regs.ports[1:4] == (0, 6 + bank, 6 + bank)
    # fade-on/off = fade_ms, fully-on = on_ms, both fully-off = off_ms, max = level.
    assert regs.bank_times_ms(bank) == (128, 512, 128, 1024, 1024)
    assert regs.max_intensity[bank] == 9


def test_blink_refusals_change_nothing(leds: LedModule, sim: SimulatedTCA6507) -> None:
    leds.set_color("upper", (3, 0, 0))
    with unchanged(sim):
        with pytest.raises(LedResourceError, match="on_ms=300 ms is 14.7%"):
            leds.blink("lower", (15, 0, 0), on_ms=300, off_ms=1024)
        with pytest.raises(LedResourceError, match="one maximum level"):
            leds.blink("lower", (15, 8, 0), on_ms=512, off_ms=1024)
        with pytest.raises(LedUsageError):
            leds.blink("lower", (15, 0, 0), on_ms=0, off_ms=0)
        with pytest.raises(LedUsageError):
            leds.blink("lower", (15, 0, 0), on_ms=-5, off_ms=100)


def test_blink_not_strict_rounds_times_and_unifies_levels(leds: LedModule) -> None:
    state = leds.blink("lower", (15, 8, 0), on_ms=300, off_ms=10000, strict=False)
    assert state.color == (15, 15, 0)
    assert state.blink is not None
    assert (state.blink.on_ms, state.blink.off_ms) == (256, 8128)


def test_blinking_again_reuses_the_leds_own_bank_and_restarts_it(
    leds: LedModule, sim: SimulatedTCA6507, clock: FakeClock
) -> None:
    first = leds.blink("lower", (15, 0, 0), on_ms=512, off_ms=1024)
    leds.blink("upper", (0, 0, 15), on_ms=256, off_ms=256)
    upper_bank = leds.state("upper").bank
    upper_start = sim.pattern_start(6)
    upper_times = sim.registers.bank_times(upper_bank)  # type: ignore[arg-type]
    clock.advance(0.3)
    again = leds.blink("lower", (15, 0, 0), on_ms=1024, off_ms=2048)
    assert again.bank == first.bank != upper_bank
    assert sim.pattern_start(1) == clock.now  # restarted through INITIALIZATION
    assert sim.transfers[-1].data[-1] & (0x08 << 4 * first.bank)  # type: ignore[operator]
    # The other LED's pattern and bank are untouched.
    assert sim.pattern_start(6) == upper_start
    assert sim.registers.bank_times(upper_bank) == upper_times  # type: ignore[arg-type]
    assert leds.state("upper").blink is not None


def test_the_same_blink_again_writes_nothing(leds: LedModule, sim: SimulatedTCA6507) -> None:
    leds.blink("lower", (15, 0, 0), on_ms=512, off_ms=1024)
    count = len(sim.transfers)
    leds.blink("lower", (15, 0, 0), on_ms=512, off_ms=1024)
    assert len(sim.transfers) == count


def test_identical_patterns_share_one_bank(leds: LedModule, sim: SimulatedTCA6507) -> None:
    a = leds.blink("lower", (15, 0, 0), on_ms=512, off_ms=1024)
    b = leds.blink("upper", (0, 15, 0), on_ms=512, off_ms=1024)
    assert a.bank == b.bank
    # The other bank is still free for steady levels: three partial levels fit
    # alongside (the shared peak is 15, fully on, so it costs no level).
    leds.set_color("upper", (2, 4, 0))


def test_leaving_a_shared_bank_does_not_disturb_the_other_led(
    leds: LedModule, sim: SimulatedTCA6507, clock: FakeClock
) -> None:
    leds.blink("lower", (15, 0, 0), on_ms=512, off_ms=1024)
    leds.blink("upper", (15, 0, 0), on_ms=512, off_ms=1024)
    bank = leds.state("lower").bank
    start = sim.pattern_start(4)
    clock.advance(1)
    moved = leds.blink("lower", (15, 0, 0), on_ms=256, off_ms=256)
    assert moved.bank != bank and leds.state("upper").bank == bank
    assert sim.pattern_start(4) == start
    assert sim.pattern_start(1) == clock.now


def test_steady_levels_are_moved_invisibly_to_free_a_bank(
    leds: LedModule, sim: SimulatedTCA6507, clock: FakeClock
) -> None:
    leds.set_color("lower", (5, 0, 0))  # takes ALD
    leds.set_color("upper", (3, 7, 0))  # takes both banks' maxima
    leds.blink("lower", (15, 0, 0), on_ms=512, off_ms=512)  # needs a bank
    assert shown(sim, UPPER) == [3, 7, 0]
    assert leds.state("lower").blink is not None


def test_a_banks_level_is_shared_by_steady_ports(leds: LedModule, sim: SimulatedTCA6507) -> None:
    leds.set_color("upper", (3, 7, 11))  # all three levels in use
    with unchanged(sim), pytest.raises(LedResourceError, match="partial levels"):
        leds.blink("lower", (15, 0, 0), on_ms=512, off_ms=512)
    # A peak equal to a level in use costs nothing: the bank shows 7 steady to
    # upper.green and blinks lower at 7.
    state = leds.blink("lower", (7, 0, 0), on_ms=512, off_ms=512)
    assert state.blink is not None
    assert shown(sim, UPPER) == [3, 7, 11]
    # Not strict, a blink at 15 becomes a blink at the nearest level on offer.
    assert leds.blink("lower", (15, 0, 0), 512, 512, strict=False).color == (11, 0, 0)


def test_a_third_pattern_is_refused_naming_who_holds_the_banks(sim: SimulatedTCA6507) -> None:
    layout = Layout({"a": (0,), "b": (1, 2, 3), "c": (4, 5, 6)})
    leds = LedModule(TCA6507(sim), layout)
    leds.blink("a", (15,), on_ms=64, off_ms=64)
    leds.blink("b", (15, 0, 0), on_ms=512, off_ms=1024)
    with unchanged(sim), pytest.raises(LedResourceError) as info:
        leds.blink("c", (0, 15, 0), on_ms=256, off_ms=256)
    message = str(info.value)
    assert "no blink bank is free" in message
    assert "blinks a.red" in message and "blinks b.red" in message
    # Not strict: c joins an existing pattern.
    state = leds.blink("c", (0, 15, 0), on_ms=256, off_ms=256, strict=False)
    assert state.blink is not None and state.blink.on_ms in (64, 512)
    # Turning a off frees its bank.
    leds.off("a")
    assert leds.blink("c", (0, 15, 0), on_ms=256, off_ms=256).blink.on_ms == 256  # type: ignore[union-attr]


def test_off(leds: LedModule, sim: SimulatedTCA6507) -> None:
    leds.set_color("lower", (15, 3, 0))
    leds.blink("upper", (15, 0, 0), 512, 512)
    leds.off("upper")
    assert leds.state("upper").color == (0, 0, 0) and leds.state("upper").blink is None
    assert shown(sim, LOWER) == [15, 3, 0]
    leds.off()
    assert sim.registers.ports == (0,) * 7
    leds.set_color("lower", (1, 1, 1))
    leds.off("all")
    assert sim.registers.ports == (0,) * 7


def test_blinking_black_is_off(leds: LedModule) -> None:
    leds.blink("upper", (15, 0, 0), 512, 512)
    state = leds.blink("upper", (0, 0, 0), 512, 512)
    assert state.color == (0, 0, 0) and state.blink is None


def test_brightness_steps(leds: LedModule, sim: SimulatedTCA6507) -> None:
    leds.set_color("lower", (15, 8, 0))
    assert leds.brightness_down("lower").color == (14, 7, 0)
    assert leds.brightness_up("lower").color == (15, 8, 0)
    assert leds.brightness_up("lower").color == (15, 9, 0)
    leds.set_color("lower", (1, 0, 0))
    assert leds.brightness_down("lower").color == (1, 0, 0)  # a lit channel stays lit
    leds.off("lower")
    assert leds.brightness_up("lower").color == (0, 0, 0)  # an off LED stays off
    leds.blink("upper", (9, 0, 9), 512, 1024)
    state = leds.brightness_up("upper")
    assert state.color == (10, 0, 10) and state.blink is not None and state.blink.on_ms == 512


def test_usage_errors(leds: LedModule) -> None:
    with pytest.raises(LedUsageError, match="unknown LED 'middle'"):
        leds.set_color("middle", (1, 1, 1))
    with pytest.raises(LedUsageError):
        leds.set_color("lower", (16, 0, 0))
    with pytest.raises(LedUsageError):
        leds.set_color("lower", (1, 1))
    with pytest.raises(LedUsageError):
        leds.set_color("lower", (True, 0, 0))
    with pytest.raises(ValueError):  # a LedUsageError is a ValueError too
        leds.set_color("lower", (1.5, 0, 0))  # type: ignore[arg-type]


def test_state_is_decoded_from_the_chip(chip: TCA6507, sim: SimulatedTCA6507) -> None:
    LedModule(chip).blink("upper", (0, 4, 0), 256, 512, once=True)
    # A second module on a fresh driver reads the same state back.
    fresh = TCA6507(sim)
    fresh.load()
    state = LedModule(fresh).state("upper")
    assert state.color == (0, 4, 0) and state.blink is not None and state.blink.once
    assert "blinking on 256/off 512/fade 0 ms, once" in state.describe()
    assert LedModule(fresh).state("lower").describe() == "(0, 0, 0) off"
