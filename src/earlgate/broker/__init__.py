"""Brokers carry published messages to the hubs that have subscribers for them."""

from __future__ import annotations

from collections.abc import Iterable

from earlgate.broker.base import Broker, BrokerError, BrokerSink, Replay
from earlgate.broker.memory import MemoryBroker

__all__ = ["Broker", "BrokerError", "BrokerSink", "MemoryBroker", "Replay", "make_broker"]

BROKER_SCHEMES = ("memory", "redis://", "rediss://", "redis-cluster://")
BROKER_FORMS = "memory, redis://HOST:PORT/DB or redis-cluster://HOST:PORT[,HOST:PORT...]"


def make_broker(
    spec: str,
    durable: Iterable[str] = (),
    retention: int = 1000,
    max_retained: int = 100_000,
    *,
    max_retained_bytes: int = 256 * 1024 * 1024,
    durable_max_bytes: int = 512 * 1024 * 1024,
) -> Broker:
    """The broker named by ``--broker`` (one of :data:`BROKER_FORMS`);
    raises :class:`BrokerError`.

    The byte bounds apply to the in-memory broker; Redis bounds its own memory
    (``maxmemory``).
    """
    if spec == "memory":
        return MemoryBroker(
            durable=durable,
            retention=retention,
            max_retained=max_retained,
            max_retained_bytes=max_retained_bytes,
            durable_max_bytes=durable_max_bytes,
        )
    if spec.startswith(("redis://", "rediss://")):
        from earlgate.broker.redis_broker import RedisBroker

        return RedisBroker(spec, durable=durable, retention=retention)
    if spec.startswith("redis-cluster://"):
        from earlgate.broker.redis_cluster import RedisClusterBroker

        return RedisClusterBroker(spec, durable=durable, retention=retention)
    raise BrokerError(f"unknown broker {spec!r}: use {BROKER_FORMS}")
