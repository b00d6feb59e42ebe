"""Where a kept MQTT session stands on each durable subject: the positions its record keeps.

A record (:mod:`~earlgate.mqtt.record`) holds, per durable subject, the
position to replay from when another hub takes the session up. It must not
skip a QoS 1 or 2 message the client has not acknowledged, and should not go
back much further (what it replays again is a duplicate, allowed at QoS 1).

:class:`Marks` keeps two positions per subject. ``last`` is the newest
message the session was handed (or, for a subject it had none of, where the
subject stood when the subscription was made). ``floor`` is a position
everything up to which is settled: when a record is made, a subject with no
message of it in flight or queued moves its floor up to ``last``; one with
messages outstanding keeps its older floor. A subject first seen in a
message starts with its floor just before it. Updating ``last`` is two dict
operations per durable message, on the delivery path; nothing else is.
"""

from __future__ import annotations

from collections.abc import Iterable

from earlgate.broker.base import Position

_EPOCH_KEY = b'"_epoch":"'


def epoch_of(raw: bytes) -> str | None:
    """The ``_epoch`` the broker spliced into a durable frame (None: none there)."""
    start = raw.rfind(_EPOCH_KEY)
    if start < 0:
        return None
    start += len(_EPOCH_KEY)
    end = raw.find(b'"', start)
    return raw[start:end].decode(errors="replace") if end > start else None


class Marks:
    """Per durable subject: the newest message handed over, and the settled floor."""

    __slots__ = ("changed", "floor", "last", "pending")

    def __init__(self, positions: dict[str, Position] | None = None) -> None:
        self.last: dict[str, Position] = dict(positions or {})
        self.floor: dict[str, Position] = dict(positions or {})
        self.changed = False  # since the last record
        self.pending: set[str] = set()  # filters whose baseline is still being read

    def seen(self, subject: str, offset: int, epoch: str) -> None:
        """A message of ``subject`` at ``offset`` was handed to the session."""
        last = self.last.get(subject)
        if last is None or last[1] != epoch or offset > last[0]:
            self.last[subject] = (offset, epoch)
            floor = self.floor.get(subject)
            if floor is None or floor[1] != epoch:
                self.floor[subject] = (max(offset - 1, 0), epoch)
            self.changed = True

    def baseline(self, positions: dict[str, Position]) -> None:
        """Where durable subjects stood when a subscription was made: a subject
        with nothing handed over yet is settled there."""
        for subject, at in positions.items():
            if subject not in self.last:
                self.last[subject] = self.floor[subject] = at
                self.changed = True

    def snapshot(
        self, outstanding: set[str], keep: Iterable[str] | None = None
    ) -> dict[str, Position]:
        """The positions to replay from: settle each subject with nothing
        ``outstanding``; forget those not in ``keep`` (no subscription covers them)."""
        if keep is not None:
            kept = set(keep)
            for subject in [s for s in self.last if s not in kept]:
                del self.last[subject]
                self.floor.pop(subject, None)
        for subject, at in self.last.items():
            if subject not in outstanding:
                self.floor[subject] = at
        self.changed = False
        return dict(self.floor)
