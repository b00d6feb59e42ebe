"""The driver: shadow and minimal bursts, the thesis's helpers, I²C errors."""

from __future__ import annotations

import errno
from dataclasses import replace

import pytest

from earlgate.led import TCA6507, I2CError, LedError, Registers, SimulatedTCA6507, open_bus
from earlgate.led.bus import I2CDevice
from earlgate.led.registers import AUTO_INCREMENT


def writes(sim: SimulatedTCA6507) -> list[tuple[int, bytes]]:
    return [(t.command, t.data) for t in sim.transfers if t.kind == "write"]


def test_load_reads_all_readable_registers_in_one_burst(sim: SimulatedTCA6507) -> None:
    chip = TCA6507(sim)
    assert not chip.synchronised
    assert chip.load() == Registers()
    assert chip.synchronised
    (read,) = sim.transfers
    assert read.command == AUTO_INCREMENT and len(read.data) == 10


def test_first_apply_without_load_writes_everything(sim: SimulatedTCA6507) -> None:
    chip = TCA6507(sim)
    chip.apply(Registers().with_port(1, 4))
    assert writes(sim) == [(AUTO_INCREMENT, Registers().with_port(1, 4).encode())]


def test_write_all_is_init_tca6507(chip: TCA6507, sim: SimulatedTCA6507) -> None:
    regs = replace(Registers(), master=3).with_port(2, 5)
    chip.write_all(regs, restart=[0, 1])
    ((command, data),) = writes(sim)
    assert command == AUTO_INCREMENT and data == regs.encode() + b"\x88"
    assert sim.registers == regs == chip.registers


def test_apply_writes_only_what_changed(chip: TCA6507, sim: SimulatedTCA6507) -> None:
    bursts = chip.apply(replace(Registers(), max_intensity=(7, 15)))
    assert [(b.start, b.data) for b in bursts] == [(8, bytes([0xF7]))]
    # One register: a plain write_byte_data, no auto-increment.
    assert writes(sim) == [(0x08, bytes([0xF7]))]
    assert chip.apply(chip.registers) == []
    assert len(writes(sim)) == 1


def test_write_register_is_transmit_command(chip: TCA6507, sim: SimulatedTCA6507) -> None:
    chip.write_register(0x09, 0x07)
    assert sim.registers.master == 7 == chip.registers.master
    chip.write_register(0x0A, 0x08)  # a pulse, not state
    assert chip.registers.master == 7
    with pytest.raises(ValueError):
        chip.write_register(0x0B, 0)
    with pytest.raises(ValueError):
        chip.write_register(0x00, 256)


def test_restart_writes_initialization(chip: TCA6507, sim: SimulatedTCA6507) -> None:
    chip.restart([1])
    assert writes(sim) == [(0x0A, b"\x80")]
    chip.restart([])
    assert len(writes(sim)) == 1


def test_intensity_steps_like_increment_pwm(chip: TCA6507, sim: SimulatedTCA6507) -> None:
    assert chip.decrement_intensity("master") == 14
    assert chip.increment_intensity("master") == 15
    assert chip.increment_intensity("master") == 15  # stays at the top
    chip.apply(replace(chip.registers, max_intensity=(0, 5)))
    assert chip.decrement_intensity("bank0") == 0  # stays at the bottom
    assert chip.increment_intensity("bank1") == 6
    assert sim.registers.max_intensity == (0, 6)
    with pytest.raises(ValueError):
        chip.increment_intensity("bank2")  # type: ignore[arg-type]


def test_test_ports_lights_each_port_in_turn(
    chip: TCA6507, sim: SimulatedTCA6507, sleeps: list[float]
) -> None:
    before = replace(Registers(), master=9).with_port(0, 5)
    chip.apply(before)
    lit: list[list[int]] = []
    original_sleep = chip._sleep

    def look(seconds: float) -> None:
        lit.append([p for p in range(7) if sim.level(p) > 0])
        original_sleep(seconds)

    chip._sleep = look
    assert chip.test_ports(delay=0.25) == list(range(7))
    assert lit == [[p] for p in range(7)]
    assert sleeps == [0.25] * 7
    assert sim.registers == before  # restored


def test_test_count_ramps_the_master_level(chip: TCA6507, sim: SimulatedTCA6507) -> None:
    shown = chip.test_count(delay=0.0, ports=[1, 2], cycles=2)
    assert shown == list(range(16)) * 2
    assert sim.registers == Registers()


# -- errors ------------------------------------------------------------------------


def test_nack_becomes_i2c_error_naming_bus_address_register(sim: SimulatedTCA6507) -> None:
    chip = TCA6507(sim, sleep=lambda s: None)
    sim.inject_nacks(10)
    with pytest.raises(I2CError) as info:
        chip.write_register(0x08, 0x11)
    err = info.value
    assert isinstance(err, LedError)
    assert (err.bus, err.address, err.register, err.errno) == ("simulated", 0x45, 0x08, 121)
    text = str(err)
    assert "simulated" in text and "0x45" in text and "register 0x08" in text
    assert "NACK after 3 attempts" in text and "pull-ups" in text


def test_transient_nacks_are_retried(sim: SimulatedTCA6507) -> None:
    delays: list[float] = []
    chip = TCA6507(sim, retries=2, sleep=delays.append)
    sim.inject_nacks(2)
    chip.write_register(0x09, 0x03)
    assert sim.registers.master == 3
    assert delays == [0.001, 0.001]
    assert chip.device.retried == 1


def test_retries_are_bounded(sim: SimulatedTCA6507) -> None:
    chip = TCA6507(sim, retries=1, sleep=lambda s: None)
    sim.inject_nacks(2)
    with pytest.raises(I2CError):
        chip.load()
    assert chip.load() == Registers()


class BusyBus:
    """A bus whose kernel driver owns the address, as Linux reports it."""

    name = "/dev/i2c-1"

    def __init__(self, code: int = errno.EBUSY) -> None:
        self.code = code
        self.calls = 0

    def _fail(self, *args: object, **kwargs: object) -> None:
        self.calls += 1
        raise OSError(self.code, "Device or resource busy")

    write_i2c_block_data = write_byte_data = read_i2c_block_data = read_byte_data = _fail


def test_ebusy_says_to_unbind_the_kernel_driver() -> None:
    bus = BusyBus()
    chip = TCA6507(bus, sleep=lambda s: None)  # type: ignore[arg-type]
    with pytest.raises(I2CError) as info:
        chip.load()
    assert bus.calls == 1  # not retried
    text = str(info.value)
    assert "/dev/i2c-1" in text and "0x45" in text and "register 0x00" in text
    assert "unbind" in text and "1-0045" in text and "/sys/class/leds" in text


def test_other_errors_are_not_retried() -> None:
    bus = BusyBus(errno.EINVAL)
    with pytest.raises(I2CError, match="I²C transfer failed"):
        TCA6507(bus).write_register(0, 0)  # type: ignore[arg-type]
    assert bus.calls == 1


def test_nack_on_a_missing_register_is_an_i2c_error(sim: SimulatedTCA6507) -> None:
    device = I2CDevice(sim, 0x45, sleep=lambda s: None)
    with pytest.raises(I2CError, match="register 0x0C"):
        device.write_byte(0x0C, 1)
    with pytest.raises(I2CError, match="address 0x46"):
        I2CDevice(sim, 0x46, retries=0).read_byte(0)
    with pytest.raises(ValueError):
        I2CDevice(sim, 0x80)


def test_open_bus_on_a_missing_device_says_how_to_enable_i2c(tmp_path: object) -> None:
    with pytest.raises(I2CError) as info:
        open_bus("/dev/i2c-no-such-bus")
    assert "/dev/i2c-no-such-bus" in str(info.value) and "raspi-config" in str(info.value)
