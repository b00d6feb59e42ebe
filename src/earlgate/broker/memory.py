"""The embedded in-memory broker: one hub process, no network hop.

Publishing delivers synchronously to the hub's local fan-out, so messages of
one publisher reach each subscriber in publish order by construction. Retained
values and durable histories live in this process and die with it; the epoch
is new at every start, so a client resuming across a restart learns
(``recovered: false``) that history was lost.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from earlgate.broker.base import Broker, Position, PublishDone, Replay
from earlgate.broker.history import HistoryStore
from earlgate.broker.retained import RetainedStore
from earlgate.wire.codes import EPOCH_FIELD, OFFSET_KEY, encode_hub_fields, splice_fields
from earlgate.wire.durable import DurablePolicy
from earlgate.wire.subjects import is_wildcard


class MemoryBroker(Broker):
    """Retained values, durable rings and delivery, all inside one process."""

    name = "memory"

    def __init__(
        self,
        durable: Iterable[str] = (),
        retention: int = 1000,
        max_retained: int = 100_000,
        max_durable_subjects: int = 100_000,
        max_retained_bytes: int = 256 * 1024 * 1024,
        durable_max_bytes: int = 512 * 1024 * 1024,
    ) -> None:
        super().__init__()
        self.durable = DurablePolicy(durable)
        self.epoch = secrets.token_hex(8)
        self._epoch_field = encode_hub_fields(
            {EPOCH_FIELD: self.epoch}
        )  # the same on every message
        self.store = HistoryStore(self.epoch, retention, max_durable_subjects, durable_max_bytes)
        self.retained_store = RetainedStore(max_retained, max_retained_bytes)

    def publish(
        self, subject: str, raw: bytes, *, retain: bool, on_done: PublishDone | None
    ) -> None:
        offset: int | None = None
        if self.durable and self.durable(subject):
            offset = self.store.last_offset + 1
            raw = splice_fields(raw, b"%s%d,%s" % (OFFSET_KEY, offset, self._epoch_field))
            self.store.append(subject, raw)
        if retain:
            self.retained_store.set(subject, raw)
        if on_done is not None:
            on_done(None, "")
        assert self._sink is not None, "broker used before attach()"
        self._sink.deliver(subject, raw, offset)

    def unretain(self, subject: str) -> None:
        self.retained_store.remove(subject)

    async def retained(self, pattern: str) -> list[bytes]:
        if not is_wildcard(pattern):
            raw = self.retained_store.get(pattern)
            return [] if raw is None else [raw]
        return await self.retained_store.find(pattern)

    def is_durable(self, subject: str) -> bool:
        return bool(self.durable) and self.durable(subject)

    async def history(self, subject: str, since: int, epoch: str | None) -> Replay:
        return self.store.replay(subject, since, epoch)

    async def positions(self, pattern: str, limit: int) -> dict[str, Position]:
        if not self.durable:
            return {}
        return await self.store.positions(pattern, limit)

    def statistics(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "epoch": self.epoch,
            "retained_subjects": len(self.retained_store),
            "retained_bytes": self.retained_store.bytes,
            "retained_evicted": sum(self.retained_store.evicted.values()),
            "retained_evicted_for_bytes": self.retained_store.evicted["bytes"],
            "durable_subjects": len(self.store),
            "durable_bytes": self.store.bytes,
            "durable_evicted_subjects": self.store.evicted_subjects,
            "durable_evicted_for_bytes": self.store.evicted_for_bytes,
        }
