"""The broker interface: where a hub sends what it publishes and gets what it delivers.

The hub's connection code talks only to this interface, so the in-memory broker
(one process) and the Redis backplane (many hubs) are interchangeable. The
methods on the publish path take callbacks instead of returning awaitables,
so that the in-memory broker delivers synchronously without creating a task
or future per message.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from earlgate.broker.sessionstore import MemorySessionStore, SessionTaken

# Called once a publish has taken effect: ``None`` on success, else an error code
# of PROTOCOL.md (``unavailable``, ``overloaded``) and a reason.
PublishDone = Callable[[str | None, str], None]


class BrokerSink(Protocol):
    """What a broker delivers to: the hub's local fan-out."""

    def deliver(self, subject: str, raw: bytes, offset: int | None) -> None:
        """Deliver ``raw`` (a complete frame) to local subscribers of ``subject``."""


@dataclass(frozen=True, slots=True)
class Replay:
    """Stored history of one durable subject after an offset.

    ``recovered`` is PROTOCOL.md's flag: ``False`` when the epoch changed or the
    offset is older than what the store still holds, so messages were missed.
    """

    epoch: str
    recovered: bool
    messages: list[tuple[int, bytes]] = field(default_factory=list)


# Where a durable subject stands: (last offset, epoch).
Position = tuple[int, str]


class BrokerError(Exception):
    """The broker cannot do what was asked (unreachable, misconfigured)."""


class Broker(abc.ABC):
    """Base class of brokers; see the module docstring."""

    name: str = "broker"

    def __init__(self) -> None:
        self._sink: BrokerSink | None = None
        self._on_taken: SessionTaken | None = None
        self._sessions = MemorySessionStore()  # the one-process store; Redis brokers keep theirs

    def attach(self, sink: BrokerSink) -> None:
        self._sink = sink

    # -- kept MQTT sessions (:mod:`~earlgate.broker.sessionstore`) -------------

    def watch_sessions(self, on_taken: SessionTaken) -> None:
        """Call ``on_taken(owner, client_id)`` whenever a hub takes a stored session."""
        self._on_taken = on_taken

    def has_durable(self) -> bool:
        """Whether any subject is durable (positions worth keeping in a session record)."""
        durable = getattr(self, "durable", None)
        return bool(durable)

    async def save_session(self, client_id: str, record: bytes, ttl: float, owner: str) -> bool:
        """Store ``record`` for ``ttl`` seconds; False: another hub owns the session now."""
        return self._sessions.save(client_id, record, ttl, owner, time.monotonic())

    async def take_session(self, client_id: str, owner: str, hold: float) -> bytes | None:
        """Read and delete the record at once, and own the session for ``hold`` seconds."""
        found = self._sessions.take(client_id, owner, hold, time.monotonic())
        if self._on_taken is not None:
            self._on_taken(owner, client_id)
        return found

    async def drop_session(self, client_id: str, owner: str) -> None:
        """Delete the record (the session ended), unless another hub owns it now."""
        self._sessions.drop(client_id, owner, time.monotonic())

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect to whatever backs the broker."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and tasks."""

    def healthy(self) -> bool:
        """Whether the broker can accept and deliver messages now."""
        return True

    @abc.abstractmethod
    def publish(
        self, subject: str, raw: bytes, *, retain: bool, on_done: PublishDone | None
    ) -> None:
        """Send ``raw`` (the publisher's frame) to every subscriber of ``subject``."""

    @abc.abstractmethod
    def unretain(self, subject: str) -> None:
        """Forget ``subject``'s retained frame, after every publish made before this call."""

    def interest(self, pattern: str) -> None:  # noqa: B027 - optional hook
        """A local client subscribed to ``pattern`` (first local subscriber)."""

    def disinterest(self, pattern: str) -> None:  # noqa: B027 - optional hook
        """The last local subscriber of ``pattern`` left."""

    def is_subscribed(self, pattern: str) -> bool:
        """Whether messages on ``pattern`` already flow to this hub (after :meth:`interest`)."""
        return True

    async def wait_subscribed(self, pattern: str) -> None:  # noqa: B027 - optional hook
        """Return once messages on ``pattern`` flow to this hub; raise if they cannot."""

    @abc.abstractmethod
    async def retained(self, pattern: str) -> list[bytes]:
        """The latest retained frame of every subject matching ``pattern``."""

    @abc.abstractmethod
    def is_durable(self, subject: str) -> bool:
        """Whether messages on ``subject`` are stored with offsets."""

    @abc.abstractmethod
    async def history(self, subject: str, since: int, epoch: str | None) -> Replay:
        """Stored messages of durable ``subject`` with an offset above ``since``."""

    @abc.abstractmethod
    async def positions(self, pattern: str, limit: int) -> dict[str, Position]:
        """Each stored durable subject matching ``pattern``: its last offset and epoch.

        Returns at most ``limit`` + 1 subjects, so that the caller can tell
        that there are more than ``limit``.
        """

    def statistics(self) -> dict[str, Any]:
        return {"name": self.name}
