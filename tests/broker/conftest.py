"""Fixtures of the broker suites: a Redis server per module, a Redis Cluster per
session, brokers of each kind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from brokertools import Recorder
from earlgate.broker import Broker, make_broker
from redisclusterproc import RedisClusterNodes
from redisproc import RedisServer


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterNodes]:
    """Three masters on free loopback ports, shared by the session's tests."""
    cluster = RedisClusterNodes().start()
    yield cluster
    cluster.close()


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
async def broker(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[Broker, Recorder]]:
    """A started broker with ``durable/#`` durable and a retention of 5 messages."""
    spec = "memory"
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        server.cli("FLUSHALL")
        spec = server.url
    elif request.param == "redis-cluster":
        cluster: RedisClusterNodes = request.getfixturevalue("redis_cluster")
        cluster.flushall()
        spec = cluster.url
    instance = make_broker(spec, durable=["durable/#"], retention=5)
    sink = Recorder()
    instance.attach(sink)
    await instance.start()
    assert instance.healthy()
    yield instance, sink
    await instance.close()
