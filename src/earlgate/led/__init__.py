"""The LED module: a TI TCA6507 LED driver on I²C, its simulator, the ball-probe.

Layers, pure core first:

- ``timecodes``, ``registers``, ``waveform``, ``allocator``: the time-code
  table, the register encoder and burst planner, the output waveform model
  and the resource allocator. Pure: no I/O, no clock of their own.
- ``bus``: I²C access through anything shaped like ``smbus2.SMBus``, with
  actionable errors and bounded retries.
- ``chip``: :class:`TCA6507`, the driver (register shadow, minimal bursts).
- ``simulator``: :class:`SimulatedTCA6507`, a fake bus that is the chip.
- ``module``: :class:`LedModule`, RGB LEDs by name and colour.
- ``commands``: the JSON commands of ``earlgate led serve``, checked (pure).
- ``coalesce``: the commands waiting for the chip, the latest per LED winning (pure).
- ``serve``: :class:`LedServer`, the module driven from a hub subject.
- ``sensor``: a simulated light sensor looking at a simulated LED.

The servo loop through a hub (``earlgate bench led-loop``) is a bench:
:mod:`earlgate.bench.led`.

Example::

    from earlgate.led import TCA6507, LedModule, open_bus

    chip = TCA6507(open_bus("/dev/i2c-1"))
    chip.load()
    leds = LedModule(chip)
    leds.blink("upper", (15, 0, 0), on_ms=512, off_ms=1024)
"""

from __future__ import annotations

from earlgate.led.allocator import Blinking, Pattern, Steady, allocate, decode_outputs
from earlgate.led.bus import I2CDevice, SMBusLike, open_bus
from earlgate.led.chip import TCA6507, IntensitySource
from earlgate.led.commands import COMMAND_SCHEMA, CommandError, LedCommand, parse_command
from earlgate.led.errors import I2CError, LedError, LedResourceError, LedUsageError
from earlgate.led.module import BALL_PROBE, BlinkTiming, Layout, LedModule, LedState
from earlgate.led.registers import ADDRESS, Burst, Registers, plan_bursts
from earlgate.led.sensor import SimulatedLightSensor
from earlgate.led.serve import LedServer
from earlgate.led.simulator import SimulatedTCA6507, Transfer
from earlgate.led.timecodes import TIME_CODES_MS, RoundedTime, round_time

__all__ = [
    "ADDRESS",
    "BALL_PROBE",
    "COMMAND_SCHEMA",
    "TCA6507",
    "TIME_CODES_MS",
    "BlinkTiming",
    "Blinking",
    "Burst",
    "CommandError",
    "I2CDevice",
    "I2CError",
    "IntensitySource",
    "Layout",
    "LedCommand",
    "LedError",
    "LedModule",
    "LedResourceError",
    "LedServer",
    "LedState",
    "LedUsageError",
    "Pattern",
    "Registers",
    "RoundedTime",
    "SMBusLike",
    "SimulatedLightSensor",
    "SimulatedTCA6507",
    "Steady",
    "Transfer",
    "allocate",
    "decode_outputs",
    "open_bus",
    "parse_command",
    "plan_bursts",
    "round_time",
]
