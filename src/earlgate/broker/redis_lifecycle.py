"""What the Redis and Redis Cluster brokers share around their connections.

Both start by connecting in the background (a hub started while Redis is
down says so and keeps trying), keep their subscription connections up with
the same backoff (50 ms doubling to 2 s), are *down* between a lost
connection and the next one (publishes refused, waiting subscriptions told),
and stop by cancelling their tasks. A subclass says how to connect, how to
close what it holds, and which tasks besides the connection loop it runs.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Coroutine, Iterable
from typing import Any

from redis import exceptions as redis_errors

from earlgate.broker.base import Broker, BrokerError
from earlgate.wire.durable import DurablePolicy

__all__ = [
    "BACKOFF_FIRST",
    "BACKOFF_MAX",
    "CONNECT_TIMEOUT",
    "ERRORS",
    "SUBSCRIBE_TIMEOUT",
    "RedisLifecycle",
]

logger = logging.getLogger("earlgate.broker")

# What a lost or refused Redis connection raises (the cluster client's own
# errors are not RedisErrors).
ERRORS = (
    redis_errors.RedisError,
    redis_errors.RedisClusterException,
    BrokerError,
    OSError,
    EOFError,
)
BACKOFF_FIRST = 0.05  # seconds before the first reconnection attempt
BACKOFF_MAX = 2.0
CONNECT_TIMEOUT = 2.0
SUBSCRIBE_TIMEOUT = 5.0  # how long a replay waits for its subscription to be confirmed


class RedisLifecycle(Broker):
    """Start, reconnect, go down and stop, as both Redis brokers do."""

    def __init__(self, url: str, durable: Iterable[str], retention: int) -> None:
        super().__init__()
        self.url = url
        self.durable = DurablePolicy(durable)
        self.retention = retention
        self._up = False
        self._closing = False
        self._ready = asyncio.Event()  # set at the first successful connection
        self._tasks: list[asyncio.Task[None]] = []
        # Subscriptions sent and not yet confirmed, by channel (or glob).
        self._confirming: dict[bytes, asyncio.Future[None]] = {}
        self.reconnects = 0
        self.published = 0
        self.received = 0

    @property
    @abc.abstractmethod
    def label(self) -> str:
        """The server in log lines: ``Redis at URL``, ``Redis Cluster URL``."""

    @abc.abstractmethod
    async def _connect(self) -> Awaitable[Any]:
        """Connect and subscribe; return what completes once a connection drops."""

    @abc.abstractmethod
    def _close_links(self) -> None:
        """Close the sockets at once (what still waits for a reply is told)."""

    async def _disconnect(self) -> None:  # noqa: B027 - optional hook
        """After a loss, and at stop: release the clients (awaitable cleanup)."""

    def _workers(self) -> list[Coroutine[Any, Any, None]]:
        """Tasks besides the connection loop (e.g. a publish writer)."""
        return []

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._maintain(), name=f"{self.name}-connections")]
        self._tasks += [loop.create_task(work) for work in self._workers()]
        # Start once Redis answers, so that a hub started with Redis down says so.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), CONNECT_TIMEOUT * 2)
        if not self._up:
            logger.warning("%s is not reachable yet; retrying in the background", self.label)

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, *ERRORS):
                await task
        self._close_links()
        await self._disconnect()

    def healthy(self) -> bool:
        return self._up

    def is_durable(self, subject: str) -> bool:
        return bool(self.durable) and self.durable(subject)

    async def _maintain(self) -> None:
        """Keep the connections up; the broker is down while they are not."""
        backoff = BACKOFF_FIRST
        while not self._closing:
            try:
                until_lost = await self._connect()
                if self.reconnects or self._up is False:
                    logger.info("connected to %s", self.label)
                self.reconnects += 1
                self._up = True
                self._ready.set()
                backoff = BACKOFF_FIRST
                await until_lost
            except ERRORS as exc:
                if self._up or backoff == BACKOFF_FIRST:
                    logger.warning("%s unreachable: %s", self.label, exc)
            self._lost("")
            await self._disconnect()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _lost(self, reason: str) -> None:
        """Mark the broker down and close its sockets; the loop reconnects."""
        if reason:
            logger.warning("%s: %s", self.label, reason)
        self._up = False
        self._close_links()
        for future in self._confirming.values():
            if not future.done():
                future.set_exception(BrokerError(f"{self.label}: connection lost"))
                future.exception()  # retrieved: nobody may be waiting
        self._confirming.clear()
