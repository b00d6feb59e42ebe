"""How the Redis Cluster backplane shards subjects: pure, no sockets.

Sharded pub/sub (``SPUBLISH``/``SSUBSCRIBE``, Redis >= 7) takes exact channel
names only, and a channel lives on the one shard that owns its hash slot. The
rule that maps subjects to channels must therefore let a hub work out, from a
``+``/``#`` pattern alone, every channel a matching subject can be published
on. The rule:

- A subject's **bucket** is its first ``levels`` levels (the whole subject if
  it has fewer): ``earl/arm-07/accel`` with ``levels=2`` is in ``earl/arm-07``.
- A bucket hashes (CRC-32) to one of ``channels`` shard channels,
  ``<prefix>:{<tag>}``. Each message is published once, on its bucket's
  channel: every message of one subject takes the same channel, the same
  shard and the same connection, which keeps PROTOCOL.md's order per subject.
- A pattern whose first ``levels`` levels are literal touches one channel
  (``earl/arm-07/#``, ``earl/arm-07/+/x``, any exact subject); a pattern with
  a wildcard there (``earl/+/accel``, ``#``) touches all of them.
- Tags are chosen so that channel ``k`` hashes into the ``k``-th of
  ``channels`` equal ranges of the 16384 slots: the channels spread evenly
  over the shards of a cluster whose slots are split evenly.
- Everything kept about a subject lives in its channel's slot (same hash tag):
  ``<prefix>:{tag}:meta:<subject>`` and ``<prefix>:{tag}:log:<subject>`` (the
  durable store, as on a single Redis) and ``<prefix>:{tag}:retained:<subject>``
  (its retained frame), so one script stores, retains and ``SPUBLISH``es a
  durable message atomically on the shard that carries it.
- **Envelope**: ``<subject length>[ <offset>]\\n<subject><frame>``; the channel
  no longer names the subject.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from earlgate.broker.rediskeys import mqtt_control, mqtt_session_keys
from earlgate.wire.subjects import MULTI, SINGLE

DEFAULT_LEVELS = 2
DEFAULT_CHANNELS = 256


class ClusterUrlError(ValueError):
    """A ``redis-cluster://`` URL that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class ClusterUrl:
    """``redis-cluster://HOST:PORT[,HOST:PORT...][?levels=N&channels=K]``."""

    nodes: tuple[tuple[str, int], ...]
    levels: int = DEFAULT_LEVELS
    channels: int = DEFAULT_CHANNELS
    password: str | None = None


def parse_cluster_url(url: str) -> ClusterUrl:
    parts = urlsplit(url)
    if parts.scheme != "redis-cluster":
        raise ClusterUrlError(f"not a redis-cluster:// URL: {url!r}")
    netloc = parts.netloc
    password = None
    if "@" in netloc:
        credentials, netloc = netloc.rsplit("@", 1)
        password = credentials.split(":", 1)[-1] or None
    nodes: list[tuple[str, int]] = []
    for item in netloc.split(","):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ClusterUrlError(f"{url!r}: {item!r} is not HOST:PORT")
        nodes.append((host.strip("[]"), int(port)))
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = set(options) - {"levels", "channels"}
    if unknown:
        raise ClusterUrlError(f"{url!r}: unknown option {sorted(unknown)[0]!r}")
    try:
        levels = int(options.get("levels", DEFAULT_LEVELS))
        channels = int(options.get("channels", DEFAULT_CHANNELS))
    except ValueError:
        raise ClusterUrlError(f"{url!r}: levels and channels must be integers") from None
    if levels < 1:
        raise ClusterUrlError(f"{url!r}: levels must be at least 1")
    if not 1 <= channels <= REDIS_CLUSTER_HASH_SLOTS:
        raise ClusterUrlError(f"{url!r}: channels must be 1 to {REDIS_CLUSTER_HASH_SLOTS}")
    return ClusterUrl(tuple(nodes), levels, channels, password)


def spread_tags(channels: int) -> tuple[str, ...]:
    """A hash tag per channel, tag ``k`` hashing into the ``k``-th slot range."""
    tags: list[str | None] = [None] * channels
    missing = channels
    candidate = 0
    while missing:
        tag = str(candidate)
        k = key_slot(tag.encode()) * channels // REDIS_CLUSTER_HASH_SLOTS
        if tags[k] is None:
            tags[k] = tag
            missing -= 1
        candidate += 1
    return tuple(t for t in tags if t is not None)


@dataclass(frozen=True)
class ShardMap:
    """Channels and keys of the cluster backplane; see the module docstring."""

    prefix: str = "earlgate"
    levels: int = DEFAULT_LEVELS
    channels: int = DEFAULT_CHANNELS
    tags: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if "{" in self.prefix or "}" in self.prefix:
            raise ValueError("the key prefix must not contain braces")
        object.__setattr__(self, "tags", spread_tags(self.channels))

    def bucket(self, subject: str) -> str:
        return "/".join(subject.split("/", self.levels)[: self.levels])

    def index(self, subject: str) -> int:
        """The channel number of ``subject``."""
        return zlib.crc32(self.bucket(subject).encode()) % self.channels

    def indexes(self, pattern: str) -> tuple[int, ...]:
        """Every channel number a subject matching ``pattern`` can be published on."""
        head = pattern.split("/", self.levels)[: self.levels]
        if SINGLE in head or MULTI in head:
            return tuple(range(self.channels))
        return (zlib.crc32("/".join(head).encode()) % self.channels,)

    def channel(self, index: int) -> bytes:
        return f"{self.prefix}:{{{self.tags[index]}}}".encode()

    def subject_channel(self, subject: str) -> bytes:
        return self.channel(self.index(subject))

    def _key(self, subject: str, kind: str) -> str:
        return f"{self.prefix}:{{{self.tags[self.index(subject)]}}}:{kind}:{subject}"

    def durable(self, subject: str) -> tuple[str, str]:
        """The (meta hash, stream) keys of a durable subject, in its channel's slot."""
        return self._key(subject, "meta"), self._key(subject, "log")

    def retained(self, subject: str) -> str:
        return self._key(subject, "retained")

    def mqtt_session(self, client_id: str) -> tuple[str, str]:
        """The (record, owner) keys of a kept MQTT session, in its client id's slot."""
        return mqtt_session_keys(self.prefix, client_id)

    @property
    def mqtt_control(self) -> bytes:
        """The (classic, cluster-wide) channel announcing that a hub took a session."""
        return mqtt_control(self.prefix)

    def retained_match(self, glob: str) -> str:
        """A ``SCAN MATCH`` glob for retained keys whose subject matches ``glob``."""
        return f"{self.prefix}:{{*}}:retained:{glob}"

    def retained_subject(self, key: bytes) -> str:
        """The subject of a retained key (tags hold no brace, so the first ``}`` ends it)."""
        text = key.decode()
        return text[text.index("}", len(self.prefix) + 2) + len("}:retained:") :]


def envelope(subject: str, frame: bytes) -> bytes:
    name = subject.encode()
    return b"%d\n%s%s" % (len(name), name, frame)


def split_envelope(data: bytes) -> tuple[str, bytes, int | None]:
    """``(subject, frame, offset)`` of a message received on a shard channel."""
    cut = data.index(b"\n")
    length, _, offset = data[:cut].partition(b" ")
    end = cut + 1 + int(length)
    return data[cut + 1 : end].decode(), data[end:], int(offset) if offset else None
