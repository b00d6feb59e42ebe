"""Helpers of the broker suites: a recording sink, a publish that waits for its answer,
a hub's ``/healthz`` status."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request

import orjson

from earlgate.broker import Broker
from hubproc import HubProcess


class Recorder:
    """A broker sink that keeps what it is given."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, bytes, int | None]] = []

    def deliver(self, subject: str, raw: bytes, offset: int | None) -> None:
        self.delivered.append((subject, raw, offset))

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.delivered) < count:
                await asyncio.sleep(0.005)


async def publish(broker: Broker, subject: str, data: object, retain: bool = False) -> None:
    """Publish and wait for the broker's answer, failing on an error."""
    done: asyncio.Future[tuple[str | None, str]] = asyncio.get_running_loop().create_future()
    raw = orjson.dumps({"type": "publish", "subject": subject, "data": data})
    broker.publish(subject, raw, retain=retain, on_done=lambda c, r: done.set_result((c, r)))
    assert await asyncio.wait_for(done, 5) == (None, "")


def healthz(hub: HubProcess) -> int:
    try:
        with urllib.request.urlopen(f"{hub.http_url}/healthz", timeout=5) as answer:
            status: int = answer.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


async def wait_health(hub: HubProcess, status: int, within: float) -> float:
    """Seconds until ``/healthz`` answers ``status``; fails after ``within``."""
    started = time.monotonic()
    while await asyncio.to_thread(healthz, hub) != status:
        assert time.monotonic() - started < within, f"/healthz not {status} after {within} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started
