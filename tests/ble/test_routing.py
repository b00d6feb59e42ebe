"""The gateway's pure core: events in, actions out, no Bluetooth and no clock."""

from __future__ import annotations

from earlgate.ble import profile
from earlgate.ble.profile import DeviceInfo, LedState, Reading, Status
from earlgate.ble.routing import Backoff, ClockMap, GatewayCore, Publish, Reconnect, Write

BALL = profile.encode_info(DeviceInfo("ball", 0))
ACCEL = profile.encode_info(DeviceInfo("accel", 250_000, "m/s^2"))


def reading(seq: int, clock_us: int) -> bytes:
    return profile.encode_reading(Reading("accel", seq, clock_us, (0.0, 0.0, 9.81)))


def test_readings_publish_with_the_device_clock_mapped() -> None:
    core = GatewayCore()
    core.connected("a", ACCEL, 1000.0)
    [first] = core.reading("a", reading(0, 0), 1_000_010.0)
    [second] = core.reading("a", reading(1, 250_000), 1_000_255.0)
    assert isinstance(first, Publish) and isinstance(second, Publish)
    assert first.subject == "earl/a/accel"
    assert first.published == 1_000_010.0
    assert second.published == 1_000_255.0  # offset 1_000_005 from the second, tighter
    assert second.data == {
        "value": {"x": 0.0, "y": 0.0, "z": 9.81},
        "unit": "m/s^2",
        "seq": 1,
        "clock_us": 250_000,
    }


def test_gaps_are_reported_by_sequence_number() -> None:
    core = GatewayCore()
    core.connected("a", ACCEL, 0.0)
    core.reading("a", reading(4, 0), 10.0)
    gap, _ = core.reading("a", reading(8, 1000), 20.0)
    assert isinstance(gap, Publish) and gap.subject == "earl/a/link"
    assert gap.data == {"event": "gap", "after": 4, "next": 8, "missing": 3}
    assert core.statistics()["lost"] == 3
    # wrapping at 2^32 is no gap
    core.reading("a", reading(2**32 - 1, 2000), 30.0)
    actions = core.reading("a", reading(0, 3000), 40.0)
    assert len(actions) == 1


def test_malformed_notification_is_an_event() -> None:
    core = GatewayCore()
    [event] = core.reading("a", b"\x01\x01", 0.0)
    assert isinstance(event, Publish) and event.data["event"] == "bad_notification"
    assert "needs 14" in event.data["reason"]
    [event] = core.status("a", b"", 0.0)
    assert isinstance(event, Publish) and "empty value" in event.data["reason"]


def test_command_becomes_a_write_and_its_status_the_state() -> None:
    core = GatewayCore()
    core.connected("ball", BALL, 0.0)
    [write] = core.command("ball", {"id": "x", "led": "lower", "color": [1, 2, 3]}, 5.0, 4.0)
    assert isinstance(write, Write) and write.device == "ball"
    sent = profile.decode_led(write.data)
    assert (sent.action, sent.led, sent.color) == ("set", "lower", (1, 2, 3))
    status = Status("applied", sent.id, (LedState("lower", (1, 2, 3)),))
    [state] = core.status("ball", profile.encode_status(status), 9.0)
    assert isinstance(state, Publish) and state.subject == "earl/ball/led/state" and state.retain
    assert state.data["id"] == "x"
    assert state.data["applied"] == {"lower": {"color": [1, 2, 3], "blink": None}}
    assert state.data["latency_ms"] == {"receive_to_status": 4.0, "command_to_status": 5.0}


def test_refusal_and_bad_commands_answer_on_error() -> None:
    core = GatewayCore()
    core.connected("ball", BALL, 0.0)
    [write] = core.command("ball", {"id": 2, "led": "upper", "color": [5, 3, 1]}, 0.0)
    assert isinstance(write, Write)
    refused = Status("refused", profile.decode_led(write.data).id, reason="too many levels")
    [error] = core.status("ball", profile.encode_status(refused), 1.0)
    assert isinstance(error, Publish) and error.subject == "earl/ball/led/error"
    assert error.data["error"] == "refused" and error.data["id"] == 2
    [bad] = core.command("ball", {"id": 3, "led": "middle", "off": True}, 0.0)
    assert isinstance(bad, Publish) and bad.data["error"] == "bad_command" and bad.data["id"] == 3
    long_blink = {"led": "upper", "color": [15, 0, 0], "blink": {"on_ms": 70000, "off_ms": 1}}
    [bad] = core.command("ball", long_blink, 0.0)
    assert isinstance(bad, Publish) and "65535" in bad.data["reason"]


def test_commands_to_absent_or_sensor_devices() -> None:
    core = GatewayCore()
    [error] = core.command("ghost", {"led": "upper", "off": True}, 0.0)
    assert isinstance(error, Publish) and error.data["error"] == "disconnected"
    core.connected("a", ACCEL, 0.0)
    [error] = core.command("a", {"led": "upper", "off": True}, 0.0)
    assert isinstance(error, Publish) and error.data["error"] == "not_supported"


def test_disconnect_answers_pending_commands_and_backs_off() -> None:
    core = GatewayCore()
    core.connected("ball", BALL, 0.0)
    core.command("ball", {"id": 7, "led": "upper", "off": True}, 0.0)
    event, error, again = core.disconnected("ball", "timeout", 1.0)
    assert isinstance(event, Publish) and event.data["event"] == "disconnected"
    assert isinstance(error, Publish) and error.data == {
        "error": "disconnected",
        "reason": "timeout",
        "command": {"id": 7, "led": "upper", "off": True},
        "id": 7,
    }
    assert again == Reconnect("ball", 0.1)
    delays = [a.delay for a in core.connect_failed("ball", "x") if isinstance(a, Reconnect)]
    assert delays == [0.2]


def test_backoff_and_clock_map() -> None:
    backoff = Backoff()
    assert [backoff.next_delay() for _ in range(8)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    backoff.reset()
    assert backoff.next_delay() == 0.1
    clock = ClockMap()
    assert clock.map(1_000_000, 5000.0) == 5000.0
    assert clock.map(2_000_000, 5990.0) == 5990.0  # less delay: the offset tightens
    assert clock.map(3_000_000, 7100.0) == 6990.0
    assert clock.map(0, 9000.0) == 9000.0  # the device restarted
