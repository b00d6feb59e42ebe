"""The MQTT load generator: the thesis's ramp load, with MQTT publishers.

Each publisher has its own topic (``subject00001``, as in
:mod:`earlgate.bench.loadgen`) and MQTT connection, and one subscriber on that
topic over MQTT, the hub's WebSocket protocol, or MQTT over WebSocket. Everyone
connects and subscribes first (waiting for each CONNACK and SUBACK), a warm-up
round proves every subscriber gets its publisher's messages, then each
publisher sends every ``period`` seconds at its own phase
(:class:`~earlgate.bench.mqtt_wire.PhaseSchedule`) for ``duration`` seconds, at
QoS 0 or 1; the subscribers acknowledge QoS 1 deliveries. After the last send
the generator waits up to ``drain`` seconds for what is still on its way, then
disconnects everyone: what has not arrived by then is lost.

Packets are our codec's (:mod:`earlgate.mqtt.codec`): each PUBLISH is encoded
once per publisher and stamped per message
(:class:`~earlgate.bench.mqtt_wire.PublishTemplate`); every packet received is
decoded by a :class:`~earlgate.mqtt.codec.Decoder`. Connections go to loopback
only, from one asyncio loop (the bench pins it to the load generator's core).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from earlgate.bench.loadgen import Tally, latency_summary, subject_name
from earlgate.bench.mqtt_links import (
    SUBSCRIBER_KINDS,
    VERSION,
    Link,
    Receiver,
    TcpLink,
    close_all,
    connect_publisher,
    connect_subscriber,
    open_all,
)
from earlgate.bench.mqtt_wire import (
    LATE_AFTER,
    WARMUP_PAYLOAD,
    PhaseSchedule,
    PublishTemplate,
    format_stamp,
)
from earlgate.metrics.histogram import Histogram
from earlgate.mqtt import packets as p
from earlgate.mqtt.codec import encode

__all__ = ["MqttLoadResult", "run_mqtt_load"]

DRAIN_POLL = 0.05  # seconds between looks at what is still missing after the last send
# The publishers' loop sleeps at least this long: sends due within one tick leave together
# (at 36,000 messages/s that is ~36 per wake-up, not one epoll_wait per message).
TICK = 0.001


@dataclass
class MqttLoadResult:
    """What one run sent and saw; ``per_second`` holds a sample per second of it."""

    publishers: int
    period: float
    duration: float
    sent: int
    received: int
    acked: int  # PUBACKs the publishers got (QoS 1)
    errors: int  # connections the server closed, payloads not ours, error frames
    sent_late: int  # sent more than LATE_AFTER behind their due time (the generator lagged)
    connect_seconds: float
    loadgen_cpu_percent: float
    latency_ms: dict[str, float]
    per_second: list[dict[str, Any]]
    latency: Histogram = field(default_factory=Histogram, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "latency"}


async def run_mqtt_load(
    url: str,
    publishers: int,
    period: float,
    duration: float,
    *,
    subscriber_url: str,
    subscriber_kind: str = "mqtt",
    qos: int = 0,
    size: int = 50,
    first_index: int = 1,
    connect_concurrency: int = 200,
    warmup_timeout: float = 30.0,
    drain: float = 3.0,
    source_ips: list[str] | None = None,
    on_second: Callable[[dict[str, Any]], None] | None = None,
) -> MqttLoadResult:
    """Publishers on the MQTT server at ``url``, subscribers at ``subscriber_url``.

    Raises:
        MqttLoadError: a connection, CONNACK or subscription was refused.
        TimeoutError: a handshake or the warm-up did not complete in time.
    """
    if subscriber_kind not in SUBSCRIBER_KINDS:
        raise ValueError(f"unknown subscriber kind {subscriber_kind!r}")
    loop = asyncio.get_running_loop()
    tally = Tally()
    warm_count = 0
    all_warm = asyncio.Event()

    def warmed() -> None:
        nonlocal warm_count
        warm_count += 1
        if warm_count >= publishers:
            all_warm.set()

    limiter = asyncio.Semaphore(connect_concurrency)
    sources = itertools.cycle(source_ips or [None])
    topics = [subject_name(first_index + i) for i in range(publishers)]

    async def subscriber(i: int) -> Link:
        async with limiter:
            receiver = Receiver(tally, warmed)
            return await connect_subscriber(
                subscriber_kind, subscriber_url, topics[i], qos, f"eg-sub-{first_index + i}",
                receiver, next(sources),
            )  # fmt: skip

    async def publisher(i: int) -> Link:
        async with limiter:
            return await connect_publisher(
                url, f"eg-pub-{first_index + i}", tally, None, next(sources)
            )

    connect_started = time.perf_counter()
    subs = await open_all([subscriber(i) for i in range(publishers)])
    try:
        pubs = await open_all([publisher(i) for i in range(publishers)])
    except BaseException:
        await close_all(subs)
        raise
    links = [*pubs, *subs]
    connect_seconds = time.perf_counter() - connect_started
    tcp = [link for link in pubs if isinstance(link, TcpLink)]
    try:
        warmups = [encode(p.Publish(topic, WARMUP_PAYLOAD), VERSION) for topic in topics]
        deadline = loop.time() + warmup_timeout
        while not all_warm.is_set():
            if loop.time() > deadline:
                raise TimeoutError(f"only {warm_count} of {publishers} subscribers get messages")
            for link, packet in zip(tcp, warmups, strict=True):
                link.write(packet)
            try:
                await asyncio.wait_for(all_warm.wait(), 0.5)
            except TimeoutError:
                pass
        result = await _publish(tcp, topics, tally, qos, size, period, duration, drain, on_second)
        result.connect_seconds = round(connect_seconds, 3)
        return result
    finally:
        await close_all(links)


async def _publish(
    pubs: list[TcpLink],
    topics: list[str],
    tally: Tally,
    qos: int,
    size: int,
    period: float,
    duration: float,
    drain: float,
    on_second: Callable[[dict[str, Any]], None] | None,
) -> MqttLoadResult:
    """Send on the phase schedule, sample every second, wait for stragglers."""
    loop = asyncio.get_running_loop()
    count = len(pubs)
    templates = [PublishTemplate(topic, qos, size, VERSION) for topic in topics]
    ids = [0] * count
    start = loop.time() + 0.05
    schedule = PhaseSchedule.for_duration(count, period, start, duration)
    sent = late = 0
    per_second: list[dict[str, Any]] = []
    tally.measuring = True
    cpu_start, wall_start = time.process_time(), time.perf_counter()

    def acked() -> int:
        return sum(link.peer.acked for link in pubs)

    last = {"sent": 0, "received": 0}

    def take_sample(partial: bool = False) -> None:
        window, tally.window = tally.window, Histogram()
        sample: dict[str, Any] = {
            "second": len(per_second) + 1,
            "sent": sent - last["sent"],
            "received": tally.received - last["received"],
            "expected": count / period,
            "latency_ms": window.summary_ms(),
        }
        if partial:
            sample["partial"] = True
        last.update(sent=sent, received=tally.received)
        per_second.append(sample)
        if on_second is not None:
            on_second(sample)

    async def every_second() -> None:
        while True:
            await asyncio.sleep(max(start + len(per_second) + 1 - loop.time(), 0))
            take_sample()

    sampler = asyncio.create_task(every_second())
    try:
        while sent < schedule.total:
            now = loop.time()
            due = schedule.due(now)
            late += max(schedule.due(now - LATE_AFTER) - sent, 0)  # due long before now
            while sent < due:
                index = sent % count
                stamp = format_stamp(time.time() * 1000.0)
                if qos:
                    ids[index] = ids[index] % 0xFFFF + 1
                pubs[index].write(templates[index].packet(stamp, ids[index]))
                sent += 1
            if sent < schedule.total:
                await asyncio.sleep(max(schedule.time_of(sent) - loop.time(), TICK))
        # What is still on its way (and, at QoS 1, its PUBACK) gets ``drain`` seconds.
        for _ in range(math.ceil(drain / DRAIN_POLL)):
            if tally.received >= sent and (not qos or acked() >= sent):
                break
            await asyncio.sleep(DRAIN_POLL)
    finally:
        sampler.cancel()
    take_sample(partial=True)  # the drain's arrivals, less than a second
    tally.measuring = False
    cpu = time.process_time() - cpu_start
    wall = time.perf_counter() - wall_start
    return MqttLoadResult(
        publishers=count,
        period=period,
        duration=schedule.rounds * period,
        sent=sent,
        received=tally.received,
        acked=acked(),
        errors=tally.errors,
        sent_late=late,
        connect_seconds=0.0,
        loadgen_cpu_percent=round(100.0 * cpu / wall, 1) if wall > 0 else 0.0,
        latency_ms=latency_summary(tally.latency, tally.latency_sq_ms),
        per_second=per_second,
        latency=tally.latency,
    )
