"""The simulated chip as a bus: auto-increment, wrap, NACKs, reads, persistence."""

from __future__ import annotations

import errno

import pytest

from earlgate.led.registers import AUTO_INCREMENT, Registers
from earlgate.led.simulator import SimulatedTCA6507

from .conftest import FakeClock

EREMOTEIO = 121


def nack(sim: SimulatedTCA6507, call: str, *args: object) -> OSError:
    with pytest.raises(OSError) as info:
        getattr(sim, call)(*args)
    assert info.value.errno == EREMOTEIO == getattr(errno, "EREMOTEIO", 121)
    return info.value


def test_power_up_registers(sim: SimulatedTCA6507) -> None:
    assert sim.registers == Registers()
    assert sim.read_i2c_block_data(0x45, AUTO_INCREMENT, 11) == [
        0, 0, 0, 0x44, 0x44, 0x44, 0x44, 0x44, 0xFF, 0x0F, 0x00,
    ]  # fmt: skip


def test_auto_increment_burst(sim: SimulatedTCA6507) -> None:
    sim.write_i2c_block_data(0x45, AUTO_INCREMENT | 0x03, [1, 2, 3, 4, 5])
    assert sim.register_bytes()[3:8] == bytes([1, 2, 3, 4, 5])
    assert sim.read_i2c_block_data(0x45, AUTO_INCREMENT | 0x04, 3) == [2, 3, 4]


def test_burst_wraps_from_0x0a_to_0x00(sim: SimulatedTCA6507) -> None:
    # 0x09, 0x0A (INITIALIZATION, write-only), then 0x00, 0x01.
    sim.write_i2c_block_data(0x45, AUTO_INCREMENT | 0x09, [0x07, 0x00, 0x11, 0x22])
    data = sim.register_bytes()
    assert data[9] == 0x07 and data[0] == 0x11 and data[1] == 0x22
    # A read wraps the same way; 0x0A reads as 0.
    assert sim.read_i2c_block_data(0x45, AUTO_INCREMENT | 0x08, 5) == [0xFF, 0x07, 0x00, 0x11, 0x22]


def test_a_full_32_byte_burst_wraps_round_more_than_once(sim: SimulatedTCA6507) -> None:
    sim.write_i2c_block_data(0x45, AUTO_INCREMENT, list(range(32)))
    # Byte i lands in register i % 11; the last write to register r wins.
    expected = [max(i for i in range(32) if i % 11 == r) for r in range(10)]
    expected[:3] = [v & 0x7F for v in expected[:3]]
    assert list(sim.register_bytes()) == expected


def test_without_auto_increment_every_byte_hits_one_register(sim: SimulatedTCA6507) -> None:
    sim.write_i2c_block_data(0x45, 0x08, [0x12, 0x34])
    assert sim.register_bytes()[8] == 0x34
    assert sim.read_i2c_block_data(0x45, 0x08, 3) == [0x34] * 3


def test_single_register_access(sim: SimulatedTCA6507) -> None:
    sim.write_byte_data(0x45, 0x09, 0x05)
    assert sim.read_byte_data(0x45, 0x09) == 0x05
    assert sim.read_byte_data(0x45, 0x0A) == 0  # write-only


@pytest.mark.parametrize("register", range(0x0B, 0x10))
def test_registers_0b_to_0f_are_not_acknowledged(sim: SimulatedTCA6507, register: int) -> None:
    before = sim.register_bytes()
    nack(sim, "write_byte_data", 0x45, register, 1)
    nack(sim, "write_i2c_block_data", 0x45, AUTO_INCREMENT | register, [1, 2])
    nack(sim, "read_byte_data", 0x45, register)
    nack(sim, "read_i2c_block_data", 0x45, AUTO_INCREMENT | register, 2)
    assert sim.register_bytes() == before
    assert not sim.transfers


def test_other_addresses_and_high_command_bits_are_not_acknowledged(
    sim: SimulatedTCA6507,
) -> None:
    nack(sim, "write_byte_data", 0x44, 0x00, 1)
    nack(sim, "read_byte_data", 0x46, 0x00)
    # "Bits 7..5 must be 0."
    nack(sim, "write_byte_data", 0x45, 0x20, 1)
    nack(sim, "write_i2c_block_data", 0x45, 0x80 | AUTO_INCREMENT, [1])


def test_injected_nacks_fail_the_next_transfers_only(sim: SimulatedTCA6507) -> None:
    sim.inject_nacks(2)
    nack(sim, "read_byte_data", 0x45, 0)
    nack(sim, "read_byte_data", 0x45, 0)
    assert sim.read_byte_data(0x45, 0) == 0


def test_smbus_limits(sim: SimulatedTCA6507) -> None:
    with pytest.raises(ValueError):
        sim.write_i2c_block_data(0x45, AUTO_INCREMENT, [0] * 33)
    with pytest.raises(ValueError):
        sim.read_i2c_block_data(0x45, AUTO_INCREMENT, 33)
    with pytest.raises(ValueError):
        sim.write_byte_data(0x45, 0, 256)


def test_select_bit_7_reads_as_zero(sim: SimulatedTCA6507) -> None:
    sim.write_byte_data(0x45, 0x00, 0xFF)
    assert sim.read_byte_data(0x45, 0x00) == 0x7F


def test_transfers_are_logged_with_their_time(sim: SimulatedTCA6507, clock: FakeClock) -> None:
    clock.advance(1.5)
    sim.write_i2c_block_data(0x45, AUTO_INCREMENT | 3, [1, 2])
    (transfer,) = sim.transfers
    assert transfer.kind == "write" and transfer.register == 3 and transfer.auto_increment
    assert transfer.data == bytes([1, 2]) and transfer.time == 101.5


def test_port_entry_time_is_tracked(sim: SimulatedTCA6507, clock: FakeClock) -> None:
    # P4 to state 6: SELECT1 bit 4 and SELECT2 bit 4, one burst at t=101.
    clock.advance(1)
    sim.write_i2c_block_data(0x45, AUTO_INCREMENT, [0x00, 0x10, 0x10])
    assert sim.pattern_start(4) == 101.0
    assert sim.pattern_start(3) is None
    # Rewriting the same state is not entering it.
    clock.advance(1)
    sim.write_i2c_block_data(0x45, AUTO_INCREMENT, [0x00, 0x10, 0x10])
    assert sim.pattern_start(4) == 101.0
    # INITIALIZATION restarts bank 0's pattern.
    clock.advance(1)
    sim.write_byte_data(0x45, 0x0A, 0x08)
    assert sim.pattern_start(4) == 103.0
    # Bank 1's restart bit does not touch bank 0.
    clock.advance(1)
    sim.write_byte_data(0x45, 0x0A, 0x80)
    assert sim.pattern_start(4) == 103.0


def test_state_round_trips_through_a_dict(sim: SimulatedTCA6507, clock: FakeClock) -> None:
    sim.write_i2c_block_data(0x45, AUTO_INCREMENT, [0x00, 0x10, 0x10, 0x06])
    clock.advance(2)
    sim.write_byte_data(0x45, 0x0A, 0x08)
    again = SimulatedTCA6507.from_dict(sim.to_dict(), clock=clock)
    assert again.register_bytes() == sim.register_bytes()
    assert again.pattern_start(4) == sim.pattern_start(4)
    for t in (102.0, 102.3, 103.9):
        assert again.level(4, t) == sim.level(4, t)


@pytest.mark.parametrize(
    "state",
    [{}, {"registers": "zz", "since": [], "restarted": []}, {"registers": "00" * 10}],
)
def test_bad_state_is_refused(state: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SimulatedTCA6507.from_dict(state)


def test_it_stands_in_for_smbus_as_a_context_manager(clock: FakeClock) -> None:
    with SimulatedTCA6507(clock=clock) as bus:
        bus.write_byte_data(0x45, 0x09, 1)
    assert bus.read_byte_data(0x45, 0x09) == 1
