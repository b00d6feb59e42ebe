"""BinaryPack against the bytes the real JavaScript packer produced, and round-trips."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from binarypack_vectors import VECTORS, matches, materialize
from hypothesis import given
from hypothesis import strategies as st

from earlgate.rtc.binarypack import MAX_DEPTH, BinaryPackError, pack, unpack

# Where the JavaScript reader is wrong (it reads int64 through a double), the
# test says what we read instead.
JS_READER_QUIRKS = {
    "int64 -1": -1,
    "bytes as map key": {b"a": True},  # JavaScript: {"[object ArrayBuffer]": true}
}


@pytest.mark.parametrize("vector", VECTORS["pack"], ids=lambda v: v["name"])
def test_pack_is_byte_exact_with_javascript(vector: dict[str, Any]) -> None:
    value = materialize(vector["value"])
    packed = pack(value)
    assert matches(packed, vector["packed"])


@pytest.mark.parametrize("vector", VECTORS["pack"], ids=lambda v: v["name"])
def test_javascript_bytes_unpack_to_the_value(vector: dict[str, Any]) -> None:
    value = materialize(vector["value"])
    assert unpack(pack(value)) == value


@pytest.mark.parametrize("vector", VECTORS["unpack"], ids=lambda v: v["name"])
def test_unpack_reads_what_javascript_reads(vector: dict[str, Any]) -> None:
    expected = JS_READER_QUIRKS.get(vector["name"], materialize(vector["value"]))
    assert unpack(bytes.fromhex(vector["hex"])) == expected


def test_unpack_ignores_trailing_bytes_like_javascript() -> None:
    assert unpack(b"\x01\x02\x03") == 1


@pytest.mark.parametrize(
    "value, packed",
    [
        (1.0, "01"),  # integral floats go as integers, as in JavaScript
        (-0.0, "00"),
        (2.0**40, "d30000010000000000"),
        (2**63, "cf8000000000000000"),  # JavaScript writes d3 and reads -2**63
        (2**64 - 1, "cfffffffffffffffff"),
        (-(2**63), "d38000000000000000"),
        (1e300, "cb" + struct.pack(">d", 1e300).hex()),  # JavaScript throws
        (2.0**-1022, "cb0010000000000000"),  # JavaScript writes 0020...: 2**-1021
        (math.inf, "cb7ff0000000000000"),
        ((1, 2), "920102"),
        (bytearray(b"\x01"), "a101"),
        (memoryview(b"\x01\x02")[1:], "a102"),
        ("\ud800", "b3efbfbd"),  # a lone surrogate becomes U+FFFD, as with TextEncoder
    ],
)
def test_pack_choices_beyond_javascript(value: Any, packed: str) -> None:
    assert pack(value).hex() == packed


def test_nan_round_trips_as_float64() -> None:
    assert math.isnan(unpack(pack(math.nan)))


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, object(), {1, 2}, 1j])
def test_pack_refuses(value: Any) -> None:
    with pytest.raises(BinaryPackError):
        pack(value)


def test_pack_refuses_deep_nesting() -> None:
    value: list[Any] = []
    for _ in range(MAX_DEPTH + 1):
        value = [value]
    with pytest.raises(BinaryPackError, match="nested"):
        pack(value)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xd8\x00",  # str16 length cut short
        b"\xb3ab",  # fixstr announces 3 bytes, 2 follow
        b"\xda\x00\x05abc",
        b"\xcd\x01",
        b"\xcb\x00\x00",
        b"\x92\x01",  # array of 2, one item
        b"\xdd\xff\xff\xff\xff",  # 4 billion items announced, none there
        b"\xdf\xff\xff\xff\xff\x01",
        b"\xb2\xc3\x28",  # not UTF-8
        b"\x81\x90\x01",  # list as a map key
        b"\x91" * (MAX_DEPTH + 2) + b"\x00",
    ],
)
def test_unpack_refuses_malformed(data: bytes) -> None:
    with pytest.raises(BinaryPackError):
        unpack(data)


def test_unpack_never_raises_anything_else_on_truncation() -> None:
    packed = pack({"a": [1, 2.5, "three", b"four", None, True, {"b": -70000}]})
    for end in range(len(packed)):
        with pytest.raises(BinaryPackError):
            unpack(packed[:end])


# -- property-based ----------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=20)
        | st.dictionaries(st.text() | st.integers(-1000, 1000), children, max_size=20)
    ),
    max_leaves=60,
)


def normalized(value: Any) -> Any:
    """What a value reads back as: tuples as lists, integral floats as ints."""
    if isinstance(value, float) and value.is_integer() and -(2**63) <= value < 2**64:
        return int(value)
    if isinstance(value, list | tuple):
        return [normalized(item) for item in value]
    if isinstance(value, dict):
        return {normalized(k): normalized(v) for k, v in value.items()}
    return value


@given(values)
def test_round_trip(value: Any) -> None:
    assert unpack(pack(value)) == normalized(value)


@given(values)
def test_packing_is_canonical(value: Any) -> None:
    # What we read back packs to the same bytes: one encoding per value.
    packed = pack(value)
    assert pack(unpack(packed)) == packed


@given(st.binary(max_size=64))
def test_unpack_of_arbitrary_bytes_fails_only_with_binarypack_error(data: bytes) -> None:
    try:
        unpack(data)
    except BinaryPackError:
        pass


@given(st.integers(min_value=-(2**63), max_value=2**64 - 1))
def test_integers_take_the_narrowest_javascript_width(num: int) -> None:
    packed = pack(num)
    if -32 <= num <= 127:
        assert len(packed) == 1
    elif -(2**31) <= num < 2**32:
        assert len(packed) in (2, 3, 5)
    else:
        assert len(packed) == 9
    assert unpack(packed) == num
