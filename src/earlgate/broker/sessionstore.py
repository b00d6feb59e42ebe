"""Kept MQTT sessions in the broker: a record by client id, its owner, a time to live.

A hub that keeps an MQTT session (docs/mqtt.md, "Sessions") saves its record
here, so that the client can take it up again on any hub process sharing the
broker. Per client id the store holds two things:

- the **record** (bytes, :mod:`earlgate.mqtt.record`), with a time to live:
  the session expiry, bounded by the hub;
- the **owner**: the hub process that holds the session now.

``take`` reads and deletes the record and makes the caller the owner, in one
step (a Lua script on Redis), so that two hubs cannot both resume a session;
it tells every hub ``(owner, client_id)`` (a control channel on Redis), and a
hub holding that client id lets go. ``save`` and ``drop`` do nothing for a
caller that is no longer the owner, so a hub that missed the notice never
writes its stale record over the new holder's. The in-memory store here is
the one-process form of the same rules (:class:`~earlgate.broker.memory.MemoryBroker`).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "DROP",
    "SAVE",
    "TAKE",
    "MemorySessionStore",
    "SessionTaken",
    "parse_taken",
    "taken_message",
]

# Called with (new owner, client id) when some hub took a session.
SessionTaken = Callable[[str, str], None]

# KEYS: record, owner. ARGV: record, ttl ms, owner.
SAVE = """
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
return 1
"""

# KEYS: record, owner. ARGV: owner, hold ms, control channel, notice.
TAKE = """
local record = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return record
"""

# KEYS: record, owner. ARGV: owner.
DROP = """
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
"""


def taken_message(owner: str, client_id: str) -> bytes:
    """The notice on the control channel: ``OWNER CLIENT_ID`` (owners hold no space)."""
    return f"{owner} {client_id}".encode()


def parse_taken(data: bytes) -> tuple[str, str] | None:
    """``(owner, client_id)`` of a notice, None if it is not one."""
    try:
        owner, _, client_id = data.decode().partition(" ")
    except UnicodeDecodeError:
        return None
    return (owner, client_id) if owner and client_id else None


class MemorySessionStore:
    """The store's rules in one process (dicts with expiry); clocks are passed in."""

    SWEEP_EVERY = 1024  # saves between sweeps of what expired

    def __init__(self) -> None:
        self.records: dict[str, tuple[bytes, float]] = {}  # client id -> (record, expires at)
        self.owners: dict[str, tuple[str, float]] = {}  # client id -> (owner, expires at)
        self._saves = 0

    def _owner(self, client_id: str, now: float) -> str | None:
        held = self.owners.get(client_id)
        if held is None:
            return None
        if held[1] <= now:
            del self.owners[client_id]
            return None
        return held[0]

    def save(self, client_id: str, record: bytes, ttl: float, owner: str, now: float) -> bool:
        current = self._owner(client_id, now)
        if current is not None and current != owner:
            return False
        self.records[client_id] = (record, now + ttl)
        self.owners[client_id] = (owner, now + ttl)
        self._saves += 1
        if self._saves % self.SWEEP_EVERY == 0:
            self.sweep(now)
        return True

    def sweep(self, now: float) -> None:
        """Forget the records and owners whose time ran out."""
        for held in (self.records, self.owners):
            for client_id in [c for c, (_, ends) in held.items() if ends <= now]:
                del held[client_id]

    def take(self, client_id: str, owner: str, hold: float, now: float) -> bytes | None:
        found = self.records.pop(client_id, None)
        self.owners[client_id] = (owner, now + hold)
        if found is None or found[1] <= now:
            return None
        return found[0]

    def drop(self, client_id: str, owner: str, now: float) -> bool:
        current = self._owner(client_id, now)
        if current is not None and current != owner:
            return False
        self.records.pop(client_id, None)
        self.owners.pop(client_id, None)
        return True

    def __len__(self) -> int:
        return len(self.records)
