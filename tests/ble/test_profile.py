"""The Earl profile's codecs: round trips, and random bytes never raise but ProfileError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earlgate.ble import profile
from earlgate.ble.profile import (
    DeviceInfo,
    LedState,
    LedWrite,
    ProfileError,
    Reading,
    Status,
)

seqs = st.integers(0, 2**32 - 1)
clocks = st.integers(0, 2**64 - 1)
accel_values = st.tuples(*[st.integers(-32768, 32767).map(lambda v: v / 1000)] * 3)
temp_values = st.integers(-32768, 32767).map(lambda v: v / 100)
readings = st.one_of(
    st.builds(Reading, st.just("accel"), seqs, clocks, accel_values),
    st.builds(Reading, st.just("temp"), seqs, clocks, temp_values),
    st.builds(Reading, st.just("ball"), seqs, clocks, st.none()),
)
levels = st.integers(0, 15)
colors = st.tuples(levels, levels, levels)
times = st.integers(0, 0xFFFF)
strictness = st.sampled_from([True, False, None])
ids = st.integers(0, 0xFFFF)
leds = st.sampled_from(["lower", "upper"])
commands = st.one_of(
    st.builds(LedWrite, st.just("set"), ids, leds, colors, strict=strictness),
    st.builds(
        LedWrite,
        st.just("blink"),
        ids,
        leds,
        colors,
        times,
        times,
        times,
        st.booleans(),
        strictness,
    ),
    st.builds(LedWrite, st.just("off"), ids, st.sampled_from(["lower", "upper", "all"])),
    st.builds(LedWrite, st.sampled_from(["up", "down"]), ids, leds, strict=strictness),
)
blinks = st.none() | st.tuples(times, times, times, st.booleans())
states = st.builds(LedState, leds, colors, blinks)
statuses = st.one_of(
    st.builds(Status, st.just("applied"), ids, st.lists(states, max_size=2).map(tuple)),
    st.builds(
        Status,
        st.sampled_from(["bad_command", "refused", "i2c", "internal", "busy"]),
        ids,
        reason=st.text(max_size=60),
    ),
)
infos = st.builds(
    DeviceInfo,
    st.sampled_from(["accel", "temp", "ball"]),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["", "m/s^2", "degC"]),
)


@given(readings)
def test_reading_round_trip(reading: Reading) -> None:
    assert profile.decode_reading(profile.encode_reading(reading)) == reading


@given(commands)
def test_led_round_trip(command: LedWrite) -> None:
    data = profile.encode_led(command)
    assert profile.decode_led(data) == command
    assert profile.encode_led(profile.decode_led(data)) == data


@given(statuses)
def test_status_round_trip(status: Status) -> None:
    assert profile.decode_status(profile.encode_status(status)) == status


@given(infos)
def test_info_round_trip(info: DeviceInfo) -> None:
    assert profile.decode_info(profile.encode_info(info)) == info


DECODERS = [profile.decode_reading, profile.decode_info, profile.decode_led, profile.decode_status]


@pytest.mark.parametrize("decode", DECODERS, ids=lambda f: f.__name__)
@given(data=st.binary(max_size=40))
def test_random_bytes_raise_only_profile_error(decode: object, data: bytes) -> None:
    try:
        decode(data)  # type: ignore[operator]
    except ProfileError as exc:
        assert str(exc)


@pytest.mark.parametrize("decode", DECODERS, ids=lambda f: f.__name__)
@given(data=st.binary(min_size=1, max_size=40))
def test_version_one_random_tails(decode: object, data: bytes) -> None:
    try:
        decode(b"\x01" + data)  # type: ignore[operator]
    except ProfileError as exc:
        assert str(exc)


def test_sizes_fit_the_default_att_mtu() -> None:
    accel = profile.encode_reading(Reading("accel", 1, 2, (9.81, 0.0, -1.5)))
    assert len(accel) == 20  # ATT_MTU 23 - 3: one notification, no MTU exchange needed
    blink = profile.encode_led(LedWrite("blink", 7, "upper", (15, 0, 0), 512, 1024, 128))
    assert len(blink) == 15
    assert blink.hex(" ") == "01 02 07 00 01 04 0f 00 00 00 02 00 04 80 00"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty value"),
        (b"\x02" + bytes(13), "version 2"),
        (b"\x01\x01" + bytes(4), "needs 14"),
        (b"\x01\x09" + bytes(12), "unknown device kind 9"),
        (b"\x01\x01" + bytes(12) + b"\x00", "accel carries 6 payload bytes"),
    ],
)
def test_reading_errors_name_the_field(data: bytes, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        profile.decode_reading(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes([1, 9, 0, 0, 0, 0]), "unknown opcode 9"),
        (bytes([1, 1, 0, 0, 7, 0, 1, 1, 1]), "unknown LED code 7"),
        (bytes([1, 1, 0, 0, 255, 0, 1, 1, 1]), "off only"),
        (bytes([1, 1, 0, 0, 0, 0x40, 1, 1, 1]), "unknown flag bits 0x40"),
        (bytes([1, 1, 0, 0, 0, 0, 1, 1]), "set is 9 bytes, got 8"),
        (bytes([1, 1, 0, 0, 0, 0, 16, 1, 1]), "red level 16"),
        (bytes([1, 3, 0, 0, 0, 2]), "once flag goes with blink only"),
    ],
)
def test_led_errors_name_the_field(data: bytes, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        profile.decode_led(data)


def test_encoders_refuse_what_the_layout_cannot_carry() -> None:
    with pytest.raises(ProfileError, match="x = 40"):
        profile.encode_reading(Reading("accel", 0, 0, (40.0, 0.0, 0.0)))
    with pytest.raises(ProfileError, match="id 70000"):
        profile.encode_led(LedWrite("off", 70000, "lower"))
    with pytest.raises(ProfileError, match="off only"):
        profile.encode_led(LedWrite("set", 1, "all", (1, 1, 1)))


def test_long_reason_is_cut_to_valid_utf8() -> None:
    status = Status("refused", 3, reason="é" * 300)
    decoded = profile.decode_status(profile.encode_status(status))
    assert len(decoded.reason.encode()) <= profile.MAX_REASON_BYTES
    assert decoded.reason.endswith("…")
