"""The Redis backplane: hubs on many processes or machines joined through Redis.

The thesis joined its WebSocket servers through Redis pub/sub (section 2.4.5);
this broker does the same and adds what the thesis lacked: retained values
shared by all hubs, durable subjects in Redis Streams, and a hub that notices
when Redis is gone (``healthy()`` false: ``/healthz`` 503, publishes answered
``unavailable``) and reconnects with backoff, re-subscribing by itself.

Names, envelopes and scripts are in :mod:`earlgate.broker.rediskeys`. Two
connections per hub:

- **commands**: one writer task sends every publish of one event-loop turn
  as one pipeline and waits for its replies before the next, on one
  connection. Messages of one publisher therefore reach Redis, and every
  subscriber, in publish order (PROTOCOL.md, Order and delivery). Nothing is
  delivered locally without the round trip through Redis: a local shortcut
  would let a local subscriber see a message before an earlier one that is
  still on its way back from Redis.
- **subscriptions**: one connection in pub/sub mode, subscribed to exactly
  what the hub's local clients need.

While Redis is unreachable the hub delivers publishes without an ``id`` to
its own subscribers directly (see :meth:`earlgate.hub.core.Hub`); nothing
read from the old connection is delivered once the broker is marked down, so
such a local message is never followed by an older one from Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
from collections.abc import Iterable
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, parse_url
from redis.backoff import NoBackoff
from redis.retry import Retry

from earlgate.broker.base import Broker, BrokerError, PublishDone, Replay
from earlgate.broker.memory import DurablePolicy
from earlgate.broker.rediskeys import PUBLISH_DURABLE, REPLAY, Keys, replay_from, split_envelope
from earlgate.hub.subjects import is_wildcard, matches

logger = logging.getLogger(__name__)

_ERRORS = (redis_errors.RedisError, OSError, EOFError)
BACKOFF_FIRST = 0.05  # seconds before the first reconnection attempt
BACKOFF_MAX = 2.0
CONNECT_TIMEOUT = 2.0
SUBSCRIBE_TIMEOUT = 5.0  # how long a replay waits for its subscription to be confirmed


class RedisBroker(Broker):
    """Publish through Redis pub/sub; retained values and durable streams in Redis."""

    name = "redis"

    def __init__(
        self,
        url: str,
        durable: Iterable[str] = (),
        retention: int = 1000,
        prefix: str = "earlgate",
    ) -> None:
        super().__init__()
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise BrokerError(f"not a Redis URL: {url!r}")
        self.url = url
        self.durable = DurablePolicy(durable)
        self.retention = retention
        self.keys = Keys(prefix)
        self.origin = secrets.token_hex(4).encode()  # this hub, in envelopes
        self._seq = 0
        self._last_header = b""
        options: dict[str, Any] = dict(parse_url(url))
        self._connection_class: type[Connection] = options.pop("connection_class", Connection)
        options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT)
        options["socket_keepalive"] = True
        options["protocol"] = 2  # pub/sub replies as plain arrays, not RESP3 pushes
        self._options = options
        self._redis: Redis | None = None
        self._sub: Connection | None = None
        self._up = False
        self._closing = False
        # What local clients need: exact channels and globs, with the patterns each serves.
        self._channels: set[bytes] = set()
        self._globs: dict[bytes, set[str]] = {}
        self._confirming: dict[bytes, asyncio.Future[None]] = {}
        self._pending: list[tuple[str, bytes, bool, PublishDone | None]] = []
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()  # set at the first successful connection
        self._tasks: list[asyncio.Task[None]] = []
        self._publish_sha = ""
        self._replay_script: Any = None
        self.reconnects = 0
        self.published = 0
        self.received = 0
        self.duplicates = 0

    # -- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        self._redis = Redis.from_url(
            self.url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
        )
        self._replay_script = self._redis.register_script(REPLAY)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._maintain(), name="redis-subscriber"),
            loop.create_task(self._writer(), name="redis-writer"),
        ]
        # Start once Redis answers, so that a hub started with Redis down says so.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), CONNECT_TIMEOUT * 2)
        if not self._up:
            logger.warning("Redis at %s is not reachable yet; retrying in the background", self.url)

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, *_ERRORS):
                await task
        self._fail_pending("hub shutting down")
        if self._sub is not None:
            with contextlib.suppress(*_ERRORS):
                await self._sub.disconnect()
        if self._redis is not None:
            with contextlib.suppress(*_ERRORS):
                await self._redis.aclose()

    def healthy(self) -> bool:
        return self._up

    # -- publishing -------------------------------------------------------

    def publish(
        self, subject: str, raw: bytes, *, retain: bool, on_done: PublishDone | None
    ) -> None:
        self._pending.append((subject, raw, retain, on_done))
        self._wake.set()

    async def _writer(self) -> None:
        """Send what was published during each loop turn as one pipeline, in order."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending, []
                await self._send(batch)

    async def _send(self, batch: list[tuple[str, bytes, bool, PublishDone | None]]) -> None:
        redis = self._redis
        assert redis is not None
        if not self._up:
            self._answer(batch, "unavailable", "broker is unreachable")
            return
        keys = self.keys
        pipe = redis.pipeline(transaction=False)
        epoch = secrets.token_hex(8)
        for subject, raw, retain, _ in batch:
            self._seq += 1
            header = b"%s %d" % (self.origin, self._seq)
            if self.durable and self.durable(subject):
                meta, log = keys.durable(subject)
                pipe.evalsha(
                    self._publish_sha,
                    3,
                    meta,
                    log,
                    keys.retained,
                    subject,
                    raw,
                    self.retention,
                    epoch,
                    header,
                    "1" if retain else "0",
                    keys.channel(subject),
                    "PUBLISH",
                )
            else:
                if retain:
                    pipe.hset(keys.retained, subject, raw)
                pipe.publish(keys.channel(subject), header + b"\n" + raw)
        try:
            await pipe.execute()
        except _ERRORS as exc:
            self._lost(f"publish failed: {exc}")
            self._answer(batch, "unavailable", "broker is unreachable")
            return
        self.published += len(batch)
        self._answer(batch, None, "")

    @staticmethod
    def _answer(
        batch: list[tuple[str, bytes, bool, PublishDone | None]], code: str | None, reason: str
    ) -> None:
        for _, _, _, on_done in batch:
            if on_done is not None:
                on_done(code, reason)

    def _fail_pending(self, reason: str) -> None:
        batch, self._pending = self._pending, []
        self._answer(batch, "unavailable", reason)

    # -- subscriptions ----------------------------------------------------

    def interest(self, pattern: str) -> None:
        if is_wildcard(pattern):
            glob = self.keys.channel_glob(pattern)
            users = self._globs.setdefault(glob, set())
            users.add(pattern)
            if len(users) == 1:
                self._command("PSUBSCRIBE", glob)
        else:
            channel = self.keys.channel(pattern)
            self._channels.add(channel)
            self._command("SUBSCRIBE", channel)

    def disinterest(self, pattern: str) -> None:
        if is_wildcard(pattern):
            glob = self.keys.channel_glob(pattern)
            users = self._globs.get(glob)
            if users is None:
                return
            users.discard(pattern)
            if not users:
                del self._globs[glob]
                self._command("PUNSUBSCRIBE", glob)
        else:
            channel = self.keys.channel(pattern)
            if channel in self._channels:
                self._channels.discard(channel)
                self._command("UNSUBSCRIBE", channel)

    def _command(self, command: str, name: bytes) -> None:
        """Send a (un)subscribe on the subscription connection, if it is up."""
        sub = self._sub
        if command in ("SUBSCRIBE", "PSUBSCRIBE"):
            future = self._confirming.get(name)
            if future is None or future.done():
                future = asyncio.get_running_loop().create_future()
                self._confirming[name] = future
        if sub is None or not self._up:
            return  # sent again when the connection comes back
        task = asyncio.get_running_loop().create_task(self._send_command(sub, command, name))
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    async def _send_command(self, sub: Connection, command: str, name: bytes) -> None:
        try:
            await sub.send_command(command, name, check_health=False)
        except _ERRORS as exc:
            self._lost(f"{command} failed: {exc}")

    async def _maintain(self) -> None:
        """Keep the subscription connection up; mark the broker down while it is not."""
        backoff = BACKOFF_FIRST
        while not self._closing:
            try:
                await self._connect()
                backoff = BACKOFF_FIRST
                await self._read()
            except _ERRORS as exc:
                if self._up or backoff == BACKOFF_FIRST:
                    logger.warning("Redis at %s unreachable: %s", self.url, exc)
            self._lost("")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _connect(self) -> None:
        redis = self._redis
        assert redis is not None
        await redis.ping()
        self._publish_sha = await redis.script_load(PUBLISH_DURABLE)
        sub = self._connection_class(**self._options)
        await sub.connect()  # type: ignore[no-untyped-call]
        self._sub = sub
        channels, globs = sorted(self._channels), sorted(self._globs)
        for name in channels + globs:
            if name not in self._confirming or self._confirming[name].done():
                self._confirming[name] = asyncio.get_running_loop().create_future()
        if channels:
            await sub.send_command("SUBSCRIBE", *channels, check_health=False)
        if globs:
            await sub.send_command("PSUBSCRIBE", *globs, check_health=False)
        if self.reconnects or self._up is False:
            logger.info("connected to Redis at %s", self.url)
        self.reconnects += 1
        self._up = True
        self._ready.set()

    async def _read(self) -> None:
        sub = self._sub
        assert sub is not None
        sink = self._sink
        assert sink is not None, "broker used before attach()"
        while True:
            reply = await sub.read_response(timeout=math.inf, disconnect_on_error=True)
            if not isinstance(reply, list):
                continue
            kind = reply[0]
            if kind == b"message":
                data = reply[2]
            elif kind == b"pmessage":
                data = reply[3]
            else:
                if kind in (b"subscribe", b"psubscribe"):
                    future = self._confirming.pop(reply[1], None)
                    if future is not None and not future.done():
                        future.set_result(None)
                continue
            if not self._up:
                # Marked down (and this socket closed): the hub may already have
                # delivered newer messages locally; an older one must not follow.
                continue
            header, raw, offset = split_envelope(data)
            if header == self._last_header:
                self.duplicates += 1  # the same message through another subscription
                continue
            self._last_header = header
            self.received += 1
            channel = reply[1] if kind == b"message" else reply[2]
            sink.deliver(self.keys.subject_of(channel), raw, offset)

    def _lost(self, reason: str) -> None:
        """Redis went away: refuse publishes until the subscriber is back."""
        if reason:
            logger.warning("Redis at %s: %s", self.url, reason)
        self._up = False
        sub, self._sub = self._sub, None
        if sub is not None:
            # Closing the socket ends the reader, which reconnects.
            with contextlib.suppress(*_ERRORS):
                if sub._writer is not None:
                    sub._writer.close()
        for future in self._confirming.values():
            if not future.done():
                future.set_exception(BrokerError("Redis connection lost"))
                future.exception()  # retrieved: nobody may be waiting
        self._confirming.clear()

    def _name(self, pattern: str) -> bytes:
        if is_wildcard(pattern):
            return self.keys.channel_glob(pattern)
        return self.keys.channel(pattern)

    def is_subscribed(self, pattern: str) -> bool:
        future = self._confirming.get(self._name(pattern))
        return future is None or future.done()

    async def wait_subscribed(self, pattern: str) -> None:
        future = self._confirming.get(self._name(pattern))
        if future is not None:
            await asyncio.wait_for(asyncio.shield(future), SUBSCRIBE_TIMEOUT)

    # -- retained values and history --------------------------------------

    async def retained(self, pattern: str) -> list[bytes]:
        redis = self._redis
        if redis is None or not self._up:
            raise BrokerError("broker is unreachable")
        if not is_wildcard(pattern):
            raw = await redis.hget(self.keys.retained, pattern)
            return [] if raw is None else [raw if isinstance(raw, bytes) else raw.encode()]
        glob = self.keys.channel_glob(pattern)[len(self.keys.prefix) + 1 :]
        found: list[bytes] = []
        async for subject, raw in redis.hscan_iter(self.keys.retained, match=glob, count=1000):
            if matches(pattern, subject.decode()):
                found.append(bytes(raw))
        return found

    def is_durable(self, subject: str) -> bool:
        return bool(self.durable) and self.durable(subject)

    async def history(self, subject: str, since: int, epoch: str | None) -> Replay:
        if self._redis is None or not self._up:
            raise BrokerError("broker is unreachable")
        meta, log = self.keys.durable(subject)
        args = [max(since, 0), secrets.token_hex(8), epoch or ""]
        store_epoch, last, first, entries = await self._replay_script(keys=[meta, log], args=args)
        return replay_from(
            since,
            epoch,
            store_epoch.decode(),
            int(last),
            None if int(first) < 0 else int(first),
            entries,
        )

    def statistics(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "healthy": self._up,
            "channels": len(self._channels),
            "patterns": len(self._globs),
            "published": self.published,
            "received": self.received,
            "duplicates_dropped": self.duplicates,
            "connections": self.reconnects,
        }
