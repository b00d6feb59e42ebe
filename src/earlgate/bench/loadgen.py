"""The load generator: the thesis's ``load.js``, cheaper per message than the hub.

Each publisher has its own subject and connection and one (or K) subscriber
connections (thesis section 2.5.1.1). Everyone connects and subscribes first;
a warm-up round checks that every subscriber receives its publisher's
messages (this works against servers that send no acks, such as the thesis's
Node server); then publishers send every ``period`` seconds, paced by an
arrival process (:mod:`earlgate.bench.arrival`: ``slots``, ``spread`` or
``poisson``) and timed by :class:`~earlgate.bench.pacing.Pacer`, which also
records how late the generator itself sent. Subscribers compute response time =
receive time - ``published``. The generator also measures its own CPU so a
report can show it was not the bottleneck (thesis Figure 2.21).

With ``echo_back`` (the thesis's future work, section 5.2) every subscriber
publishes each message it receives back on ``<subject>/echo``, keeping the
original ``published`` stamp; publishers subscribe to their echo subject and
measure the round trip. The hub then carries twice the publishes and
``1 + K`` times the deliveries of the one-way test.

It uses picows (the cheapest client stack we measured) and pre-encoded frames:
a publish costs one float formatting and one write.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from earlgate.bench.arrival import check_arrival, firings
from earlgate.bench.pacing import LATE_AFTER_S, Pacer
from earlgate.metrics.histogram import Histogram

_HISTOGRAM_KEYS = tuple(
    f"{name}_{part}" for name in ("latency", "lateness") for part in ("counts", "sum_ns", "max_ns")
)


def subject_name(index: int, width: int = 5) -> str:
    """``subject00001``: the thesis pads subjects so every message has the same size."""
    return f"subject{index:0{width}d}"


def frame_prefix(subject: str, size: int, fmt: str = "thesis") -> tuple[bytes, bytes]:
    """Head and tail of a frame (the timestamp goes between) padded to about ``size`` bytes.

    ``thesis``: ``{"type":"publisher","subject":...,"published":...}`` (section 2.5.1.1);
    ``activity``: a publish whose ``data`` is an Activity Streams sensor post.
    """
    head = b'{"type":"publisher","subject":"' + subject.encode() + b'","published":'
    if fmt == "activity":
        data = {
            "actor": {"objectType": "sensor", "id": subject, "displayName": "Load Sensor"},
            "verb": "post",
            "object": {"value": 25, "unit": "C"},
        }
        tail = b',"data":' + orjson.dumps(data) + b"}"
        return b'{"type":"publish","subject":"' + subject.encode() + b'","published":', tail
    stamp_len = len(repr(time.time() * 1000.0))
    pad = size - len(head) - stamp_len - 1
    if pad > len(',"p":""'):
        return head, b',"p":"' + b"x" * (pad - len(',"p":""')) + b'"}'
    return head, b"}"


@dataclass
class Tally:
    """What the subscribers saw, per second and in total."""

    received: int = 0
    warmups: int = 0
    errors: int = 0
    latency: Histogram = field(default_factory=Histogram)
    latency_sq_ms: float = 0.0
    window: Histogram = field(default_factory=Histogram)
    measuring: bool = False


def echo_subject(subject: str) -> str:
    """Where a subscriber in an echo-back test sends what it received."""
    return subject + "/echo"


class _Subscriber(WSListener):
    """Counts what arrives; with ``echo_head`` publishes each message straight back."""

    def __init__(
        self, tally: Tally, on_warmup: Callable[[], None], echo_head: bytes | None = None
    ) -> None:
        super().__init__()
        self.tally = tally
        self.on_warmup = on_warmup
        self.warm = False
        self.echo_head = echo_head
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not WSMsgType.TEXT and frame.msg_type is not WSMsgType.BINARY:
            return
        now_ms = time.time() * 1000.0
        try:
            message = orjson.loads(frame.get_payload_as_memoryview())
            published = message["published"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.tally.errors += 1
            return
        warmup = bool(message.get("w"))
        if self.echo_head is not None and self.transport is not None:
            stamp = repr(published).encode()
            self.transport.send(
                WSMsgType.TEXT, self.echo_head + stamp + (b',"w":1}' if warmup else b"}")
            )
        if warmup:
            if not self.warm:
                self.warm = True
                self.on_warmup()
            return
        tally = self.tally
        if not tally.measuring:
            return
        latency_ms = max(now_ms - published, 0.0)
        ns = int(latency_ms * 1e6)
        tally.received += 1
        tally.latency.record(ns)
        tally.window.record(ns)
        tally.latency_sq_ms += latency_ms * latency_ms


class _Quiet(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        pass


@dataclass
class LoadResult:
    publishers: int
    subscribers: int
    period: float
    duration: float
    sent: int
    received: int
    expected_per_s: float
    connect_seconds: float
    loadgen_cpu_percent: float
    latency_ms: dict[str, float]
    per_second: list[dict[str, Any]]
    latency: Histogram = field(default_factory=Histogram, repr=False)
    latency_sq_ms: float = 0.0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    echoed: int = 0
    echo_ms: dict[str, float] = field(default_factory=dict)
    # How the publishers were paced (results from before this was recorded used slots).
    arrival: str = "slots"
    seed: int = 0
    # The generator's own timing: sends more than ``late_after_ms`` behind their due time.
    sent_late: int = 0
    late_after_ms: float = LATE_AFTER_S * 1000.0
    lateness_ms: dict[str, float] = field(default_factory=dict)
    wakeups: int = 0  # timer wake-ups that sent: sent / wakeups messages left together
    lateness: Histogram = field(default_factory=Histogram, repr=False)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("latency", "lateness")}
        for name, histogram in (("latency", self.latency), ("lateness", self.lateness)):
            data[f"{name}_counts"] = histogram.counts
            data[f"{name}_sum_ns"] = histogram.sum_ns
            data[f"{name}_max_ns"] = histogram.max_ns
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadResult:
        result = cls(**{k: v for k, v in data.items() if k not in _HISTOGRAM_KEYS})
        for name, histogram in (("latency", result.latency), ("lateness", result.lateness)):
            if f"{name}_counts" in data:
                histogram.counts = list(data[f"{name}_counts"])
                histogram.total = sum(histogram.counts)
                histogram.sum_ns = data[f"{name}_sum_ns"]
                histogram.max_ns = data[f"{name}_max_ns"]
        return result


def latency_summary(histogram: Histogram, sum_sq_ms: float) -> dict[str, float]:
    """Mean, sd, p50, p99 and max of response times in milliseconds."""
    n = histogram.total
    mean = histogram.mean() / 1e6
    variance = max(sum_sq_ms / n - mean * mean, 0.0) if n else 0.0
    summary = histogram.summary_ms()
    summary["sd"] = round(math.sqrt(variance), 4)
    return summary


async def run_load(
    url: str,
    publishers: int,
    period: float,
    duration: float,
    *,
    subscribers_per_publisher: int = 1,
    size: int = 70,
    first_index: int = 1,
    connect_concurrency: int = 200,
    on_second: Callable[[dict[str, Any]], None] | None = None,
    warmup_timeout: float = 30.0,
    fmt: str = "thesis",
    source_ips: list[str] | None = None,
    ready: Callable[[], Awaitable[None]] | None = None,
    echo_back: bool = False,
    arrival: str = "slots",
    seed: int = 0,
    phase: float = 0.0,
    late_after: float = LATE_AFTER_S,
) -> LoadResult:
    """Connect, warm up, publish for ``duration`` seconds, and report what was seen.

    ``arrival``, ``seed`` and ``phase`` pace the publishers
    (:func:`earlgate.bench.arrival.firings`; the Poisson draws also depend on
    ``first_index``, so load processes draw differently). The default is the
    original ``slots``, so a bench whose report does not name its arrival keeps
    measuring what it always did; the commands that report it default to
    ``spread`` (:data:`~earlgate.bench.arrival.DEFAULT_ARRIVAL`). A send more than
    ``late_after`` seconds behind its due time counts in ``sent_late``.
    """
    check_arrival(arrival)
    loop = asyncio.get_running_loop()
    tally = Tally()
    echoes = Tally()
    warm_count = 0
    all_warm = asyncio.Event()
    expected_subscribers = publishers * subscribers_per_publisher
    # With echo-back, each publisher must also see its first echo before we start.
    expected_warm = expected_subscribers + (publishers if echo_back else 0)

    def warmed() -> None:
        nonlocal warm_count
        warm_count += 1
        if warm_count >= expected_warm:
            all_warm.set()

    limiter = asyncio.Semaphore(connect_concurrency)
    sources = itertools.cycle(source_ips or [None])
    tls: dict[str, Any] = {}
    if url.startswith("wss:"):
        # Load goes to loopback only, to a hub with a throw-away certificate.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        tls["ssl_context"] = context

    async def open_connection(factory: Callable[[], WSListener]) -> tuple[WSTransport, Any]:
        # Several loopback source addresses pass the ~28k ephemeral ports of one address.
        source = next(sources)
        extra: dict[str, Any] = {"local_addr": (source, 0)} if source else {}
        extra.update(tls)
        async with limiter:
            return await ws_connect(factory, url, websocket_handshake_timeout=30, **extra)

    connect_started = time.perf_counter()
    subjects = [subject_name(first_index + i) for i in range(publishers)]

    def subscriber(index: int) -> Callable[[], WSListener]:
        subject = subjects[index // subscribers_per_publisher]
        head = (
            b'{"type":"publisher","subject":"' + echo_subject(subject).encode() + b'","published":'
        )
        return lambda: _Subscriber(tally, warmed, head if echo_back else None)

    sub_conns = await asyncio.gather(
        *(open_connection(subscriber(index)) for index in range(expected_subscribers))
    )
    for index, (transport, _) in enumerate(sub_conns):
        subject = subjects[index // subscribers_per_publisher]
        transport.send(
            WSMsgType.TEXT, orjson.dumps({"type": "subscribe", "subject": subject, "id": index})
        )
    publisher: Callable[[], WSListener] = (
        (lambda: _Subscriber(echoes, warmed)) if echo_back else _Quiet
    )
    pub_conns = await asyncio.gather(*(open_connection(publisher) for _ in range(publishers)))
    if echo_back:
        for (transport, _), subject in zip(pub_conns, subjects, strict=True):
            transport.send(
                WSMsgType.TEXT,
                orjson.dumps({"type": "subscribe", "subject": echo_subject(subject)}),
            )
    connect_seconds = time.perf_counter() - connect_started
    frames = [frame_prefix(subject, size, fmt) for subject in subjects]

    # Warm-up: publish a marker until every subscriber has seen one.
    deadline = loop.time() + warmup_timeout
    while not all_warm.is_set():
        if loop.time() > deadline:
            raise TimeoutError(
                f"only {warm_count} of {expected_warm} receivers get messages"
                + (" (subscribers and echo-receiving publishers)" if echo_back else "")
            )
        for (transport, _), subject in zip(pub_conns, subjects, strict=True):
            transport.send(
                WSMsgType.TEXT,
                orjson.dumps({"type": "publisher", "subject": subject, "published": 0, "w": 1}),
            )
        try:
            await asyncio.wait_for(all_warm.wait(), 0.5)
        except TimeoutError:
            pass

    if ready is not None:  # e.g. wait until every load process is warm
        await ready()

    # Publish: each firing of the arrival plan sends its publishers' frames,
    # stamped with one reading of the clock.
    per_second: list[dict[str, Any]] = []
    transports = [transport for transport, _ in pub_conns]
    start = loop.time() + 0.05
    stop_at = start + duration
    tally.measuring = echoes.measuring = True
    cpu_start = time.process_time()
    wall_start = time.perf_counter()

    def send(members: tuple[int, ...]) -> None:
        now_ms = repr(time.time() * 1000.0).encode()
        for index in members:
            head, tail = frames[index]
            transports[index].send(WSMsgType.TEXT, head + now_ms + tail)

    plan = firings(arrival, publishers, period, start, seed=seed, stream=first_index, phase=phase)
    pacer = Pacer(loop, plan, send, stop_at, late_after=late_after)
    pacer.start()

    last_sent = last_received = last_echoed = last_late = 0
    second = 0
    while loop.time() < stop_at + 0.5:
        await asyncio.sleep(max(start + second + 1 - loop.time(), 0))
        second += 1
        window, tally.window = tally.window, Histogram()
        sent = pacer.sent
        sample = {
            "second": second,
            "sent": sent - last_sent,
            "received": tally.received - last_received,
            "expected": publishers * subscribers_per_publisher / period,
            "latency_ms": window.summary_ms(),
            "late": pacer.late - last_late,
        }
        if echo_back:
            sample["echoed"] = echoes.received - last_echoed
            last_echoed = echoes.received
            echoes.window = Histogram()
        last_sent, last_received, last_late = sent, tally.received, pacer.late
        per_second.append(sample)
        if on_second is not None:
            on_second(sample)
    tally.measuring = echoes.measuring = False
    cpu = time.process_time() - cpu_start
    wall = time.perf_counter() - wall_start

    everyone = [transport for transport, _ in [*sub_conns, *pub_conns]]
    for transport in everyone:
        transport.send_close()
        transport.disconnect()
    # Let the transports finish closing (a TLS shutdown takes a round trip).
    await asyncio.wait_for(
        asyncio.gather(*(t.wait_disconnected() for t in everyone), return_exceptions=True),
        timeout=10,
    )

    return LoadResult(
        publishers=publishers,
        subscribers=expected_subscribers,
        period=period,
        duration=duration,
        sent=pacer.sent,
        received=tally.received,
        expected_per_s=publishers / period,
        connect_seconds=round(connect_seconds, 3),
        loadgen_cpu_percent=round(100.0 * cpu / wall, 1) if wall > 0 else 0.0,
        latency_ms=latency_summary(tally.latency, tally.latency_sq_ms),
        per_second=per_second,
        latency=tally.latency,
        latency_sq_ms=tally.latency_sq_ms,
        cpu_seconds=cpu,
        wall_seconds=wall,
        echoed=echoes.received,
        echo_ms=latency_summary(echoes.latency, echoes.latency_sq_ms) if echo_back else {},
        arrival=arrival,
        seed=seed,
        sent_late=pacer.late,
        late_after_ms=late_after * 1000.0,
        lateness_ms=pacer.lateness.summary_ms(),
        wakeups=pacer.wakeups,
        lateness=pacer.lateness,
    )
