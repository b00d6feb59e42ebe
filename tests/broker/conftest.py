"""Fixtures of the broker suites: a Redis server per module, brokers of each kind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from brokertools import Recorder
from earlgate.broker import Broker, make_broker
from redisproc import RedisServer


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture(params=["memory", "redis"])
async def broker(
    request: pytest.FixtureRequest, redis_server: RedisServer
) -> AsyncIterator[tuple[Broker, Recorder]]:
    """A started broker with ``durable/#`` durable and a retention of 5 messages."""
    spec = "memory" if request.param == "memory" else redis_server.url
    if request.param == "redis":
        redis_server.cli("FLUSHALL")
    instance = make_broker(spec, durable=["durable/#"], retention=5)
    sink = Recorder()
    instance.attach(sink)
    await instance.start()
    yield instance, sink
    await instance.close()
