"""The loss ledger of ``earlgate bench chaos``: what was acked, what each subscriber got.

Pure bookkeeping, no I/O. A publisher numbers its messages (``data`` is
``{"p": publisher, "n": sequence}``) and records each one the hub acked; a
publisher that reconnects sends again what was not acked, so one message may
be stored twice under two offsets (at-least-once publishing, counted as
``resent``). Each subscriber records every frame its client library handed
over, and the frames the library dropped as already seen. The verdict per
subscriber:

- **lost**: acked messages on its subjects it never got, after the drain;
- **duplicated**: frames with a ``(subject, epoch, offset)`` it had already got;
- **out of order**: frames whose offset is below one already got on that
  subject in that epoch;
- **unrecoverable**: resumes the hub answered ``recovered: false``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MessageKey = tuple[str, int]  # (publisher, sequence)


@dataclass
class SubscriberLedger:
    name: str
    covers: Callable[[str], bool]  # whether a subject is one this subscriber should get
    got: set[MessageKey] = field(default_factory=set)
    # Offsets count within a subject's epoch (a store that lost its history
    # starts again at 1 in a new epoch).
    offsets: dict[tuple[str, str], int] = field(default_factory=dict)  # highest offset got
    seen: set[tuple[str, str, int]] = field(default_factory=set)  # (subject, epoch, offset)
    frames: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    dropped_by_client: int = 0  # duplicates the client library filtered out
    unrecoverable: int = 0

    def record(self, message: dict[str, Any]) -> None:
        """One frame as the subscriber's client library delivered it."""
        self.frames += 1
        subject = message.get("subject")
        data = message.get("data")
        offset = message.get("_offset")
        epoch = str(message.get("_epoch"))
        if not isinstance(subject, str) or not isinstance(data, dict):
            return
        if isinstance(offset, int):
            if (subject, epoch, offset) in self.seen:
                self.duplicated += 1
                return
            self.seen.add((subject, epoch, offset))
            stream = (subject, epoch)
            if offset < self.offsets.get(stream, 0):
                self.out_of_order += 1
            self.offsets[stream] = max(offset, self.offsets.get(stream, 0))
        self.got.add((str(data.get("p")), int(data.get("n", -1))))


@dataclass
class Ledger:
    """Acked publishes and subscriber ledgers of one chaos run."""

    acked: dict[MessageKey, str] = field(default_factory=dict)  # message -> subject
    sent: int = 0
    resent: int = 0
    subscribers: list[SubscriberLedger] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)  # (seconds, what was done)
    ack_times: list[float] = field(default_factory=list)  # seconds since the start, per ack

    def subscriber(self, name: str, covers: Callable[[str], bool]) -> SubscriberLedger:
        ledger = SubscriberLedger(name, covers)
        self.subscribers.append(ledger)
        return ledger

    def ack(self, publisher: str, sequence: int, subject: str) -> None:
        self.acked[(publisher, sequence)] = subject

    def lost(self, subscriber: SubscriberLedger) -> list[MessageKey]:
        return sorted(
            key
            for key, subject in self.acked.items()
            if subscriber.covers(subject) and key not in subscriber.got
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per subscriber: the figures the report prints."""
        out = []
        for sub in self.subscribers:
            expected = sum(1 for subject in self.acked.values() if sub.covers(subject))
            out.append(
                {
                    "subscriber": sub.name,
                    "acked": expected,
                    "delivered": len(sub.got),
                    "lost": len(self.lost(sub)),
                    "duplicated": sub.duplicated,
                    "out_of_order": sub.out_of_order,
                    "filtered_by_client": sub.dropped_by_client,
                    "unrecoverable": sub.unrecoverable,
                }
            )
        return out

    def failures(self, expect_unrecoverable: bool = False) -> list[str]:
        """What went wrong: empty when the run kept its promises."""
        problems = []
        for row in self.rows():
            name = row["subscriber"]
            if row["lost"] and not (expect_unrecoverable and row["unrecoverable"]):
                problems.append(f"{name}: {row['lost']} acked messages lost")
            if row["duplicated"]:
                problems.append(f"{name}: {row['duplicated']} duplicated offsets")
            if row["out_of_order"]:
                problems.append(f"{name}: {row['out_of_order']} out of order")
            if expect_unrecoverable and not row["unrecoverable"]:
                problems.append(f"{name}: never told recovered=false though history was lost")
            if not expect_unrecoverable and row["unrecoverable"]:
                problems.append(f"{name}: told recovered=false {row['unrecoverable']} times")
        return problems
