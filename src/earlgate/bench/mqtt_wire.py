"""What the MQTT load generator sends and reads, without I/O.

Every message carries its publisher's send time in its payload, so a
subscriber on any server and any protocol computes response time = receive
time - send time on the same clock (the thesis's ``published`` field). The
payload is JSON, so the hub hands it to WebSocket subscribers as a JSON value
(docs/mqtt.md, "Payloads") and to MQTT subscribers byte for byte:

    {"t":1764000000000.123,"p":"xxxx"}     a measured message (ms since the epoch)
    {"w":1}                                a warm-up marker, not measured

The time is written with a fixed width (13 digits, a point, 3 decimals until
the year 2286), so a PUBLISH packet is encoded once per publisher by the codec
(:class:`PublishTemplate`) and each message only splices in its time and, at
QoS 1, its packet identifier. :class:`PhaseSchedule` says which publishers are
due: publisher ``i`` of ``n`` sends at ``start + (i / n + k) * period``, each at
its own phase of the period rather than all in one burst.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import orjson

from earlgate.mqtt import packets as p
from earlgate.mqtt.codec import encode

__all__ = [
    "LATE_AFTER",
    "STAMP_WIDTH",
    "WARMUP_PAYLOAD",
    "PhaseSchedule",
    "PublishTemplate",
    "format_stamp",
    "puback",
    "read_stamp",
    "read_ws_stamp",
    "stamp_payload",
]

STAMP_WIDTH = 17  # "1764000000000.123"
# A send this far behind its due time means the generator did not keep up: ten times the
# 1 ms its loop may sleep past a due time by design, past a loaded machine's timer jitter
# (2-3 ms seen), short of the lag of a saturated generator (tens of ms and more).
LATE_AFTER = 0.010
_HEAD = b'{"t":'
_PAD_HEAD = b',"p":"'
_PAD_TAIL = b'"}'
WARMUP_PAYLOAD = b'{"w":1}'
_ZERO_STAMP = b"0" * (STAMP_WIDTH - 4) + b".000"


def format_stamp(ms: float) -> bytes:
    """``ms`` since the epoch in the payload's fixed width."""
    stamp = b"%.3f" % ms
    if len(stamp) != STAMP_WIDTH:
        raise ValueError(f"time {ms!r} ms does not fit {STAMP_WIDTH} characters")
    return stamp


def stamp_payload(ms: float, size: int = 0) -> bytes:
    """A measured payload stamped ``ms``, padded to ``size`` bytes when that is larger."""
    return _payload(format_stamp(ms), size)


def _payload(stamp: bytes, size: int) -> bytes:
    pad = size - len(_HEAD) - STAMP_WIDTH - len(_PAD_HEAD) - len(_PAD_TAIL)
    if pad <= 0:
        return _HEAD + stamp + b"}"
    return _HEAD + stamp + _PAD_HEAD + b"x" * pad + _PAD_TAIL


def read_stamp(payload: bytes) -> float | None:
    """The send time of an MQTT payload of ours; None for a warm-up marker.

    Raises:
        ValueError: the payload is neither (another client's, or damaged).
    """
    if payload[: len(_HEAD)] == _HEAD and len(payload) >= len(_HEAD) + STAMP_WIDTH:
        try:
            return float(payload[len(_HEAD) : len(_HEAD) + STAMP_WIDTH])
        except ValueError:
            pass
    elif payload == WARMUP_PAYLOAD:
        return None
    raise ValueError(f"not a load generator payload: {bytes(payload[:40])!r}")


def puback(packet_id: int, version: int = p.V311) -> bytes:
    """The PUBACK of ``packet_id``: the codec's, with the identifier spliced in."""
    return _PUBACK_HEADS[version] + packet_id.to_bytes(2, "big")


_PUBACK_HEADS = {version: encode(p.PubAck(1), version)[:-2] for version in (p.V311, p.V5)}


def read_ws_stamp(frame: bytes | bytearray | memoryview) -> float | None:
    """The send time of a hub WebSocket frame carrying one of our payloads as ``data``.

    Raises:
        ValueError: not a frame with such a ``data`` (an ack, an error, another client's).
    """
    try:
        data = orjson.loads(frame)["data"]
        if not isinstance(data, dict):
            raise TypeError("data is not an object")
        if "w" in data:
            return None
        return float(data["t"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(
            f"not a frame with a load generator payload: {bytes(frame[:60])!r}"
        ) from exc


class PublishTemplate:
    """One publisher's PUBLISH packet, encoded once; each message splices in time and id.

    Args:
        topic: the publisher's topic.
        qos: 0 or 1 (a packet identifier is spliced in at QoS 1).
        size: the payload's size (at least the stamp's).
        version: the MQTT protocol level the packet is encoded for.
    """

    __slots__ = ("_id_at", "_packet", "_stamp_at", "qos", "topic")

    def __init__(self, topic: str, qos: int = 0, size: int = 0, version: int = p.V311) -> None:
        if qos not in (0, 1):
            raise ValueError(f"QoS {qos}: the load generator sends at QoS 0 or 1")
        self.topic = topic
        self.qos = qos
        payload = _payload(_ZERO_STAMP, size)
        self._packet = encode(p.Publish(topic, payload, qos, packet_id=qos or None), version)
        self._stamp_at = len(self._packet) - len(payload) + len(_HEAD)
        # The packet identifier follows the topic name (3.3.2.2); the payload comes last.
        self._id_at = self._packet.index(topic.encode()) + len(topic.encode())

    def packet(self, stamp: bytes, packet_id: int = 0) -> bytes:
        """The PUBLISH with ``stamp`` (:func:`format_stamp`) and, at QoS 1, ``packet_id``."""
        packet, at = self._packet, self._stamp_at
        if self.qos:
            if not 1 <= packet_id <= 0xFFFF:
                raise ValueError(f"packet identifier {packet_id} is not 1-65535")
            i = self._id_at
            return b"".join(
                (packet[:i], packet_id.to_bytes(2, "big"), packet[i + 2 : at], stamp,
                 packet[at + STAMP_WIDTH :])
            )  # fmt: skip
        return packet[:at] + stamp + packet[at + STAMP_WIDTH :]

    def __len__(self) -> int:
        return len(self._packet)


@dataclass(frozen=True)
class PhaseSchedule:
    """Which sends are due: publisher ``i`` of ``n`` at ``start + (i / n + k) * period``.

    Sends are numbered ``k * n + i``; :meth:`due` is how many are due by a
    time, never more than :attr:`total` (``rounds`` periods of every publisher).
    """

    publishers: int
    period: float
    start: float
    rounds: int

    def __post_init__(self) -> None:
        if self.publishers < 1 or self.period <= 0 or self.rounds < 0:
            raise ValueError("need publishers >= 1, period > 0 and rounds >= 0")

    @classmethod
    def for_duration(
        cls, publishers: int, period: float, start: float, duration: float
    ) -> PhaseSchedule:
        """The schedule of every full period that starts within ``duration`` seconds."""
        return cls(publishers, period, start, max(math.floor(duration / period + 1e-9), 0))

    @property
    def total(self) -> int:
        return self.publishers * self.rounds

    @property
    def end(self) -> float:
        """When the last send is due."""
        return self.time_of(self.total - 1) if self.total else self.start

    def time_of(self, send: int) -> float:
        """When send number ``send`` is due."""
        rounds, index = divmod(send, self.publishers)
        return self.start + (rounds + index / self.publishers) * self.period

    def due(self, now: float) -> int:
        """How many sends are due at ``now`` (each is due at :meth:`time_of`)."""
        if now < self.start:
            return 0
        count = math.floor((now - self.start) / self.period * self.publishers) + 1
        return min(count, self.total)
