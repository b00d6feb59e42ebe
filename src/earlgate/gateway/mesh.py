"""The arm-probe mesh (thesis 3.1.2): every peer sends a small vibration message
at 4 Hz to every other and the receivers record one-way delays.

In the thesis ten arm-probes form a full mesh of workers, each "sending its
vibration data ... every 250 ms" to all the others, and the one-way delay must
stay under half a second. Here the peers are Python peers, all in one process
or spread over several (each runs the indices it is given; peer *i* dials
every peer below it, retrying until that one is up). The star variant sends
through a gateway instead: each peer has one connection, to the gateway,
whose routes forward every peer's messages to all the others.

Each message carries its sender's clock (``ts``, ms since the epoch), so a
receiver can measure the delay: every message a local peer receives is
handed to :attr:`MeshOptions.on_message`, and
:class:`earlgate.bench.gateway.meshdelays.MeshDelays` records the delays.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from earlgate.gateway.peering import PeerOptions
from earlgate.rtc import DataConnection, DataConnectionError, Peer, PeerError

__all__ = ["MeshOptions", "MeshResult", "message_for", "run_mesh"]

# Wait between attempts to dial a mesh peer that is not there yet.
RETRY_DELAY = 0.5


# A tick due before the end of the sending window may fire a little late; its
# message still counts if it is stamped within this much past the end.
WINDOW_SLACK_S = 0.05


@dataclass
class MeshOptions:
    peering: PeerOptions
    peers: int
    prefix: str = "mesh"
    run: tuple[int, ...] | None = None  # indices this process runs (None: all)
    duration: float = 10.0
    rate: float = 4.0  # messages per second to each destination (thesis: 4 Hz)
    size: int = 100  # characters per message (thesis: 100)
    star: str | None = None  # the gateway's id: send through it instead
    connect_timeout: float = 30.0
    grace: float = 1.0  # after the last send, how long receivers keep counting
    serialization: str = "json"
    # Every message a local peer receives while the mesh counts (e.g. to measure delays).
    on_message: Callable[[dict[str, Any]], None] | None = None
    # Several processes, one mesh: once this process's connections are up, the
    # gate is awaited and returns the wall-clock start (epoch s) all of them share,
    # so that every process counts before any of them sends.
    gate: Callable[[MeshResult], Awaitable[float]] | None = None

    def peer_id(self, index: int) -> str:
        return f"{self.prefix}-{index}"

    @property
    def local(self) -> tuple[int, ...]:
        return self.run if self.run is not None else tuple(range(self.peers))


@dataclass
class MeshResult:
    peers: int
    connections: int  # data connections open when sending started
    expected_connections: int
    setup_s: float
    fanout: int  # receivers per message sent: 1 in the mesh, peers - 1 through a gateway
    sent: int = 0
    received: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "peers": self.peers,
            "connections": self.connections,
            "expected_connections": self.expected_connections,
            "setup_s": round(self.setup_s, 3),
            "sent": self.sent,
            "received": self.received,
            "expected": self.sent * self.fanout,
        }


def message_for(src: str, seq: int, size: int, now_ms: float) -> dict[str, Any]:
    """A vibration reading padded to ``size`` characters of JSON (the thesis's 100)."""
    phase = seq / 4.0
    message: dict[str, Any] = {
        "src": src,
        "seq": seq,
        "ts": now_ms,
        "v": [round(math.sin(phase), 4), round(math.cos(phase), 4), 9.81],
    }
    message["pad"] = ""
    message["pad"] = "~" * max(0, size - len(orjson.dumps(message)))
    return message


class _Member:
    """One local peer of the mesh: its connections, what it sent and received."""

    def __init__(self, mesh: _Mesh, index: int) -> None:
        self.mesh = mesh
        self.index = index
        self.id = mesh.options.peer_id(index)
        self.peer: Peer = mesh.options.peering.make_peer(self.id)
        self.conns: dict[str, DataConnection] = {}
        self.seq = 0

    def adopt(self, conn: DataConnection) -> None:
        old = self.conns.get(conn.peer)
        if old is not None and old.open:
            return  # both sides dialed: keep the first, still receive on both
        self.conns[conn.peer] = conn

    def listen(self, conn: DataConnection) -> None:
        result = self.mesh.result
        on_message = self.mesh.options.on_message

        def on_data(value: Any) -> None:
            if self.mesh.counting and isinstance(value, dict):
                if self.mesh.in_window(value.get("ts")):
                    result.received += 1
                    if on_message is not None:
                        on_message(value)

        conn.on("data", on_data)

    def tick(self) -> None:
        size, now = self.mesh.options.size, time.time() * 1000.0
        if not self.mesh.in_window(now):
            return  # a timer that fired late, past the end: nobody counts it
        for conn in list(self.conns.values()):
            if conn.open:
                try:
                    conn.send(message_for(self.id, self.seq, size, now))
                except DataConnectionError:
                    continue
                self.mesh.result.sent += 1
        self.seq += 1


class _Mesh:
    def __init__(self, options: MeshOptions) -> None:
        self.options = options
        self.members = [_Member(self, index) for index in options.local]
        n, local = options.peers, len(options.local)
        if options.star is not None:
            expected = local
        else:
            # Each local peer has n - 1 connections; a pair of local peers shares one.
            expected = sum(n - 1 for _ in options.local)
        fanout = 1 if options.star is None else n - 1
        self.result = MeshResult(n, 0, expected, 0.0, fanout)
        self.counting = False
        # Epoch ms of the sending window: a reading counts when its ts is in it,
        # whoever sent it (pages of the same mesh count by the same rule).
        self.window = (0.0, 0.0)
        self._tasks: set[asyncio.Task[Any]] = set()

    def in_window(self, ts: object) -> bool:
        start, end = self.window
        return isinstance(ts, int | float) and start <= ts < end

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, member: _Member) -> None:
        async for conn in member.peer.connections():
            self._spawn(self._adopt_incoming(member, conn))

    async def _adopt_incoming(self, member: _Member, conn: DataConnection) -> None:
        member.listen(conn)
        with contextlib.suppress(DataConnectionError, PeerError):
            await conn.wait_open()
            member.adopt(conn)

    async def _dial(self, member: _Member, remote: str, deadline: float) -> None:
        while time.monotonic() < deadline and remote not in member.conns:
            try:
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                    conn = await member.peer.connect(
                        remote, serialization=self.options.serialization
                    )
            except (DataConnectionError, PeerError, TimeoutError):
                await asyncio.sleep(RETRY_DELAY)
                continue
            member.listen(conn)
            member.adopt(conn)
            return

    def _open_count(self) -> int:
        return sum(1 for m in self.members for conn in m.conns.values() if conn.open)

    async def run(self) -> MeshResult:
        options = self.options
        started = time.monotonic()
        try:
            await asyncio.gather(*(member.peer.open() for member in self.members))
            for member in self.members:
                self._spawn(self._accept(member))
            deadline = started + options.connect_timeout
            dials = []
            for member in self.members:
                if options.star is not None:
                    remotes = [options.star]
                else:
                    remotes = [options.peer_id(j) for j in range(member.index)]
                dials += [self._dial(member, remote, deadline) for remote in remotes]
            await asyncio.gather(*dials)
            # Wait for the connections the higher-indexed peers dial to us.
            while self._open_count() < self.result.expected_connections:
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.05)
            self.result.connections = self._open_count()
            self.result.setup_s = time.monotonic() - started
            start = await options.gate(self.result) if options.gate is not None else None
            await self._send_for(options.duration, start)
        finally:
            self.counting = False
            await asyncio.gather(*(m.peer.destroy() for m in self.members))
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        return self.result

    async def _send_for(self, duration: float, start_epoch: float | None) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.options.rate
        start = loop.time()
        if start_epoch is not None:
            start += max(0.0, start_epoch - time.time())
        if start_epoch is not None:  # a start shared with the other members: count by it
            start_ms = start_epoch * 1000.0
            self.window = (start_ms, start_ms + (duration + WINDOW_SLACK_S) * 1000.0)
        else:  # members that start on their own: whatever arrives while counting
            self.window = (float("-inf"), float("inf"))
        self.counting = True  # before anyone's first message, when all share the start
        end = start + duration
        senders = [
            self._sender(member, start + random.uniform(0, period), end, period)
            for member in self.members
        ]
        await asyncio.gather(*senders)
        await asyncio.sleep(self.options.grace)

    async def _sender(self, member: _Member, first: float, end: float, period: float) -> None:
        loop = asyncio.get_running_loop()
        due = first
        while due < end:
            await asyncio.sleep(max(0.0, due - loop.time()))
            member.tick()
            due += period


async def run_mesh(options: MeshOptions) -> MeshResult:
    """Open the local peers, connect the mesh (or star), send for the duration, report."""
    if options.peers < 2:
        raise ValueError("a mesh needs at least 2 peers")
    if options.rate <= 0 or options.duration <= 0:
        raise ValueError("rate and duration must be > 0")
    if any(not 0 <= i < options.peers for i in options.local):
        raise ValueError(f"peer indices must be in 0..{options.peers - 1}")
    return await _Mesh(options).run()
