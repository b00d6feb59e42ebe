"""MQTT shared subscriptions (MQTT 5.0, 4.8.2): ``$share/GROUP/filter`` and whose turn it is.

A message matching a shared subscription goes to one member of its group, not
to each: the hub core holds one subscription per group (the I/O of that is in
:mod:`~earlgate.mqtt.sharing`) and this module says which member gets each
message. Members take turns (round-robin in the order they joined); a member
that cannot take a message now is passed over for one that can, by rank:
connected with room in its inflight window first, then connected with a full
window (the message waits in its queue), then away with a kept session (QoS 1
and 2 only: the message waits for it to come back). Pure: members are whatever
the caller keeps, ranked by a function it passes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from earlgate.mqtt.mapping import Message
from earlgate.wire.subjects import SubjectError, check_pattern

SHARE_PREFIX = "$share/"
MAX_SHARE_NAME_BYTES = 256

# Ranks of a member for one message; lower is better, None: it cannot take it.
READY = 0  # connected, room in its window (or a QoS 0 message)
BUSY = 1  # connected, its window full: the message queues behind it
AWAY = 2  # a kept session without its client: QoS 1 and 2 wait for it

M = TypeVar("M", bound=Hashable)


class ShareError(ValueError):
    """A ``$share/...`` filter that is not NAME/filter; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class ShareKey:
    """One shared subscription: its share name and its topic filter."""

    group: str
    filter: str

    @property
    def full(self) -> str:
        """The filter as the client subscribes and unsubscribes it."""
        return f"{SHARE_PREFIX}{self.group}/{self.filter}"


@dataclass(frozen=True, slots=True)
class SharedCopy:
    """A message a member got through shared subscription ``key``: handed to another
    member if the session ends before its client has it (4.8.2)."""

    key: ShareKey
    message: Message


def parse_share(topic_filter: str) -> ShareKey | None:
    """The shared subscription ``topic_filter`` names; None when it is not one.

    Raises :class:`ShareError` for a malformed one (4.8.2: the share name is at
    least one character, without ``/``, ``+`` or ``#``, followed by ``/`` and a
    topic filter), and for a filter that is not a hub pattern.
    """
    if not topic_filter.startswith(SHARE_PREFIX):
        return None
    group, slash, inner = topic_filter[len(SHARE_PREFIX) :].partition("/")
    if not group:
        raise ShareError("a shared subscription needs a share name: $share/NAME/filter")
    if "+" in group or "#" in group:
        raise ShareError(f"share name {group[:64]!r} must not contain '+' or '#'")
    if len(group.encode("utf-8", "surrogatepass")) > MAX_SHARE_NAME_BYTES:
        raise ShareError(f"share name is longer than {MAX_SHARE_NAME_BYTES} bytes")
    if not slash or not inner:
        raise ShareError(f"shared subscription {group[:64]!r} needs a topic filter after its name")
    try:
        check_pattern(inner)
    except SubjectError as exc:
        raise ShareError(f"topic filter {inner[:64]!r}: {exc}") from None
    return ShareKey(group, inner)


class Group(Generic[M]):
    """The members of one shared subscription, in the order they joined, and the turn."""

    __slots__ = ("_turn", "members")

    def __init__(self) -> None:
        self.members: list[M] = []
        self._turn = 0  # index of the member whose turn comes next

    def __len__(self) -> int:
        return len(self.members)

    def join(self, member: M) -> bool:
        if member in self.members:
            return False
        self.members.append(member)
        return True

    def leave(self, member: M) -> bool:
        try:
            index = self.members.index(member)
        except ValueError:
            return False
        del self.members[index]
        if index < self._turn:
            self._turn -= 1
        if self._turn >= len(self.members):
            self._turn = 0
        return True

    def pick(self, rank: Callable[[M], int | None]) -> M | None:
        """The first member from the turn on among the best ranked; the turn passes it."""
        members = self.members
        count = len(members)
        best: int | None = None
        best_rank = 0
        for step in range(count):
            index = (self._turn + step) % count
            value = rank(members[index])
            if value is None or (best is not None and value >= best_rank):
                continue
            best, best_rank = index, value
            if value == READY:
                break
        if best is None:
            return None
        self._turn = (best + 1) % count
        return members[best]


class SharedGroups(Generic[M]):
    """Every shared subscription of a hub process and its members."""

    def __init__(self) -> None:
        self.groups: dict[ShareKey, Group[M]] = {}

    def __len__(self) -> int:
        return len(self.groups)

    def join(self, key: ShareKey, member: M) -> bool:
        """Add ``member``; True when the group is new (it needs its hub subscription)."""
        group = self.groups.get(key)
        created = group is None
        if group is None:
            group = self.groups[key] = Group()
        group.join(member)
        return created

    def leave(self, key: ShareKey, member: M) -> bool:
        """Remove ``member``; True when that emptied the group (its hub subscription ends)."""
        group = self.groups.get(key)
        if group is None or not group.leave(member):
            return False
        if group:
            return False
        del self.groups[key]
        return True

    def pick(self, key: ShareKey, rank: Callable[[M], int | None]) -> M | None:
        """The member of ``key`` that gets the next message, or None (no member can)."""
        group = self.groups.get(key)
        return group.pick(rank) if group is not None else None
