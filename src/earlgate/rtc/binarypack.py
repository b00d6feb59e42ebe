"""BinaryPack: the wire format of PeerJS ``binary`` data connections.

PEERJS.md, Serializations: "``binary`` / ``binary-utf8`` / ``default``:
**BinaryPack** (not MessagePack), one packed value per binary frame". It looks
like MessagePack but gives its type bytes other meanings (``a0``/``da``/``db``
are bytes, ``b0``/``d8``/``d9`` UTF-8 strings), so a MessagePack library
cannot read it. This module is byte-for-byte the packer of npm
``peerjs-js-binarypack`` 2.1 (what peerjs 1.5 runs in the browser) for every
value that packer gets right; ``tests/rtc/binarypack_vectors.json`` holds the
bytes it produced. Where the JavaScript is wrong we are not:

- it writes some doubles next to a power of two with the wrong exponent (it
  takes the exponent from ``Math.log``); we write IEEE 754;
- it reads ``d3``/``cf`` through float arithmetic (``d3 ff..ff`` reads as 0);
  we read exact integers;
- it packs integral doubles as integers and throws on ``Infinity`` and on
  integral doubles of 2**64 and more; we pack integral floats as integers too
  (a browser cannot tell them apart, and its reader turns ``cb`` zero into
  2**-1023), but floats out of integer range, ``inf`` and ``nan`` as ``cb``.

Like the JavaScript reader, :func:`unpack` ignores bytes after the first value
and reads the unassigned type bytes (``c1``, ``c4``-``c9``, ``d4``-``d7``) as
``None``; unlike it, it raises :class:`BinaryPackError` on truncated data and
on strings that are not UTF-8.

Errors::

    BinaryPackError (ValueError)
    └── earlgate.rtc.chunking.ChunkError
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import Any

__all__ = ["BinaryPackError", "pack", "unpack", "MAX_DEPTH"]

# Containers nested deeper than this are refused both ways, well inside
# Python's recursion limit (reading takes three frames a level).
MAX_DEPTH = 128

# -- type bytes (PEERJS.md: "BinaryPack (big-endian)") -----------------------
NIL = 0xC0
UNDEFINED = 0xC1  # read as None, never written
FALSE = 0xC2
TRUE = 0xC3
FLOAT32 = 0xCA  # read only: the JavaScript packer always writes float64
FLOAT64 = 0xCB
UINT8, UINT16, UINT32, UINT64 = 0xCC, 0xCD, 0xCE, 0xCF
INT8, INT16, INT32, INT64 = 0xD0, 0xD1, 0xD2, 0xD3
STR16, STR32 = 0xD8, 0xD9
RAW16, RAW32 = 0xDA, 0xDB
ARRAY16, ARRAY32 = 0xDC, 0xDD
MAP16, MAP32 = 0xDE, 0xDF
FIX_MAP, FIX_ARRAY, FIX_RAW, FIX_STR = 0x80, 0x90, 0xA0, 0xB0  # + length 0..15

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")


class BinaryPackError(ValueError):
    """A value cannot be packed, or bytes are not a BinaryPack value."""


# -- packing -------------------------------------------------------------------


def pack(value: object) -> bytes:
    """Pack one value as the browser's ``pack(value)`` does.

    Packs ``None``, ``bool``, ``int`` (-2**63 .. 2**64-1), ``float``, ``str``,
    ``bytes``/``bytearray``/``memoryview``, ``list``/``tuple`` and mappings.

    Raises:
        BinaryPackError: for another type, an integer out of range or
            containers nested deeper than :data:`MAX_DEPTH`.
    """
    out = bytearray()
    _pack(value, out, 0)
    return bytes(out)


def _pack(value: object, out: bytearray, depth: int) -> None:
    if value is None:
        out.append(NIL)
    elif value is True:
        out.append(TRUE)
    elif value is False:
        out.append(FALSE)
    elif isinstance(value, int):
        _pack_int(value, out)
    elif isinstance(value, float):
        # packer.pack: "if (Math.floor(value) === value) this.pack_integer(value)"
        if math.isfinite(value) and value.is_integer() and -(2**63) <= value < 2**64:
            _pack_int(int(value), out)
        else:
            out.append(FLOAT64)
            out += _F64.pack(value)
    elif isinstance(value, str):
        _pack_sized(_utf8(value), out, FIX_STR, STR16, STR32)
    elif isinstance(value, bytes | bytearray | memoryview):
        _pack_sized(bytes(value), out, FIX_RAW, RAW16, RAW32)
    elif isinstance(value, list | tuple):
        if depth >= MAX_DEPTH:
            raise BinaryPackError(f"containers nested deeper than {MAX_DEPTH}")
        _pack_header(len(value), out, FIX_ARRAY, ARRAY16, ARRAY32)
        for item in value:
            _pack(item, out, depth + 1)
    elif isinstance(value, Mapping):
        if depth >= MAX_DEPTH:
            raise BinaryPackError(f"containers nested deeper than {MAX_DEPTH}")
        _pack_header(len(value), out, FIX_MAP, MAP16, MAP32)
        for key, item in value.items():
            _pack(key, out, depth + 1)
            _pack(item, out, depth + 1)
    else:
        raise BinaryPackError(f"cannot pack a value of type {type(value).__name__}")


def _pack_int(num: int, out: bytearray) -> None:
    # The widths in the order pack_integer tries them: a positive number takes
    # the unsigned width first, and anything past 32 bits is int64 (d3) until
    # it no longer fits, then uint64 (cf).
    if -0x20 <= num <= 0x7F:
        out.append(num & 0xFF)
    elif 0 <= num <= 0xFF:
        out += bytes((UINT8, num))
    elif -0x80 <= num <= 0x7F:
        out += bytes((INT8, num & 0xFF))
    elif 0 <= num <= 0xFFFF:
        out.append(UINT16)
        out += _U16.pack(num)
    elif -0x8000 <= num <= 0x7FFF:
        out.append(INT16)
        out += _U16.pack(num & 0xFFFF)
    elif 0 <= num <= 0xFFFFFFFF:
        out.append(UINT32)
        out += _U32.pack(num)
    elif -0x80000000 <= num <= 0x7FFFFFFF:
        out.append(INT32)
        out += _U32.pack(num & 0xFFFFFFFF)
    elif -(2**63) <= num < 2**63:
        out.append(INT64)
        out += _I64.pack(num)
    elif 0 <= num < 2**64:
        out.append(UINT64)
        out += _U64.pack(num)
    else:
        raise BinaryPackError(f"integer {num} does not fit in 64 bits")


def _pack_header(length: int, out: bytearray, fixed: int, code16: int, code32: int) -> None:
    if length <= 0x0F:
        out.append(fixed + length)
    elif length <= 0xFFFF:
        out.append(code16)
        out += _U16.pack(length)
    elif length <= 0xFFFFFFFF:
        out.append(code32)
        out += _U32.pack(length)
    else:
        raise BinaryPackError(f"length {length} does not fit in 32 bits")


def _pack_sized(data: bytes, out: bytearray, fixed: int, code16: int, code32: int) -> None:
    _pack_header(len(data), out, fixed, code16, code32)
    out += data


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # TextEncoder writes U+FFFD for a lone surrogate; so do we.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


# -- unpacking -----------------------------------------------------------------


def unpack(data: bytes | bytearray | memoryview) -> Any:
    """Read the first BinaryPack value in ``data``.

    Bytes come back as ``bytes``, arrays as ``list``, maps as ``dict``.

    Raises:
        BinaryPackError: when ``data`` ends inside the value, holds a string
            that is not UTF-8, a map key that cannot be a dict key, or
            containers nested deeper than :data:`MAX_DEPTH`.
    """
    return _Unpacker(bytes(data)).value(0)


class _Unpacker:
    __slots__ = ("data", "index")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.index = 0

    def take(self, size: int) -> bytes:
        start = self.index
        end = start + size
        if end > len(self.data):
            raise BinaryPackError(
                f"data ends at byte {len(self.data)}, inside a value that needs {end}"
            )
        self.index = end
        return self.data[start:end]

    def byte(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        value: int = _U16.unpack(self.take(2))[0]
        return value

    def u32(self) -> int:
        value: int = _U32.unpack(self.take(4))[0]
        return value

    def value(self, depth: int) -> Any:
        kind = self.byte()
        if kind < 0x80:
            return kind
        if kind >= 0xE0:
            return kind - 0x100
        high, low = kind & 0xF0, kind & 0x0F
        if high == FIX_RAW:
            return self.take(low)
        if high == FIX_STR:
            return self.text(low)
        if high == FIX_ARRAY:
            return self.array(low, depth)
        if high == FIX_MAP:
            return self.map(low, depth)
        if kind == NIL:
            return None
        if kind == FALSE:
            return False
        if kind == TRUE:
            return True
        if kind == FLOAT32:
            return _F32.unpack(self.take(4))[0]
        if kind == FLOAT64:
            return _F64.unpack(self.take(8))[0]
        if UINT8 <= kind <= UINT64:
            return int.from_bytes(self.take(1 << (kind - UINT8)), "big")
        if INT8 <= kind <= INT64:
            return int.from_bytes(self.take(1 << (kind - INT8)), "big", signed=True)
        if kind == STR16:
            return self.text(self.u16())
        if kind == STR32:
            return self.text(self.u32())
        if kind == RAW16:
            return self.take(self.u16())
        if kind == RAW32:
            return self.take(self.u32())
        if kind == ARRAY16:
            return self.array(self.u16(), depth)
        if kind == ARRAY32:
            return self.array(self.u32(), depth)
        if kind == MAP16:
            return self.map(self.u16(), depth)
        if kind == MAP32:
            return self.map(self.u32(), depth)
        # c1, c4-c9, d4-d7: the JavaScript reader returns undefined.
        return None

    def text(self, size: int) -> str:
        raw = self.take(size)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BinaryPackError(f"string is not UTF-8: {exc}") from None

    def array(self, size: int, depth: int) -> list[Any]:
        self.check_room(size, 1, depth)
        return [self.value(depth + 1) for _ in range(size)]

    def map(self, size: int, depth: int) -> dict[Any, Any]:
        self.check_room(size, 2, depth)
        result: dict[Any, Any] = {}
        for _ in range(size):
            key = self.value(depth + 1)
            item = self.value(depth + 1)
            try:
                result[key] = item
            except TypeError:
                raise BinaryPackError(f"map key of type {type(key).__name__}") from None
        return result

    def check_room(self, count: int, least: int, depth: int) -> None:
        # Refuse a count the remaining bytes cannot hold before looping over it.
        if depth >= MAX_DEPTH:
            raise BinaryPackError(f"containers nested deeper than {MAX_DEPTH}")
        left = len(self.data) - self.index
        if count * least > left:
            raise BinaryPackError(f"{count} items announced, {left} bytes left")
