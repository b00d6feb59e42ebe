"""The Redis backplane: hubs on many processes or machines joined through Redis.

The thesis joined its WebSocket servers through Redis pub/sub (section 2.4.5);
this broker does the same and adds what the thesis lacked: retained values
shared by all hubs, durable subjects in Redis Streams, and a hub that notices
when Redis is gone (``healthy()`` false: ``/healthz`` 503, publishes answered
``unavailable``) and reconnects with backoff, re-subscribing by itself.

Names, envelopes and scripts are in :mod:`earlgate.broker.rediskeys`. Two
connections per hub carry the messages, both driven by callbacks
(:mod:`earlgate.broker.resp`: no task or ``await`` per message):

- **publishing**: every publish of one event-loop turn leaves in one write,
  and each is acknowledged when its reply comes back, in order, on that one
  connection. Messages of one publisher therefore reach Redis, and every
  subscriber, in publish order (PROTOCOL.md, Order and delivery). Nothing is
  delivered locally without the round trip through Redis: a local shortcut
  would let a local subscriber see a message before an earlier one that is
  still on its way back from Redis.
- **subscriptions**: one connection in pub/sub mode, subscribed to exactly
  what the hub's local clients need.

A redis-py client (its own pool) does the rest: scripts, streams, hashes.

While Redis is unreachable the hub delivers publishes without an ``id`` to
its own subscribers directly (see :meth:`earlgate.hub.core.Hub`); nothing
read from the old connection is delivered once the broker is marked down, so
such a local message is never followed by an older one from Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import Connection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from earlgate.broker.base import BrokerError, Position, PublishDone, Replay
from earlgate.broker.redis_lifecycle import (
    CONNECT_TIMEOUT,
    ERRORS,
    SUBSCRIBE_TIMEOUT,
    RedisLifecycle,
)
from earlgate.broker.redis_positions import durable_positions
from earlgate.broker.redis_sessions import RedisSessions
from earlgate.broker.rediskeys import (
    PUBLISH_DURABLE,
    REPLAY,
    Keys,
    replay_from_reply,
    split_envelope,
)
from earlgate.broker.resp import Reply, RespChannel
from earlgate.wire.subjects import is_wildcard, matches

logger = logging.getLogger(__name__)


class RedisBroker(RedisLifecycle, RedisSessions):
    """Publish through Redis pub/sub; retained values and durable streams in Redis."""

    name = "redis"

    def __init__(
        self,
        url: str,
        durable: Iterable[str] = (),
        retention: int = 1000,
        prefix: str = "earlgate",
    ) -> None:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise BrokerError(f"not a Redis URL: {url!r}")
        super().__init__(url, durable, retention)
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
        self._sub: RespChannel | None = None
        self._pub: RespChannel | None = None
        # What local clients need: exact channels and globs, with the patterns each serves.
        self._channels: set[bytes] = set()
        self._globs: dict[bytes, set[str]] = {}
        self._publish_sha = ""
        self._replay_script: Any = None
        self.duplicates = 0

    # -- lifecycle --------------------------------------------------------

    @property
    def label(self) -> str:
        return f"Redis at {self.url}"

    async def start(self) -> None:
        self._redis = Redis.from_url(
            self.url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
        )
        self._replay_script = self._redis.register_script(REPLAY)
        await super().start()

    async def close(self) -> None:
        await super().close()
        if self._redis is not None:
            with contextlib.suppress(*ERRORS):
                await self._redis.aclose()

    # -- publishing -------------------------------------------------------

    def publish(
        self, subject: str, raw: bytes, *, retain: bool, on_done: PublishDone | None
    ) -> None:
        pub = self._pub
        if pub is None or not self._up:
            if on_done is not None:
                asyncio.get_running_loop().call_soon(
                    on_done, "unavailable", "broker is unreachable"
                )
            return
        keys = self.keys
        self._seq += 1
        header = b"%s %d" % (self.origin, self._seq)
        answer = self._answer(on_done)
        if self.durable and self.durable(subject):
            meta, log = keys.durable(subject)
            pub.send(
                "EVALSHA",
                self._publish_sha,
                3,
                meta,
                log,
                keys.retained,
                subject,
                raw,
                self.retention,
                secrets.token_hex(8),  # the epoch, if this publish starts the stream
                header,
                "1" if retain else "0",
                keys.channel(subject),
                "PUBLISH",
                on_reply=answer,
            )
            return
        if retain:
            pub.send("HSET", keys.retained, subject, raw, on_reply=self._check)
        pub.send("PUBLISH", keys.channel(subject), header + b"\n" + raw, on_reply=answer)

    def unretain(self, subject: str) -> None:
        # On the publishing connection: Redis runs it after the publishes sent before.
        if self._pub is not None and self._up:
            self._pub.send("HDEL", self.keys.retained, subject, on_reply=self._check)

    def _answer(self, on_done: PublishDone | None) -> Callable[[Reply], None]:
        """The reply callback of one publish: ack it, or say why not."""

        def answered(reply: Reply) -> None:
            if isinstance(reply, Exception):
                if not isinstance(reply, ConnectionError):
                    logger.warning("Redis refused a publish: %s", reply)
                if on_done is not None:
                    on_done("unavailable", "broker is unreachable")
                return
            self.published += 1
            if on_done is not None:
                on_done(None, "")

        return answered

    @staticmethod
    def _check(reply: Reply) -> None:
        if isinstance(reply, Exception) and not isinstance(reply, ConnectionError):
            logger.warning("Redis refused a retained value: %s", reply)

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
        sub.send(command, name)

    async def _connect(self) -> Awaitable[Any]:
        redis = self._redis
        assert redis is not None
        await redis.ping()
        self._publish_sha = await redis.script_load(PUBLISH_DURABLE)
        opened = []
        for _ in range(2):
            connection = self._connection_class(**self._options)
            await connection.connect()  # type: ignore[no-untyped-call]
            opened.append(connection)
        self._pub = RespChannel.take_over(opened[0])
        sub = self._sub = RespChannel.take_over(opened[1], on_push=self._on_push)
        channels, globs = sorted(self._channels), sorted(self._globs)
        for name in channels + globs:
            if name not in self._confirming or self._confirming[name].done():
                self._confirming[name] = asyncio.get_running_loop().create_future()
        if channels:
            sub.send("SUBSCRIBE", *channels)
        if globs:
            sub.send("PSUBSCRIBE", *globs)
        sub.send("SUBSCRIBE", self.keys.mqtt_control)  # kept MQTT sessions taken elsewhere
        # Until either connection drops.
        closed = {sub.closed, self._pub.closed}
        return asyncio.wait(closed, return_when=asyncio.FIRST_COMPLETED)

    def _on_push(self, reply: Reply) -> None:
        """One reply on the subscription connection: a message or a confirmation."""
        if not isinstance(reply, list):
            return
        kind = reply[0]
        if kind == b"message":
            channel, data = reply[1], reply[2]
        elif kind == b"pmessage":
            channel, data = reply[2], reply[3]
        else:
            name = reply[1]
            if kind in (b"subscribe", b"psubscribe") and isinstance(name, bytes):
                future = self._confirming.pop(name, None)
                if future is not None and not future.done():
                    future.set_result(None)
            return
        if not isinstance(data, bytes) or not isinstance(channel, bytes):
            return  # RESP says a message is bulk strings; anything else is not ours
        if channel == self.keys.mqtt_control:
            if kind == b"message":  # (a glob of ``#`` sees it too: once is enough)
                self._session_notice(data)
            return
        if not self._up:
            # Marked down (and this socket closed): the hub may already have
            # delivered newer messages locally; an older one must not follow.
            return
        header, raw, offset = split_envelope(data)
        if header == self._last_header:
            self.duplicates += 1  # the same message through another subscription
            return
        self._last_header = header
        self.received += 1
        sink = self._sink
        assert sink is not None, "broker used before attach()"
        sink.deliver(self.keys.subject_of(channel), raw, offset)

    def _close_links(self) -> None:
        for channel in (self._sub, self._pub):
            if channel is not None:
                # Closing the sockets wakes the connection task, which reconnects;
                # unanswered publishes are answered ``unavailable``.
                channel.close()
        self._sub = self._pub = None

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

    # -- kept MQTT sessions (:mod:`~earlgate.broker.redis_sessions`) ----------

    def _session_client(self) -> Redis:
        if self._redis is None or not self._up:
            raise BrokerError("broker is unreachable")
        return self._redis

    def _session_keys(self, client_id: str) -> tuple[str, str]:
        return self.keys.mqtt_session(client_id)

    def _control_channel(self) -> bytes:
        return self.keys.mqtt_control

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

    async def history(self, subject: str, since: int, epoch: str | None) -> Replay:
        if self._redis is None or not self._up:
            raise BrokerError("broker is unreachable")
        meta, log = self.keys.durable(subject)
        args = [max(since, 0), secrets.token_hex(8), epoch or ""]
        reply = await self._replay_script(keys=[meta, log], args=args)
        return replay_from_reply(since, epoch, reply)

    async def positions(self, pattern: str, limit: int) -> dict[str, Position]:
        if not self.durable:
            return {}
        redis = self._redis
        if redis is None or not self._up:
            raise BrokerError("broker is unreachable")
        return await durable_positions(
            redis, redis.pipeline(transaction=False), self.keys, pattern, limit, self.durable
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
