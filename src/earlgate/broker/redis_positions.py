"""Where durable subjects stand in Redis: one lookup for both Redis brokers.

Single Redis and Redis Cluster name a durable subject's meta hash alike
(``<prefix>:{tag}:meta:<subject>``, see :mod:`earlgate.broker.rediskeys`), so
finding the subjects that match a pattern is one ``SCAN MATCH`` over the
keyspace (on a cluster, over every primary), filtered exactly, and reading
where each stands is one pipelined ``HMGET offset epoch`` per subject.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from earlgate.broker.base import Position
from earlgate.broker.rediskeys import meta_match, meta_subject, pattern_glob, position_from
from earlgate.wire.subjects import matches


class DurableKeys(Protocol):
    @property
    def prefix(self) -> str: ...

    def durable(self, subject: str) -> tuple[str, str]: ...


async def durable_positions(
    redis: Any,
    pipe: Any,
    keys: DurableKeys,
    pattern: str,
    limit: int,
    is_durable: Callable[[str], bool],
) -> dict[str, Position]:
    """At most ``limit`` + 1 stored durable subjects matching ``pattern``, with their
    (last offset, epoch). ``redis`` scans, ``pipe`` (a fresh pipeline) reads."""
    subjects: list[str] = []
    match = meta_match(keys.prefix, pattern_glob(pattern))
    async for key in redis.scan_iter(match=match, count=1000):
        subject = meta_subject(keys.prefix, key)
        if matches(pattern, subject) and is_durable(subject):
            subjects.append(subject)
            if len(subjects) > limit:
                break
    if not subjects:
        return {}
    for subject in subjects:
        pipe.hmget(keys.durable(subject)[0], "offset", "epoch")
    found: dict[str, Position] = {}
    for subject, reply in zip(subjects, await pipe.execute(), strict=True):
        position = position_from(reply)
        if position is not None:
            found[subject] = position
    return found
