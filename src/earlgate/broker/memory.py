"""The embedded in-memory broker: one hub process, no network hop.

Publishing delivers synchronously to the hub's local fan-out, so messages of
one publisher reach each subscriber in publish order by construction. Retained
values and durable histories live in this process and die with it; the epoch
is new at every start, so a client resuming across a restart learns
(``recovered: false``) that history was lost.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from earlgate.broker.base import Broker, PublishDone, Replay
from earlgate.broker.history import HistoryStore
from earlgate.hub.frames import with_hub_fields
from earlgate.hub.subjects import check_pattern, is_wildcard, matches


class DurablePolicy:
    """Which subjects are durable: those matching one of the configured patterns."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self.patterns = tuple(check_pattern(p) for p in patterns)
        self._cache: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __call__(self, subject: str) -> bool:
        answer = self._cache.get(subject)
        if answer is None:
            if len(self._cache) > 65536:
                self._cache.clear()
            answer = self._cache[subject] = any(matches(p, subject) for p in self.patterns)
        return answer


class MemoryBroker(Broker):
    """Retained values, durable rings and delivery, all inside one process."""

    name = "memory"

    def __init__(
        self,
        durable: Iterable[str] = (),
        retention: int = 1000,
        max_retained: int = 100_000,
        max_durable_subjects: int = 100_000,
    ) -> None:
        super().__init__()
        self.durable = DurablePolicy(durable)
        self.epoch = secrets.token_hex(8)
        self.store = HistoryStore(self.epoch, retention, max_durable_subjects)
        self.max_retained = max_retained
        self._retained: OrderedDict[str, bytes] = OrderedDict()
        self.retained_evicted = 0

    def publish(
        self, subject: str, raw: bytes, *, retain: bool, on_done: PublishDone | None
    ) -> None:
        offset: int | None = None
        if self.durable and self.durable(subject):
            offset = self.store.last_offset + 1
            raw = with_hub_fields(raw, {"_offset": offset, "_epoch": self.epoch})
            self.store.append(subject, raw)
        if retain:
            self._retain(subject, raw)
        if on_done is not None:
            on_done(None, "")
        assert self._sink is not None, "broker used before attach()"
        self._sink.deliver(subject, raw, offset)

    def _retain(self, subject: str, raw: bytes) -> None:
        retained = self._retained
        if subject in retained:
            retained.move_to_end(subject)
        elif len(retained) >= self.max_retained:
            retained.popitem(last=False)
            self.retained_evicted += 1
        retained[subject] = raw

    async def retained(self, pattern: str) -> list[bytes]:
        if not is_wildcard(pattern):
            raw = self._retained.get(pattern)
            return [] if raw is None else [raw]
        return [raw for subject, raw in self._retained.items() if matches(pattern, subject)]

    def is_durable(self, subject: str) -> bool:
        return bool(self.durable) and self.durable(subject)

    async def history(self, subject: str, since: int, epoch: str | None) -> Replay:
        return self.store.replay(subject, since, epoch)

    def statistics(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "epoch": self.epoch,
            "retained_subjects": len(self._retained),
            "retained_evicted": self.retained_evicted,
            "durable_subjects": len(self.store),
            "durable_evicted_subjects": self.store.evicted_subjects,
        }
