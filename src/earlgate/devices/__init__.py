"""Simulated Earl devices (arm-probe accelerometers, Activity Streams thermometers)."""

from __future__ import annotations

from earlgate.devices.models import Accelerometer, Thermometer, activity
from earlgate.devices.simulated import (
    DeviceSpec,
    arm_probe,
    default_devices,
    run_device,
    thermometer,
)

__all__ = [
    "Accelerometer",
    "DeviceSpec",
    "Thermometer",
    "activity",
    "arm_probe",
    "default_devices",
    "run_device",
    "thermometer",
]
