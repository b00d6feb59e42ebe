"""Where one subscription stands: its bounded queue and its resume bookkeeping.

Pure: no asyncio, no sockets, no clock. :class:`SubscriptionState` is the part
of a :class:`~earlgate.client.Subscription` that the client's state machine
(:mod:`earlgate.client.state`) drives; the subclass only adds waiting.

For durable subjects a subscription remembers the last ``_offset`` and
``_epoch`` it saw (one pair for an exact subject; one per subject with
``resume``), drops what a replay sends twice, and says so in the frame the
client sends on reconnect (PROTOCOL.md's ``since``/``epoch``, docs/hub.md's
"Resume on patterns").
"""

from __future__ import annotations

from collections import deque
from typing import Any

from earlgate.wire.subjects import check_pattern, is_wildcard


class SubscriptionState:
    """Messages of one pattern waiting to be read, and where each subject stands.

    ``recovered`` is the hub's answer to the last resume: ``False`` means
    messages were missed (history lost or too old) and state must be reloaded.

    Raises:
        SubjectError: ``pattern`` is not a valid pattern.
        ValueError: ``since`` on a wildcard, or ``since`` with ``resume``.
    """

    def __init__(
        self,
        pattern: str,
        last: bool = False,
        since: int | None = None,
        maxsize: int = 100_000,
        resume: bool = False,
    ) -> None:
        check_pattern(pattern)
        # docs/hub.md: "`since` takes a single subject (not a wildcard pattern)".
        if since is not None and is_wildcard(pattern):
            raise ValueError("since needs a single subject: resume a pattern with resume=True")
        if since is not None and resume:
            raise ValueError("use since or resume, not both")
        self.pattern = pattern
        self.last = last
        self.offset = since  # last durable offset seen (exact subjects only)
        self.epoch: str | None = None
        # With ``resume``: where each durable subject of the pattern stands,
        # (offset, epoch), sent back on reconnect (docs/hub.md, Resume on patterns).
        self.positions: dict[str, tuple[int, str]] | None = {} if resume else None
        self._started = False  # the hub has acked the resumable subscription once
        self.recovered: bool | None = None
        # Resumes answered recovered=false, and live messages of a new epoch.
        self.unrecovered = 0
        self.duplicates = 0  # frames dropped as already seen (a replay overlapping)
        self.dropped = 0  # frames dropped because the queue was full (oldest first)
        self.closed = False
        self._queue: deque[dict[str, Any]] = deque()
        self._maxsize = maxsize

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.pattern!r} offset={self.offset}>"

    def push(self, message: dict[str, Any]) -> bool:
        """Queue a message of a matching subject; ``False`` if it was seen before."""
        offset = message.get("_offset")
        positions = self.positions
        if positions is not None and isinstance(offset, int):
            subject, epoch = message["subject"], message.get("_epoch")
            known = positions.get(subject)
            if known is not None and known[1] == epoch and offset <= known[0]:
                self.duplicates += 1
                return False  # already seen
            if known is not None and isinstance(epoch, str) and known[1] != epoch:
                self._history_lost()
            if isinstance(epoch, str):
                positions[subject] = (offset, epoch)
        elif isinstance(offset, int) and not is_wildcard(self.pattern):
            epoch = message.get("_epoch")
            if self.offset is not None and offset <= self.offset and epoch == self.epoch:
                self.duplicates += 1
                return False  # already seen: a replay overlapping what we had
            if self.epoch is not None and isinstance(epoch, str) and epoch != self.epoch:
                self._history_lost()
            self.offset = offset
            self.epoch = epoch if isinstance(epoch, str) else self.epoch
        if len(self._queue) >= self._maxsize:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(message)
        return True

    def _history_lost(self) -> None:
        """A live message of a new epoch: the store lost its history (a Redis restarted
        without its append-only file), so messages may be missing."""
        self.recovered = False
        self.unrecovered += 1

    def acked(self, ack: dict[str, Any]) -> None:
        """The hub's answer to (re)subscribing, before any message it replays."""
        recovered = ack.get("recovered")
        if isinstance(recovered, bool):
            self.recovered = recovered
            self.unrecovered += not recovered
            if not recovered and self.positions is None:
                self.epoch = None  # the replay that follows is in the new epoch
        positions = ack.get("positions")
        if self.positions is None or not isinstance(positions, dict):
            return
        self._started = True
        # docs/hub.md: the ack lists "the position each subject's replay starts from".
        for subject, position in positions.items():
            if not (isinstance(position, list) and len(position) == 2):
                continue
            offset, epoch = position
            known = self.positions.get(subject)
            if known is None or known[1] != epoch or known[0] < offset:
                self.positions[subject] = (int(offset), str(epoch))

    def subscribe_frame(self, frame_id: int) -> dict[str, Any]:
        """The ``subscribe`` frame that starts or resumes this subscription."""
        frame: dict[str, Any] = {"type": "subscribe", "subject": self.pattern, "id": frame_id}
        if self.positions is not None:
            frame["resume"] = (
                {s: list(p) for s, p in self.positions.items()} if self._started else True
            )
        elif self.offset is not None:
            frame["since"] = self.offset
            if self.epoch is not None:
                frame["epoch"] = self.epoch
        elif self.last:
            frame["last"] = True
        return frame

    def get_nowait(self) -> dict[str, Any] | None:
        """The next queued message, or ``None``."""
        return self._queue.popleft() if self._queue else None
