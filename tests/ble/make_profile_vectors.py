"""Write tests/ble/vectors/profile.json: the Earl profile's codecs as test vectors.

The Python codecs (:mod:`earlgate.ble.profile`) are the reference; the
browser's (``src/earlgate/web/ble/profile/``) must give the same bytes and
the same decoded values and errors. Both test suites read this one file:
``tests/ble/test_profile_vectors.py`` checks that regenerating it changes
nothing, ``tests/js/ble-profile.test.mjs`` runs the JavaScript codecs on it.

Run ``python tests/ble/make_profile_vectors.py`` after changing the profile.
Device clocks are decimal strings (a u64 does not fit a JavaScript number).
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from earlgate.ble import profile
from earlgate.ble.profile import DeviceInfo, LedState, LedWrite, ProfileError, Reading, Status

OUT = Path(__file__).resolve().parent / "vectors" / "profile.json"
SEED = 20261204
RANDOM_PER_DECODER = 60


def reading_json(r: Reading) -> dict[str, Any]:
    value = list(r.value) if isinstance(r.value, tuple) else r.value
    return {"kind": r.kind, "seq": r.seq, "clock_us": str(r.clock_us), "value": value}


def led_json(c: LedWrite) -> dict[str, Any]:
    out = asdict(c)
    out["color"] = list(c.color)
    return out


def status_json(s: Status) -> dict[str, Any]:
    leds = [
        {"led": x.led, "color": list(x.color), "blink": None if x.blink is None else list(x.blink)}
        for x in s.leds
    ]
    return {"result": s.result, "id": s.id, "leds": leds, "reason": s.reason}


def info_json(i: DeviceInfo) -> dict[str, Any]:
    return {"kind": i.kind, "period_us": i.period_us, "units": i.units}


CODECS: dict[str, tuple[Any, Any, Any]] = {
    "reading": (profile.encode_reading, profile.decode_reading, reading_json),
    "info": (profile.encode_info, profile.decode_info, info_json),
    "led": (profile.encode_led, profile.decode_led, led_json),
    "status": (profile.encode_status, profile.decode_status, status_json),
}

VALID: dict[str, list[Any]] = {
    "reading": [
        Reading("accel", 0, 0, (0.0, 0.0, 9.81)),
        Reading("accel", 7, 1_234_567, (-1.5, 0.25, 9.806)),
        Reading("accel", 2**32 - 1, 2**64 - 1, (32.767, -32.768, 0.001)),
        Reading("accel", 3, 2**53 + 1, (0.0005, 0.0015, -0.0025)),  # halves round to even
        Reading("accel", 4, 10, (1.2345, -0.0035, 2.0005)),
        Reading("temp", 1, 250_000, 21.5),
        Reading("temp", 2, 500_000, -40.0),
        Reading("temp", 3, 750_000, 0.125),
        Reading("temp", 4, 1_000_000, -0.375),
        Reading("temp", 5, 1_250_000, 20.005),
        Reading("temp", 6, 1_500_000, 327.67),
        Reading("ball", 0, 42, None),
    ],
    "info": [
        DeviceInfo("accel", 20_000, "m/s^2"),
        DeviceInfo("temp", 1_000_000, "degC"),
        DeviceInfo("ball", 0, ""),
        DeviceInfo("temp", 2**32 - 1, "°C"),
        DeviceInfo("accel", 1, "x" * 16),
    ],
    "led": [
        LedWrite("blink", 7, "upper", (15, 0, 0), 512, 1024, 128),  # docs/earl-ble.md
        LedWrite("set", 1, "lower", (15, 8, 0)),
        LedWrite("set", 65535, "upper", (0, 0, 15), strict=True),
        LedWrite("set", 2, "upper", (1, 2, 3), strict=False),
        LedWrite("blink", 3, "lower", (0, 15, 0), 0, 65535, 0, once=True, strict=False),
        LedWrite("off", 4, "all"),
        LedWrite("off", 5, "lower", strict=True),
        LedWrite("up", 6, "upper"),
        LedWrite("down", 0, "lower", strict=False),
    ],
    "status": [
        Status("applied", 0),
        Status("applied", 7, (LedState("upper", (15, 0, 0), (512, 1024, 128, False)),)),
        Status(
            "applied",
            9,
            (LedState("lower", (0, 0, 0)), LedState("upper", (1, 2, 3), (1, 2, 3, True))),
        ),
        Status("bad_command", 0, reason="led: version 2, this gateway speaks version 1"),
        Status("refused", 12, reason="the chip cannot show this blink: no free timer"),
        Status("i2c", 13, reason="I2C write failed: [Errno 121] Remote I/O error"),
        Status("busy", 14, reason=""),
        Status("internal", 15, reason="é" * 150),  # cut to 200 bytes on a character, with …
        Status("refused", 16, reason="x" * 199 + "€"),  # the euro sign does not fit
    ],
}

# Values the encoders refuse; "names" is a word both languages' messages contain.
BAD_VALUES: dict[str, list[tuple[dict[str, Any], str]]] = {
    "reading": [
        ({"kind": "pressure", "seq": 0, "clock_us": "0", "value": None}, "unknown device kind"),
        ({"kind": "temp", "seq": -1, "clock_us": "0", "value": 1.0}, "seq"),
        ({"kind": "temp", "seq": 2**32, "clock_us": "0", "value": 1.0}, "seq"),
        ({"kind": "temp", "seq": 0, "clock_us": str(2**64), "value": 1.0}, "clock_us"),
        ({"kind": "accel", "seq": 0, "clock_us": "0", "value": [1.0, 2.0]}, "accel needs"),
        ({"kind": "accel", "seq": 0, "clock_us": "0", "value": [1.0, 2.0, 33.5]}, "z = 33.5"),
        ({"kind": "temp", "seq": 0, "clock_us": "0", "value": 400.5}, "temperature = 400.5"),
        ({"kind": "temp", "seq": 0, "clock_us": "0", "value": None}, "temp needs one number"),
        ({"kind": "ball", "seq": 0, "clock_us": "0", "value": 1.0}, "ball has no value"),
    ],
    "info": [
        ({"kind": "accel", "period_us": -1, "units": ""}, "period_us"),
        ({"kind": "accel", "period_us": 2**32, "units": ""}, "period_us"),
        ({"kind": "accel", "period_us": 0, "units": "y" * 17}, "over 16 UTF-8 bytes"),
        ({"kind": "none", "period_us": 0, "units": ""}, "unknown device kind"),
    ],
    "led": [
        ({"action": "glow", "id": 1, "led": "upper"}, "unknown action"),
        ({"action": "set", "id": 65536, "led": "upper", "color": [1, 1, 1]}, "id 65536"),
        ({"action": "set", "id": 1, "led": "middle", "color": [1, 1, 1]}, "unknown LED"),
        ({"action": "set", "id": 1, "led": "all", "color": [1, 1, 1]}, "'all' goes with off only"),
        ({"action": "set", "id": 1, "led": "upper", "color": [16, 0, 0]}, "three levels 0-15"),
        ({"action": "set", "id": 1, "led": "upper", "color": [1, 1]}, "three levels 0-15"),
        (
            {"action": "blink", "id": 1, "led": "upper", "color": [1, 1, 1], "on_ms": 65536},
            "on_ms 65536",
        ),
    ],
    "status": [
        ({"result": "fine", "id": 0}, "unknown result"),
        ({"result": "applied", "id": 70000}, "id 70000"),
        (
            {
                "result": "applied",
                "id": 1,
                "leds": [{"led": "all", "color": [0, 0, 0], "blink": None}],
            },
            "unknown LED",
        ),
        (
            {
                "result": "applied",
                "id": 1,
                "leds": [{"led": "upper", "color": [0, 0, 99], "blink": None}],
            },
            "three levels 0-15",
        ),
        (
            {"result": "applied", "id": 1, "leds": [{"led": "upper", "color": [0, 0, 0]}] * 3},
            "at most 2",
        ),
    ],
}

BAD_BYTES: dict[str, list[str]] = {
    "reading": [
        "",
        "02",
        "01",
        "0101000000",
        "0109" + "00" * 12,
        "0101" + "00" * 12,
        "0102" + "00" * 12 + "00",
        "0103" + "00" * 12 + "00",
        "0101" + "00" * 12 + "00" * 7,
    ],
    "info": [
        "",
        "00",
        "010100000000",
        "01010000000003616263ff",
        "010100000000116161616161616161616161616161616161",
        "0101000000000361",
        "01020000000002c328",
        "01020000000002e282",
        "010200000000018a",
        "0104000000000100",
    ],
    "led": [
        "",
        "02",
        "0101000000",
        "010900000000",
        "010100000200",
        "01010000ff00000000",
        "010300000008",
        "010300000005",
        "01010000000000000010",
        "0101000000000000",
        "010300000002",
        "01020000000000000000000000",
        "010100000000101010",
    ],
    "status": [
        "",
        "05",
        "01000000",
        "0109000000",
        "0101000005616263",
        "0101000002c328",
        "0100000003",
        "01000000010200000000",
        "01000000010100001000",
        "01000000010100000002",
        "010000000101000000010000",
        "010000000101000000010000000000000002",
        "01000000000000",
    ],
}


def outcome(decode: Any, as_json: Any, data: bytes) -> dict[str, Any]:
    try:
        return {"hex": data.hex(), "decoded": as_json(decode(data))}
    except ProfileError as exc:
        return {"hex": data.hex(), "error": str(exc)}


def random_bytes(rng: random.Random, kind: str) -> bytes:
    """A valid value with one or two bytes changed, cut or added; now and then pure noise."""
    encode = CODECS[kind][0]
    if rng.random() < 0.15:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(24)))
    data = bytearray(encode(rng.choice(VALID[kind])))
    for _ in range(rng.choice([1, 1, 2])):
        move = rng.random()
        if move < 0.6 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif move < 0.8 and data:
            del data[rng.randrange(len(data)) :]
        else:
            data.append(rng.randrange(256))
    return bytes(data)


def from_json(kind: str, value: dict[str, Any]) -> Any:
    if kind == "reading":
        raw = value["value"]
        return Reading(
            value["kind"],
            value["seq"],
            int(value["clock_us"]),
            tuple(raw) if isinstance(raw, list) else raw,
        )
    if kind == "info":
        return DeviceInfo(**value)
    if kind == "led":
        fields = dict(value)
        if "color" in fields:
            fields["color"] = tuple(fields["color"])
        return LedWrite(**fields)
    leds = tuple(
        LedState(x["led"], tuple(x["color"]), None if x.get("blink") is None else tuple(x["blink"]))
        for x in value.get("leds", [])
    )
    return Status(value["result"], value["id"], leds, value.get("reason", ""))


def build() -> dict[str, Any]:
    rng = random.Random(SEED)
    vectors: dict[str, Any] = {
        "about": "Earl GATT profile vectors written by tests/ble/make_profile_vectors.py "
        "from earlgate.ble.profile; do not edit by hand",
    }
    for kind, (encode, decode, as_json) in CODECS.items():
        valid = []
        for value in VALID[kind]:
            data = encode(value)
            valid.append({"value": as_json(value), **outcome(decode, as_json, data)})
        bad_values = []
        for value, names in BAD_VALUES[kind]:
            try:
                encode(from_json(kind, value))
            except ProfileError as exc:
                if names not in str(exc):
                    raise SystemExit(f"{kind}: {names!r} not in {str(exc)!r}") from None
                bad_values.append({"value": value, "error": str(exc), "names": names})
            else:
                raise SystemExit(f"{kind}: {value!r} was encoded")
        bad_bytes = [outcome(decode, as_json, bytes.fromhex(h)) for h in BAD_BYTES[kind]]
        for entry in bad_bytes:
            if "error" not in entry:
                raise SystemExit(f"{kind}: {entry['hex']} decoded")
        noise = [
            outcome(decode, as_json, random_bytes(rng, kind)) for _ in range(RANDOM_PER_DECODER)
        ]
        vectors[kind] = {
            "valid": valid,
            "bad_values": bad_values,
            "bad_bytes": bad_bytes,
            "random": noise,
        }
    return vectors


def render() -> str:
    return json.dumps(build(), indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
