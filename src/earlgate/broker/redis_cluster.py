"""The Redis Cluster backplane: sharded pub/sub, so pub/sub traffic scales with shards.

Classic ``PUBLISH`` on a Redis Cluster is broadcast to every node; sharded
pub/sub (``SPUBLISH``/``SSUBSCRIBE``, Redis >= 7) keeps each channel on the
shard that owns its slot. How subjects map to shard channels, keys and
envelopes is in :mod:`earlgate.broker.clusterkeys`: one channel per bucket of
subjects, each message published once, so a hub never gets a copy twice and
the messages of one subject all travel one shard and one connection.

Connections:

- **commands**: a ``RedisCluster`` client. One writer task sends the
  publishes of one event-loop turn as one cluster pipeline (split by node,
  order kept per node, so per subject) and waits for its replies before the
  next: PROTOCOL.md's order per publisher and subject holds.
- **subscriptions**: one plain connection per primary, ``SSUBSCRIBE``d to the
  channels of that shard the hub's local clients need; messages are filtered
  exactly by the hub's subject index.

Any failure (a node unreachable, a ``MOVED`` answer, a slot that moved away)
marks the broker down (``healthy()`` false) and reconnects everything with
backoff from a fresh view of the cluster, re-subscribing what is still needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
from collections import Counter
from collections.abc import Awaitable, Coroutine, Iterable
from typing import Any

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from earlgate.broker.base import BrokerError, Position, PublishDone, Replay
from earlgate.broker.clusterkeys import (
    ClusterUrlError,
    ShardMap,
    envelope,
    parse_cluster_url,
    split_envelope,
)
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
    pattern_glob,
    replay_from_reply,
)
from earlgate.wire.subjects import is_wildcard, matches

logger = logging.getLogger(__name__)


Pending = tuple[str, bytes | None, bool, PublishDone | None]  # raw None: unretain


class TopologyChanged(BrokerError):
    """A shard channel is no longer served by the node we subscribed on."""


class RedisClusterBroker(RedisLifecycle, RedisSessions):
    """Sharded pub/sub on a Redis Cluster; retained values and durable streams on it."""

    name = "redis-cluster"

    def __init__(
        self, url: str, durable: Iterable[str] = (), retention: int = 1000, prefix: str = "earlgate"
    ) -> None:
        try:
            parsed = parse_cluster_url(url)
        except ClusterUrlError as exc:
            raise BrokerError(str(exc)) from None
        super().__init__(url, durable, retention)
        self._startup = parsed.nodes
        self._password = parsed.password
        self.shards = ShardMap(prefix, parsed.levels, parsed.channels)
        self._cluster: RedisCluster | None = None
        self._links: dict[str, Connection] = {}  # primary's name -> subscription connection
        self._route: dict[bytes, str] = {}  # channel -> the primary it is subscribed on
        self._patterns: dict[str, tuple[int, ...]] = {}
        self._refs: Counter[int] = Counter()  # channel number -> patterns needing it
        self._unsubscribing: Counter[bytes] = Counter()  # replies still expected
        self._pending: list[Pending] = []
        self._wake = asyncio.Event()
        self._publish_sha = ""

    # -- lifecycle --------------------------------------------------------

    @property
    def label(self) -> str:
        return f"Redis Cluster {self.url}"

    def _workers(self) -> list[Coroutine[Any, Any, None]]:
        return [self._writer()]

    async def close(self) -> None:
        await super().close()
        self._answer(self._take_pending(), "unavailable", "hub shutting down")

    # -- publishing -------------------------------------------------------

    def publish(
        self, subject: str, raw: bytes, *, retain: bool, on_done: PublishDone | None
    ) -> None:
        self._pending.append((subject, raw, retain, on_done))
        self._wake.set()

    def unretain(self, subject: str) -> None:
        # In the publish queue, so that it reaches the cluster after the publishes before it.
        self._pending.append((subject, None, False, None))
        self._wake.set()

    def _take_pending(self) -> list[Pending]:
        batch, self._pending = self._pending, []
        return batch

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                await self._send(self._take_pending())

    async def _send(self, batch: list[Pending]) -> None:
        cluster = self._cluster
        if cluster is None or not self._up:
            self._answer(batch, "unavailable", "broker is unreachable")
            return
        shards = self.shards
        pipe = cluster.pipeline()
        epoch = secrets.token_hex(8)
        for subject, raw, retain, _ in batch:
            if raw is None:
                pipe.delete(shards.retained(subject))
                continue
            channel = shards.subject_channel(subject)
            if self.durable and self.durable(subject):
                meta, log = shards.durable(subject)
                length = len(subject.encode())
                # The pipeline refuses evalsha() (its keys could span slots); ours share one.
                pipe.execute_command(
                    "EVALSHA",
                    self._publish_sha,
                    3,
                    meta,
                    log,
                    shards.retained(subject),
                    subject,
                    raw,
                    self.retention,
                    epoch,
                    str(length),
                    "2" if retain else "0",
                    channel,
                    "SPUBLISH",
                    subject,
                )
            else:
                if retain:
                    pipe.set(shards.retained(subject), raw)
                pipe.spublish(channel, envelope(subject, raw))
        try:
            await pipe.execute()
        except ERRORS as exc:
            self._lost(f"publish failed: {exc}")
            self._answer(batch, "unavailable", "broker is unreachable")
            return
        self.published += sum(1 for _, raw, _, _ in batch if raw is not None)
        self._answer(batch, None, "")

    @staticmethod
    def _answer(batch: list[Pending], code: str | None, reason: str) -> None:
        for _, _, _, on_done in batch:
            if on_done is not None:
                on_done(code, reason)

    # -- subscriptions ----------------------------------------------------

    def interest(self, pattern: str) -> None:
        indexes = self.shards.indexes(pattern)
        self._patterns[pattern] = indexes
        for index in indexes:
            self._refs[index] += 1
            if self._refs[index] == 1:
                self._command("SSUBSCRIBE", self.shards.channel(index))

    def disinterest(self, pattern: str) -> None:
        for index in self._patterns.pop(pattern, ()):
            self._refs[index] -= 1
            if self._refs[index] <= 0:
                del self._refs[index]
                self._command("SUNSUBSCRIBE", self.shards.channel(index))

    def _command(self, command: str, channel: bytes) -> None:
        if command == "SSUBSCRIBE":
            future = self._confirming.get(channel)
            if future is None or future.done():
                self._confirming[channel] = asyncio.get_running_loop().create_future()
        if not self._up or self._cluster is None:
            return  # (re)subscribed when the connections come back
        node = self._cluster.get_node_from_key(channel.decode())
        link = self._links.get(node.name) if node is not None else None
        if node is None or link is None:
            self._lost(f"no connection to the primary of {channel.decode()}")
            return
        if command == "SSUBSCRIBE":
            self._route[channel] = node.name
        else:
            self._unsubscribing[channel] += 1
            self._route.pop(channel, None)
        task = asyncio.get_running_loop().create_task(self._send_command(link, command, channel))
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    async def _send_command(self, link: Connection, command: str, channel: bytes) -> None:
        try:
            await link.send_command(command, channel, check_health=False)
        except ERRORS as exc:
            self._lost(f"{command} failed: {exc}")

    def _futures(self, pattern: str) -> list[asyncio.Future[None]]:
        channels = (self.shards.channel(i) for i in self._patterns.get(pattern, ()))
        return [f for f in (self._confirming.get(c) for c in channels) if f is not None]

    def is_subscribed(self, pattern: str) -> bool:
        return all(future.done() for future in self._futures(pattern))

    async def wait_subscribed(self, pattern: str) -> None:
        futures = self._futures(pattern)
        if futures:
            await asyncio.wait_for(
                asyncio.gather(*(asyncio.shield(f) for f in futures)), SUBSCRIBE_TIMEOUT
            )

    # -- connections ------------------------------------------------------

    async def _connect(self) -> Awaitable[None]:
        """A fresh view of the cluster, a connection per primary, every channel subscribed."""
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in self._startup],
            password=self._password,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
            protocol=2,
        )
        self._cluster = cluster
        await cluster.initialize()
        info = await cluster.cluster_info()
        if info.get("cluster_state") != "ok":
            raise BrokerError(f"cluster_state is {info.get('cluster_state')}")
        self._publish_sha = await cluster.script_load(PUBLISH_DURABLE)
        loop = asyncio.get_running_loop()
        for node in cluster.get_primaries():
            link = Connection(
                host=node.host,
                port=node.port,
                password=self._password,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_keepalive=True,
                protocol=2,
            )
            await link.connect()  # type: ignore[no-untyped-call]
            self._links[node.name] = link
        self._route.clear()
        self._unsubscribing.clear()
        for index in sorted(self._refs):
            channel = self.shards.channel(index)
            owner = cluster.get_node_from_key(channel.decode())
            if owner is None or owner.name not in self._links:
                raise TopologyChanged(f"no primary serves {channel.decode()}")
            if channel not in self._confirming or self._confirming[channel].done():
                self._confirming[channel] = loop.create_future()
            # One channel per command: a batch would have to share one slot.
            await self._links[owner.name].send_command("SSUBSCRIBE", channel, check_health=False)
            self._route[channel] = owner.name
        # Takeovers of kept MQTT sessions: a classic channel, heard on any one node.
        first = next(iter(self._links.values()), None)
        if first is not None:
            await first.send_command("SUBSCRIBE", self.shards.mqtt_control, check_health=False)
        readers = [
            loop.create_task(self._read(name, link), name=f"redis-cluster-reader-{name}")
            for name, link in self._links.items()
        ]
        return self._read_all(readers)

    async def _read_all(self, readers: list[asyncio.Task[None]]) -> None:
        """Until one subscription connection fails; then stop the others."""
        try:
            done, _ = await asyncio.wait(readers, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in readers:
                task.cancel()
            results = await asyncio.gather(*readers, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result
        raise BrokerError("a subscription connection closed")

    async def _read(self, name: str, link: Connection) -> None:
        sink = self._sink
        assert sink is not None, "broker used before attach()"
        while True:
            reply = await link.read_response(timeout=math.inf, disconnect_on_error=True)
            if not isinstance(reply, list):
                continue
            kind = reply[0]
            if kind == b"smessage":
                if not self._up:
                    continue  # marked down: never after a newer message delivered locally
                subject, raw, offset = split_envelope(reply[2])
                self.received += 1
                sink.deliver(subject, raw, offset)
            elif kind == b"message" and reply[1] == self.shards.mqtt_control:
                self._session_notice(reply[2])
            elif kind == b"ssubscribe":
                future = self._confirming.pop(reply[1], None)
                if future is not None and not future.done():
                    future.set_result(None)
            elif kind == b"sunsubscribe":
                channel = reply[1]
                if self._unsubscribing[channel] > 0:
                    self._unsubscribing[channel] -= 1
                elif self._route.get(channel) == name:
                    # Redis dropped it: the slot moved to another shard.
                    raise TopologyChanged(f"{channel.decode()} moved away from {name}")

    def _close_links(self) -> None:
        for link in self._links.values():
            with contextlib.suppress(*ERRORS):
                if link._writer is not None:
                    link._writer.close()

    async def _disconnect(self) -> None:
        links, self._links = self._links, {}
        for link in links.values():
            with contextlib.suppress(*ERRORS):
                await link.disconnect()
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            with contextlib.suppress(*ERRORS):
                await cluster.aclose()

    # -- retained values and history --------------------------------------

    def _ready_cluster(self) -> RedisCluster:
        if self._cluster is None or not self._up:
            raise BrokerError("broker is unreachable")
        return self._cluster

    def _session_client(self) -> RedisCluster:
        return self._ready_cluster()

    def _session_keys(self, client_id: str) -> tuple[str, str]:
        return self.shards.mqtt_session(client_id)

    def _control_channel(self) -> bytes:
        return self.shards.mqtt_control

    async def retained(self, pattern: str) -> list[bytes]:
        cluster = self._ready_cluster()
        if not is_wildcard(pattern):
            raw = await cluster.get(self.shards.retained(pattern))
            return [] if raw is None else [raw if isinstance(raw, bytes) else raw.encode()]
        match = self.shards.retained_match(pattern_glob(pattern))
        keys = [
            key
            async for key in cluster.scan_iter(match=match, count=1000)
            if matches(pattern, self.shards.retained_subject(key))
        ]
        if not keys:
            return []
        pipe = cluster.pipeline()
        for key in keys:
            pipe.get(key)
        return [bytes(raw) for raw in await pipe.execute() if raw is not None]

    async def history(self, subject: str, since: int, epoch: str | None) -> Replay:
        cluster = self._ready_cluster()
        meta, log = self.shards.durable(subject)
        reply = await cluster.eval(
            REPLAY, 2, meta, log, max(since, 0), secrets.token_hex(8), epoch or ""
        )
        return replay_from_reply(since, epoch, reply)

    async def positions(self, pattern: str, limit: int) -> dict[str, Position]:
        if not self.durable:
            return {}
        redis = self._ready_cluster()
        return await durable_positions(
            redis, redis.pipeline(), self.shards, pattern, limit, self.durable
        )

    def statistics(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "healthy": self._up,
            "levels": self.shards.levels,
            "channels": self.shards.channels,
            "subscribed_channels": len(self._refs),
            "shards": len(self._links),
            "published": self.published,
            "received": self.received,
            "connections": self.reconnects,
        }
