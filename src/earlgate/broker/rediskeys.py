"""How the Redis backplane names, finds and frames things: pure, no sockets.

- **Channels.** A message on subject ``s`` is published on channel
  ``<prefix>:s``. A hub subscribes to what its local clients need: an exact
  subject with ``SUBSCRIBE``, a wildcard
  pattern with ``PSUBSCRIBE`` on a Redis glob that matches a superset (``+`` and
  ``#`` both become ``*``, which also crosses ``/``); the hub then filters
  exactly with its subject index.
- **Envelope.** Each message on a channel is ``HEADER \\n FRAME``. The header is
  the publishing hub's id and a sequence number, plus the offset on durable
  subjects. When several of one hub's subscriptions match a channel, Redis
  sends the copies back to back (one ``PUBLISH`` writes them all at once), so
  a hub drops a message whose header equals the previous one's.
- **Durable subjects.** Per subject a hash ``<prefix>:{tag}:meta:s`` holds the
  store's epoch and the last offset, and a stream ``<prefix>:{tag}:log:s``
  holds the frames under ids ``<offset>-0``: the offset *is* the stream id, and
  offsets of one subject run 1, 2, 3... without gaps within an epoch. Both keys
  carry the same hash tag so that one script can touch both on a cluster.
- **Retained values** live in one hash ``<prefix>:retained`` (subject → frame).
- **Kept MQTT sessions** (:mod:`earlgate.broker.sessionstore`): per client id
  a record ``<prefix>:mqtt:{tag}:session:<id>`` and its owner
  ``<prefix>:mqtt:{tag}:owner:<id>`` (the tag is the id without braces: one
  slot for both). Takeovers are announced on ``<prefix>:$mqtt/taken``, a
  channel no subject maps to (subjects never start with ``$``).

A Redis Cluster shards differently (sharded pub/sub takes no patterns): see
:mod:`earlgate.broker.clusterkeys`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from earlgate.broker.base import Replay
from earlgate.wire.subjects import MULTI, SINGLE

_GLOB_SPECIAL = frozenset("*?[]\\")


def glob_escape(text: str) -> str:
    """Escape ``text`` so that a Redis glob matches it literally."""
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in text)


def pattern_glob(pattern: str) -> str:
    """A Redis glob matching every subject ``pattern`` matches (and maybe more).

    ``a/+/c`` → ``a/*/c``; ``a/#`` → ``a*`` (``#`` also matches zero levels,
    so ``a`` itself); ``#`` → ``*``.
    """
    out: list[str] = []
    for level in pattern.split("/"):
        if level == MULTI:
            return "/".join(out) + "*"
        out.append("*" if level == SINGLE else glob_escape(level))
    return "/".join(out)


def hash_tag(subject: str) -> str:
    """The part of a key that decides its cluster slot: the subject without braces."""
    tag = subject.replace("{", "").replace("}", "")
    return tag or "_"


@dataclass(frozen=True, slots=True)
class Keys:
    """Names of everything the backplane keeps in Redis, under one prefix."""

    prefix: str = "earlgate"

    def channel(self, subject: str) -> bytes:
        return f"{self.prefix}:{subject}".encode()

    def channel_glob(self, pattern: str) -> bytes:
        return f"{glob_escape(self.prefix)}:{pattern_glob(pattern)}".encode()

    def subject_of(self, channel: bytes) -> str:
        return channel[len(self.prefix) + 1 :].decode()

    @property
    def retained(self) -> str:
        return f"{self.prefix}:retained"

    def mqtt_session(self, client_id: str) -> tuple[str, str]:
        return mqtt_session_keys(self.prefix, client_id)

    @property
    def mqtt_control(self) -> bytes:
        return mqtt_control(self.prefix)

    def durable(self, subject: str) -> tuple[str, str]:
        """The (meta hash, stream) keys of a durable subject, in one slot."""
        tag = hash_tag(subject)
        return (f"{self.prefix}:{{{tag}}}:meta:{subject}", f"{self.prefix}:{{{tag}}}:log:{subject}")


def mqtt_session_keys(prefix: str, client_id: str) -> tuple[str, str]:
    """The (record, owner) keys of a kept MQTT session (single Redis and Cluster alike)."""
    tag = hash_tag(client_id)
    base = f"{prefix}:mqtt:{{{tag}}}"
    return f"{base}:session:{client_id}", f"{base}:owner:{client_id}"


def mqtt_control(prefix: str) -> bytes:
    """The channel announcing that a hub took an MQTT session."""
    return f"{prefix}:$mqtt/taken".encode()


def meta_match(prefix: str, glob: str) -> str:
    """A ``SCAN MATCH`` glob for the meta hashes of durable subjects matching ``glob``
    (single Redis and Redis Cluster name them alike: ``<prefix>:{tag}:meta:<subject>``)."""
    return f"{prefix}:{{*}}:meta:{glob}"


def meta_subject(prefix: str, key: bytes) -> str:
    """The subject of a meta hash key (tags hold no brace, so the first ``}`` ends it)."""
    text = key.decode()
    return text[text.index("}", len(prefix) + 2) + len("}:meta:") :]


def position_from(reply: list[Any]) -> tuple[int, str] | None:
    """``(offset, epoch)`` from ``HMGET meta offset epoch``; ``None`` for no store."""
    offset, epoch = reply
    if offset is None or epoch is None or int(offset) == 0:
        return None
    return int(offset), epoch.decode() if isinstance(epoch, bytes) else str(epoch)


def split_envelope(data: bytes) -> tuple[bytes, bytes, int | None]:
    """``(header, frame, offset)`` of a message received on a channel."""
    cut = data.index(b"\n")
    header = data[:cut]
    space = header.rfind(b" ")
    offset = int(header[space + 1 :]) if header.count(b" ") == 2 else None
    return header, data[cut + 1 :], offset


def stream_offset(entry_id: bytes) -> int:
    """The offset of a stream entry: the first part of its id ``<offset>-0``."""
    return int(entry_id.split(b"-", 1)[0])


def replay_from(
    since: int,
    epoch: str | None,
    store_epoch: str,
    last: int,
    first: int | None,
    entries: list[Any],
) -> Replay:
    """PROTOCOL.md's recovery verdict from what the replay script read.

    ``last`` is the subject's last offset, ``first`` the oldest offset still in
    its stream (``None`` when empty); ``entries`` the stream entries after
    ``since`` (all of them when the epoch differs). Offsets run without gaps,
    so nothing is missing exactly when the stream still holds ``since + 1``.
    """
    messages = [(stream_offset(entry[0]), bytes(entry[1][1])) for entry in entries]
    if epoch is not None and epoch != store_epoch:
        return Replay(store_epoch, False, messages)
    if since > last:
        return Replay(store_epoch, False, [])
    complete = since == last if first is None else since + 1 >= first
    return Replay(store_epoch, complete, messages)


def replay_from_reply(since: int, epoch: str | None, reply: list[Any]) -> Replay:
    """:func:`replay_from` on the REPLAY script's reply ``{epoch, last, first or -1, entries}``."""
    store_epoch, last, first, entries = reply
    first_offset = int(first)
    return replay_from(
        since,
        epoch,
        store_epoch.decode(),
        int(last),
        None if first_offset < 0 else first_offset,
        entries,
    )


# Publish on a durable subject, atomically: number it, store it, announce it.
# KEYS: meta, log[, retained]; ARGV: subject, frame, retention, new epoch,
# header, retain ("0": no, "1": HSET in the retained hash, "2": SET the
# retained key), channel, publish command (PUBLISH/SPUBLISH)[, what goes
# between the envelope's header line and the frame].
# Returns the frame as stored (with _offset and _epoch spliced in).
PUBLISH_DURABLE = """
local meta, log = KEYS[1], KEYS[2]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[4]
  redis.call('DEL', log)
  redis.call('HSET', meta, 'epoch', epoch, 'offset', 0)
end
local n = redis.call('HINCRBY', meta, 'offset', 1)
local body = (string.gsub(ARGV[2], '%s+$', ''))
local head = (string.gsub(string.sub(body, 1, -2), '%s+$', ''))
local sep = ','
if string.sub(head, -1) == '{' then sep = '' end
local framed = head .. sep .. '"_offset":' .. n .. ',"_epoch":"' .. epoch .. '"}'
redis.call('XADD', log, 'MAXLEN', '~', ARGV[3], n .. '-0', 'm', framed)
redis.call(ARGV[8], ARGV[7], ARGV[5] .. ' ' .. n .. '\\n' .. (ARGV[9] or '') .. framed)
if ARGV[6] == '1' and KEYS[3] then
  redis.call('HSET', KEYS[3], ARGV[1], framed)
elseif ARGV[6] == '2' and KEYS[3] then
  redis.call('SET', KEYS[3], framed)
end
return framed
"""

# Read a durable subject's history after an offset.
# KEYS: meta, log; ARGV: since, new epoch, the client's epoch ("" if none).
# Returns {epoch, last offset, first offset or -1, entries}.
REPLAY = """
local meta, log = KEYS[1], KEYS[2]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[2]
  redis.call('DEL', log)
  redis.call('HSET', meta, 'epoch', epoch, 'offset', 0)
end
local last = tonumber(redis.call('HGET', meta, 'offset'))
local start = '(' .. ARGV[1] .. '-0'
if ARGV[3] ~= '' and ARGV[3] ~= epoch then start = '-' end
local entries = redis.call('XRANGE', log, start, '+')
local head = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
local first = -1
if #head > 0 then first = tonumber((string.match(head[1][1], '^(%d+)'))) end
return {epoch, last, first, entries}
"""
