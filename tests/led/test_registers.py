"""The register encoder/decoder and the burst planner: bytes in, bytes out."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earlgate.led.registers import (
    AUTO_INCREMENT,
    INITIALIZATION,
    NUM_REGISTERS,
    Burst,
    Registers,
    init_value,
    plan_bursts,
)
from earlgate.led.simulator import SimulatedTCA6507


def test_power_up_defaults() -> None:
    # Spec table: 0x00-0x02 = 0x00, times 0x44, MAX_INTENSITY 0xFF, reg 9 0x0F.
    assert Registers().encode() == bytes([0, 0, 0, 0x44, 0x44, 0x44, 0x44, 0x44, 0xFF, 0x0F])


@pytest.mark.parametrize("state", range(8))
@pytest.mark.parametrize("port", range(7))
def test_every_port_state_lands_in_the_select_bits(port: int, state: int) -> None:
    data = Registers().with_port(port, state).encode()
    # "SELECT0: bit n = bit 0 of port Pn's 3-bit state", SELECT1 bit 1, SELECT2 bit 2.
    assert data[0] == (state & 1) << port
    assert data[1] == (state >> 1 & 1) << port
    assert data[2] == (state >> 2 & 1) << port
    assert Registers.decode(data).ports[port] == state


def test_bank_nibbles_and_reg9_bits() -> None:
    regs = replace(
        Registers(),
        fade_on=(1, 2),
        fully_on=(3, 4),
        fade_off=(5, 6),
        first_off=(7, 8),
        second_off=(9, 10),
        max_intensity=(11, 12),
        master=13,
        master_overrides=(True, False),
        one_shot=(False, True),
    )
    data = regs.encode()
    # "high nibble = bank 1, low nibble = bank 0".
    assert data[3:9] == bytes([0x21, 0x43, 0x65, 0x87, 0xA9, 0xCB])
    # ALD 13 | bit 4 (bank 0 from ALD) | bit 7 (bank 1 one-shot).
    assert data[9] == 0x0D | 0x10 | 0x80
    assert regs.bank_level(0) == 13 and regs.bank_level(1) == 12
    assert regs.bank_times(1) == (2, 4, 6, 8, 10)
    assert regs.bank_times_ms(0) == (64, 192, 384, 768, 1536)


def test_out_of_range_fields_are_refused() -> None:
    with pytest.raises(ValueError):
        Registers(ports=(8, 0, 0, 0, 0, 0, 0))
    with pytest.raises(ValueError):
        Registers(max_intensity=(16, 0))
    with pytest.raises(ValueError):
        Registers(master=-1)
    with pytest.raises(ValueError):
        Registers.decode(b"\x00" * 9)


register_bytes = st.lists(st.integers(0, 255), min_size=10, max_size=10).map(
    lambda b: bytes([v & 0x7F if i < 3 else v for i, v in enumerate(b)])
)


@given(register_bytes)
def test_decode_encode_round_trip(data: bytes) -> None:
    assert Registers.decode(data).encode() == data


def test_describe_names_every_register() -> None:
    text = "\n".join(Registers().with_port(4, 6).describe())
    for name in ("SELECT0-2", "FADE_ON_TIME", "SECOND_FULLY_OFF_TIME", "MAX_INTENSITY"):
        assert name in text
    assert "P4=6 (blink bank 0)" in text


def test_init_value_bits() -> None:
    # "bit 3 bank 0, bit 7 bank 1".
    assert init_value([0]) == 0x08
    assert init_value([1]) == 0x80
    assert init_value([0, 1]) == 0x88
    assert init_value([]) == 0
    with pytest.raises(ValueError):
        init_value([2])


# -- burst planning ------------------------------------------------------------

BASE = bytes([0, 0, 0, 0x44, 0x44, 0x44, 0x44, 0x44, 0xFF, 0x0F])


def changed(*regs: int) -> bytes:
    data = bytearray(BASE)
    for reg in regs:
        data[reg] ^= 0x01
    return bytes(data)


def test_nothing_changed_nothing_written() -> None:
    assert plan_bursts(BASE, BASE) == []


def test_one_register_one_byte() -> None:
    assert plan_bursts(BASE, changed(8)) == [Burst(8, bytes([0xFE]))]


def test_far_apart_changes_are_two_bursts() -> None:
    bursts = plan_bursts(BASE, changed(0, 5))
    assert [(b.start, len(b.data)) for b in bursts] == [(0, 1), (5, 1)]


def test_small_gaps_are_bridged_with_current_values() -> None:
    new = changed(3, 6)
    (burst,) = plan_bursts(BASE, new)
    assert burst.start == 3 and burst.data == new[3:7]


def test_a_run_wraps_through_initialization() -> None:
    # 0x09 and 0x00 changed: one burst 0x09, 0x0A (written 0: no restart), 0x00.
    new = changed(9, 0)
    (burst,) = plan_bursts(BASE, new)
    assert burst.start == 9
    assert burst.registers == [9, INITIALIZATION, 0]
    assert burst.data == bytes([new[9], 0x00, new[0]])


def test_restart_rides_at_the_end_of_the_burst() -> None:
    new = changed(7, 8)
    (burst,) = plan_bursts(BASE, new, restart=[1])
    assert burst.registers == [7, 8, 9, INITIALIZATION]
    assert burst.data[-1] == 0x80


def test_the_initialization_burst_goes_last() -> None:
    bursts = plan_bursts(BASE, changed(3), restart=[0])
    assert bursts[-1].registers[-1] == INITIALIZATION
    assert [b.start for b in bursts] == [3, INITIALIZATION]


def test_everything_changed_is_one_burst() -> None:
    new = bytes(v ^ 0x01 for v in BASE)
    (burst,) = plan_bursts(BASE, new)
    assert burst.start == 0 and burst.data == new


@given(register_bytes, register_bytes, st.sets(st.sampled_from([0, 1])))
def test_planned_bursts_turn_old_into_new_on_the_chip(
    old: bytes, new: bytes, restart: set[int]
) -> None:
    sim = SimulatedTCA6507(clock=lambda: 0.0)
    sim.write_i2c_block_data(0x45, AUTO_INCREMENT, list(old))
    bursts = plan_bursts(old, new, restart)
    for burst in bursts:
        assert 1 <= len(burst.data) <= NUM_REGISTERS
        sim.write_i2c_block_data(0x45, AUTO_INCREMENT | burst.start, list(burst.data))
    assert sim.register_bytes() == new
    written = {reg for burst in bursts for reg in burst.registers}
    assert {r for r in range(10) if old[r] != new[r]} <= written
    if restart:
        assert INITIALIZATION in written
    # Never worse than one full burst (2 bytes of address and command + 11).
    assert sum(2 + len(b.data) for b in bursts) <= 2 + NUM_REGISTERS
