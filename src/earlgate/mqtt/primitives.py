"""MQTT's data representations (MQTT 5.0, 1.5): integers, strings, binary data.

:class:`Reader` walks one packet's body and raises :class:`MqttError` with
``MALFORMED_PACKET`` for anything short, overlong or not valid UTF-8;
the ``put_*`` functions append to a bytearray.
"""

from __future__ import annotations

from earlgate.mqtt.reasons import MALFORMED_PACKET, MqttError

MAX_VARINT = 268_435_455  # 1.5.5: four bytes of seven bits


class Reader:
    """Reads MQTT values from ``data[pos:end]``."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def _need(self, count: int, what: str) -> int:
        pos = self.pos
        if pos + count > self.end:
            raise MqttError(MALFORMED_PACKET, f"packet ends inside {what}")
        self.pos = pos + count
        return pos

    def u8(self, what: str) -> int:
        return self.data[self._need(1, what)]

    def u16(self, what: str) -> int:
        pos = self._need(2, what)
        return (self.data[pos] << 8) | self.data[pos + 1]

    def u32(self, what: str) -> int:
        pos = self._need(4, what)
        return int.from_bytes(self.data[pos : pos + 4], "big")

    def varint(self, what: str) -> int:
        value, self.pos = read_varint(self.data, self.pos, self.end, what)
        return value

    def binary(self, what: str) -> bytes:
        length = self.u16(what)
        pos = self._need(length, what)
        return bytes(self.data[pos : pos + length])

    def utf8(self, what: str) -> str:
        length = self.u16(what)
        pos = self._need(length, what)
        return decode_utf8(self.data[pos : pos + length], what)

    def rest(self) -> bytes:
        pos, self.pos = self.pos, self.end
        return bytes(self.data[pos : self.end])


def decode_utf8(raw: bytes | bytearray | memoryview, what: str) -> str:
    """1.5.4: well-formed UTF-8 (no surrogates) and no U+0000."""
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MqttError(MALFORMED_PACKET, f"{what} is not valid UTF-8: {exc.reason}") from None
    if "\x00" in text:
        raise MqttError(MALFORMED_PACKET, f"{what} contains U+0000")
    return text


def read_varint(data: bytes | bytearray, pos: int, end: int, what: str) -> tuple[int, int]:
    """A Variable Byte Integer at ``pos``: (value, position after it).

    Raises :class:`MqttError` when ``end`` comes first, when it is longer
    than four bytes or not in its shortest form.
    """
    value = 0
    shift = 0
    for count in range(4):
        if pos + count >= end:
            raise MqttError(MALFORMED_PACKET, f"packet ends inside {what}")
        byte = data[pos + count]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if count and byte == 0:
                # 1.5.5: "MUST use the minimum number of bytes necessary"
                raise MqttError(MALFORMED_PACKET, f"{what} is not in its shortest encoding")
            return value, pos + count + 1
        shift += 7
    raise MqttError(MALFORMED_PACKET, f"{what} is longer than four bytes")


def put_varint(out: bytearray, value: int) -> None:
    if not 0 <= value <= MAX_VARINT:
        raise ValueError(f"{value} does not fit a Variable Byte Integer")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def put_u16(out: bytearray, value: int) -> None:
    out += value.to_bytes(2, "big")


def put_u32(out: bytearray, value: int) -> None:
    out += value.to_bytes(4, "big")


def put_binary(out: bytearray, value: bytes) -> None:
    if len(value) > 0xFFFF:
        raise ValueError("binary data longer than 65535 bytes")
    out += len(value).to_bytes(2, "big")
    out += value


def put_utf8(out: bytearray, value: str) -> None:
    put_binary(out, value.encode("utf-8"))


def varint_size(value: int) -> int:
    return 1 if value < 128 else 2 if value < 16384 else 3 if value < 2_097_152 else 4
