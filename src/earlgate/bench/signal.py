"""``earlgate bench signal``: relay rate and memory per peer, ours vs the Node PeerServer.

Two measurements per server, each started fresh with the same settings
(:mod:`earlgate.testing.signalprocs`), the server pinned to one core and the
load generator (picows clients) to the others:

- **relay**: ``pairs`` pairs of peers each keep ``window`` signaling messages
  (a CANDIDATE-sized payload) in flight: every message a peer receives is
  answered to its sender at once, for ``duration`` seconds. Reported: messages
  relayed per second, the server's CPU, and messages per server CPU-second
  (the figure that holds even when the load generator is the bottleneck);
- **held peers**: ``peers`` peers connect and get their OPEN; the server's
  resident memory grows by so much per peer.

The issue's goal: at least twice the Node PeerServer's relay rate at no more
memory per peer.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from earlgate.bench.driver import Provenance, markdown_table, measure_each, pin_load_here
from earlgate.bench.results import write_run
from earlgate.testing.signalprocs import (
    ServerProcess,
    SignalSettings,
    start_earlgate_signal,
    start_node_peer_server,
)

__all__ = ["SERVERS", "SignalBenchRow", "markdown", "run_signal_bench"]

SERVERS = ("earlgate", "earlgate-uvloop", "node-peer-server")
# A trickled ICE candidate as peerjs sends it: the typical signaling message.
PAYLOAD = {
    "candidate": {
        "candidate": "candidate:842163049 1 udp 1677729535 192.0.2.17 61357 typ srflx "
        "raddr 10.0.0.5 rport 61357 generation 0 ufrag sA7v network-cost 999",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "usernameFragment": "sA7v",
    },
    "type": "data",
    "connectionId": "dc_bench0000",
}
# Bench settings: timeouts long enough that nothing expires or is dropped.
SETTINGS = SignalSettings(alive_timeout=3600.0, expire_timeout=60.0, concurrent_limit=1_000_000)


@dataclass
class SignalBenchRow:
    server: str
    pairs: int
    window: int
    duration: float
    relayed: int
    relayed_per_s: float
    server_cpu_percent: float
    relayed_per_cpu_s: float
    peers: int
    rss_idle_mib: float
    rss_kib_per_peer: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _BenchPeer(WSListener):
    """Answers every relayed message to its sender while ``running``."""

    def __init__(self, partner: str) -> None:
        super().__init__()
        self.opened = asyncio.get_running_loop().create_future()
        self.received = 0
        self.running = False
        self.frame = json.dumps({"type": "CANDIDATE", "dst": partner, "payload": PAYLOAD}).encode()
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not WSMsgType.TEXT:
            return
        if not self.opened.done():
            self.opened.set_result(frame.get_payload_as_bytes())
            return
        self.received += 1
        if self.running:
            transport.send(WSMsgType.TEXT, self.frame)

    def send(self) -> None:
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT, self.frame)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.send_close()
            self.transport.disconnect()


async def _connect(
    server: ServerProcess, ids: list[tuple[str, str]], concurrency: int = 200
) -> list[_BenchPeer]:
    limiter = asyncio.Semaphore(concurrency)

    async def one(peer_id: str, partner: str) -> _BenchPeer:
        async with limiter:
            url = server.ws_url(peer_id, "bench")
            _, connected = await ws_connect(
                lambda: _BenchPeer(partner), url, websocket_handshake_timeout=30
            )
            listener = cast(_BenchPeer, connected)
            opened = await asyncio.wait_for(listener.opened, 30)
            if b'"OPEN"' not in opened:
                raise RuntimeError(f"{server.name} refused {peer_id}: {opened!r}")
            return listener

    return list(await asyncio.gather(*(one(i, p) for i, p in ids)))


async def _relay(
    server: ServerProcess, pairs: int, window: int, duration: float
) -> tuple[int, float]:
    ids = [(f"r{n}a", f"r{n}b") for n in range(pairs)]
    peers = await _connect(server, [(a, b) for a, b in ids] + [(b, a) for a, b in ids])
    senders = peers[:pairs]
    for peer in peers:
        peer.running = True
    cpu0 = server.cpu_seconds()
    before = sum(p.received for p in peers)
    started = time.perf_counter()
    for peer in senders:
        for _ in range(window):
            peer.send()
    await asyncio.sleep(duration)
    relayed = sum(p.received for p in peers) - before
    elapsed = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu0
    for peer in peers:
        peer.running = False
    await asyncio.sleep(0.2)
    for peer in peers:
        peer.close()
    return relayed, cpu / elapsed if elapsed else 0.0


async def _hold(server: ServerProcess, count: int) -> tuple[int, int]:
    await asyncio.sleep(0.5)
    idle = server.rss()
    peers = await _connect(server, [(f"h{n}", "nobody") for n in range(count)])
    await asyncio.sleep(1.0)
    held = server.rss()
    for peer in peers:
        peer.close()
    await asyncio.sleep(0.2)
    return idle, held


def measure(name: str, pairs: int, window: int, duration: float, peers: int) -> SignalBenchRow:
    """Both measurements against a fresh ``name`` server each."""
    server_cpus, _ = pin_load_here()

    def start() -> ServerProcess:
        if name == "node-peer-server":
            return start_node_peer_server(SETTINGS, cpus=server_cpus)
        extra = ["--uvloop"] if name == "earlgate-uvloop" else ["--no-uvloop"]
        return start_earlgate_signal(SETTINGS, *extra, "--log-level", "WARNING", cpus=server_cpus)

    server = start()
    try:
        relayed, cpu_share = asyncio.run(_relay(server, pairs, window, duration))
    finally:
        server.stop()
    server = start()
    try:
        idle, held = asyncio.run(_hold(server, peers))
    finally:
        server.stop()
    rate = relayed / duration
    return SignalBenchRow(
        server=name,
        pairs=pairs,
        window=window,
        duration=duration,
        relayed=relayed,
        relayed_per_s=round(rate, 1),
        server_cpu_percent=round(100 * cpu_share, 1),
        relayed_per_cpu_s=round(rate / cpu_share, 1) if cpu_share > 0 else 0.0,
        peers=peers,
        rss_idle_mib=round(idle / 2**20, 1),
        rss_kib_per_peer=round((held - idle) / 1024 / peers, 2),
    )


def markdown(rows: list[SignalBenchRow], command: str, machine: str, when: str) -> str:
    head = ["server", "pairs × window", "relayed msg/s", "server CPU %", "msg per CPU-s"]
    head += ["idle RSS MiB", "peers held", "RSS KiB/peer"]
    cells = [
        [
            r.server,
            f"{r.pairs} × {r.window}",
            f"{r.relayed_per_s:,.0f}",
            f"{r.server_cpu_percent:.0f}",
            f"{r.relayed_per_cpu_s:,.0f}",
            f"{r.rss_idle_mib:.1f}",
            str(r.peers),
            f"{r.rss_kib_per_peer:.1f}",
        ]
        for r in rows
    ]
    lines = [Provenance(machine, when, command).line(), "", *markdown_table(head, cells)]
    node = next((r for r in rows if r.server == "node-peer-server"), None)
    if node is not None and node.relayed_per_cpu_s > 0:
        lines.append("")
        for r in rows:
            if r is not node:
                ratio = r.relayed_per_cpu_s / node.relayed_per_cpu_s
                lines.append(
                    f"{r.server}: {ratio:.2f}× the Node PeerServer's messages per CPU-second, "
                    f"{r.rss_kib_per_peer:.1f} vs {node.rss_kib_per_peer:.1f} KiB per peer."
                )
    return "\n".join(lines) + "\n"


def run_signal_bench(
    servers: list[str],
    pairs: int,
    window: int,
    duration: float,
    peers: int,
    out: Path,
    command: str,
    update: bool,
) -> list[SignalBenchRow]:
    out.mkdir(parents=True, exist_ok=True)

    def one(name: str) -> SignalBenchRow:
        print(f"{name}: {pairs} pairs × {window} in flight for {duration:g} s, {peers} peers held")
        return measure(name, pairs, window, duration, peers)

    rows = measure_each(servers, one, done=lambda row: print(json.dumps(row.as_dict())))
    provenance = Provenance.now(command)
    raw = {**provenance.raw(), "command": command, "rows": [r.as_dict() for r in rows]}
    report = markdown(rows, command, provenance.machine, provenance.when)
    print(report)
    write_run(out, "signal", "Signaling benchmark", raw, report, None, update)
    return rows
