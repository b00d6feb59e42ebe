"""The multiplexed ("aggregate") message: many devices' messages in one DataChannel message.

Format version 1, a JSON-compatible object (sent with the connection's
serialization, JSON or BinaryPack)::

    {"mux": 1, "parts": [{"src": "arm-3", "seq": 41, "ts": 1764000000123.5,
                          "data": <any>, "dst": "arm-7"}, ...]}

- ``mux``: the format version; a reader refuses versions it does not know.
- ``src``: the id of the peer or device the part came from.
- ``seq``: that source's sequence number (0, 1, 2, ...), so a demultiplexer
  can count parts lost or repeated per source.
- ``ts``: the sender's timestamp, milliseconds since the Unix epoch, so the
  receiver can compute the one-way delay of every part.
- ``data``: the part's payload, as the source sent it.
- ``dst`` (optional): where a demultiplexer sends the part; without it the
  routes decide.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

VERSION: Final = 1


class AggregateError(ValueError):
    """A message claims to be an aggregate but is malformed; the text says where."""


@dataclass(frozen=True, slots=True)
class Part:
    """One device message inside an aggregate."""

    src: str
    seq: int
    ts: float
    data: Any
    dst: str | None = None

    def as_dict(self) -> dict[str, Any]:
        part: dict[str, Any] = {"src": self.src, "seq": self.seq, "ts": self.ts, "data": self.data}
        if self.dst is not None:
            part["dst"] = self.dst
        return part


def encode(parts: Iterable[Part]) -> dict[str, Any]:
    """The aggregate message carrying ``parts`` in order."""
    return {"mux": VERSION, "parts": [part.as_dict() for part in parts]}


def is_aggregate(message: object) -> bool:
    """Whether ``message`` says it is an aggregate (it may still be malformed)."""
    return isinstance(message, Mapping) and "mux" in message and "parts" in message


def decode(message: object) -> list[Part]:
    """The parts of an aggregate, checked; :class:`AggregateError` names the first fault."""
    if not isinstance(message, Mapping):
        raise AggregateError(f"aggregate: expected an object, got {type(message).__name__}")
    version = message.get("mux")
    if version != VERSION:
        raise AggregateError(f"aggregate: unsupported format version mux={version!r}")
    parts = message.get("parts")
    if not isinstance(parts, list):
        raise AggregateError("aggregate: 'parts' must be a list")
    return [_part(index, raw) for index, raw in enumerate(parts)]


def _part(index: int, raw: object) -> Part:
    where = f"aggregate: parts[{index}]"
    if not isinstance(raw, Mapping):
        raise AggregateError(f"{where}: expected an object")
    src = raw.get("src")
    if not isinstance(src, str) or not src:
        raise AggregateError(f"{where}.src: expected a non-empty string")
    seq = raw.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise AggregateError(f"{where}.seq: expected a non-negative integer")
    ts = raw.get("ts")
    if not isinstance(ts, int | float) or isinstance(ts, bool) or not _finite(ts):
        raise AggregateError(f"{where}.ts: expected a timestamp in milliseconds")
    if "data" not in raw:
        raise AggregateError(f"{where}.data: missing")
    dst = raw.get("dst")
    if dst is not None and (not isinstance(dst, str) or not dst):
        raise AggregateError(f"{where}.dst: expected a non-empty string")
    return Part(src, seq, float(ts), raw["data"], dst)


def _finite(number: float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an int too large for a float
        return False
