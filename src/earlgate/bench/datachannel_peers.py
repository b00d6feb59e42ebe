"""The two peer processes of ``earlgate bench datachannel``: a sender and a receiver.

Each runs one event loop (asyncio or uvloop), is an :class:`earlgate.rtc.Peer`
with relay-only ICE through the loopback TURN relay, and reports to the
benchmark as JSON lines on stdout (``ready``, ``start``, ``sent``, ``result``,
``done``, ``error``). The sender opens a reliable ``control`` connection
first, then one data connection per case; over ``control`` it starts each
case, and stops it with the number of messages sent, to which the receiver
answers its counts.

Back-pressure is the channel's own: the sender fills its buffer up to
:data:`HIGH_WATER` bytes (``bufferedAmount``), waits for
``bufferedamountlow`` at :data:`LOW_WATER`, and at the end of a case waits
until it drained (``wait_drained``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import traceback
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import psutil
from aiortc import RTCIceServer

from earlgate.children import cpu_seconds
from earlgate.rtc import DataConnection, Peer, PeerError

__all__ = [
    "CONNECT_TIMEOUT",
    "HIGH_WATER",
    "LOW_WATER",
    "SETTLE_LIMIT",
    "Case",
    "DataChannelBenchError",
    "worker_main",
]

# Back-pressure: fill the channel's buffer to HIGH_WATER, resume below LOW_WATER.
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
CONNECT_TIMEOUT = 30.0  # ICE through the relay and DTLS, per connection
DRAIN_TIMEOUT = 10.0  # the sender's buffer emptying after the last send
SETTLE_QUIET = 1.0  # the receiver's "no more messages" for unreliable channels
SETTLE_LIMIT = 15.0
REPLY_TIMEOUT = SETTLE_LIMIT + 20.0
CONTROL_LABEL = "control"


class DataChannelBenchError(Exception):
    """A peer process failed or did not finish; the message carries its last words."""


@dataclass(frozen=True)
class Case:
    """One measured combination."""

    loop: str
    serialization: str
    mode: str
    size: int

    @property
    def label(self) -> str:
        """The data connection's label, unique within one loop's run."""
        return f"{self.serialization}-{self.mode}-{self.size}"

    @property
    def name(self) -> str:
        return f"{self.loop}/{self.label}"

    def channel_options(self) -> dict[str, Any]:
        """``Peer.connect`` options: ordered and fully reliable, or neither.

        Unreliable is unordered with no retransmission (``maxRetransmits: 0``);
        peerjs's own ``reliable: false`` would still retransmit every loss.
        """
        if self.mode == "reliable":
            return {"reliable": True}
        return {"reliable": False, "ordered": False, "max_retransmits": 0}

    def payload(self) -> str:
        """The value sent: ``size`` ASCII characters (so as many bytes)."""
        pattern = "earlgate datachannel bench 0123456789 "
        return (pattern * (self.size // len(pattern) + 1))[: self.size]


def _emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def _peer(peer_id: str, config: dict[str, Any]) -> Peer:
    turn = config["turn"]
    return Peer(
        peer_id,
        host="127.0.0.1",
        port=config["signal_port"],
        ice_servers=[RTCIceServer(turn["url"], turn["user"], turn["password"])],
        ice_transport_policy="relay",
        reconnect=False,
    )


@dataclass
class _Counter:
    messages: int = 0
    bytes: int = 0
    first: float = 0.0
    last: float = 0.0


async def _count(conn: DataConnection, counter: _Counter) -> None:
    try:
        await conn.wait_open()
    except PeerError:
        return  # the sender's connect() fails too and reports it
    async for value in conn:
        now = time.perf_counter()
        if not counter.messages:
            counter.first = now
        counter.messages += 1
        counter.bytes += len(value)  # ASCII payloads: characters are bytes
        counter.last = now


async def _settle(counter: _Counter, sent: int, reliable: bool) -> None:
    """Until every message sent arrived, within SETTLE_LIMIT seconds.

    A reliable channel delivers them all, but a lost packet waits for SCTP's
    retransmission timer (at least one second, RFC 4960 15), so only the limit
    ends its wait; an unreliable one is done once nothing came for SETTLE_QUIET.
    """
    deadline = time.perf_counter() + SETTLE_LIMIT
    seen, quiet_since = counter.messages, time.perf_counter()
    while counter.messages < sent and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
        now = time.perf_counter()
        if counter.messages != seen:
            seen, quiet_since = counter.messages, now
        elif not reliable and now - quiet_since >= SETTLE_QUIET:
            return


async def _receive(config: dict[str, Any]) -> None:
    me = psutil.Process()
    peer = _peer(config["receiver_id"], config)
    await peer.open()
    counters: dict[str, _Counter] = {}
    data: dict[str, DataConnection] = {}
    tasks: set[asyncio.Task[None]] = set()
    finished = asyncio.Event()

    async def serve_control(control: DataConnection) -> None:
        await control.wait_open()
        # CPU over the sending period: from "start" until ``duration`` later.
        usage: list[tuple[float, float]] = []

        def snapshot() -> None:
            usage.append((time.perf_counter(), cpu_seconds(me)))

        async for message in control:
            label = message.get("case", "")
            if message["type"] == "start":
                usage.clear()
                snapshot()
                asyncio.get_running_loop().call_later(config["duration"], snapshot)
                control.send({"type": "ready", "case": label})
            elif message["type"] == "stop":
                counter = counters.get(label, _Counter())
                await _settle(counter, int(message["sent"]), bool(message["reliable"]))
                if len(usage) < 2:
                    snapshot()
                (started, cpu0), (ended, cpu1) = usage[0], usage[1]
                conn = data.pop(label, None)
                if conn is not None:
                    await conn.close()
                result = {
                    "type": "result",
                    "case": label,
                    "received": counter.messages,
                    "bytes": counter.bytes,
                    "window_s": counter.last - counter.first,
                    "cpu_s": cpu1 - cpu0,
                    "cpu_window_s": ended - started,
                }
                control.send(result)
            elif message["type"] == "bye":
                break
        finished.set()

    async def accept() -> None:
        async for conn in peer.connections():
            if conn.label == CONTROL_LABEL:
                task = asyncio.create_task(serve_control(conn))
            else:
                counters[conn.label] = _Counter()
                data[conn.label] = conn
                task = asyncio.create_task(_count(conn, counters[conn.label]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    acceptor = asyncio.create_task(accept())
    _emit("ready")
    try:
        await finished.wait()
    finally:
        await peer.destroy()
        acceptor.cancel()
        for task in list(tasks):
            task.cancel()


async def _wait_below(conn: DataConnection, low: asyncio.Event, until: float) -> None:
    """Wait until the channel's buffer fell to LOW_WATER (bufferedamountlow) or ``until``."""
    if conn.buffered_amount <= LOW_WATER:
        return
    low.clear()
    try:
        async with asyncio.timeout(max(0.0, until - time.perf_counter())):
            await low.wait()
    except TimeoutError:
        pass


async def _send_case(
    peer: Peer, control: DataConnection, case: Case, receiver: str, duration: float
) -> dict[str, Any]:
    me = psutil.Process()
    async with asyncio.timeout(CONNECT_TIMEOUT):
        conn = await peer.connect(
            receiver, case.label, case.serialization, **case.channel_options()
        )
    try:
        control.send({"type": "start", "case": case.label})
        async with asyncio.timeout(REPLY_TIMEOUT):
            reply = await control.recv()
        if reply != {"type": "ready", "case": case.label}:
            raise DataChannelBenchError(f"receiver answered {reply!r} to start")
        _emit("start", case=case.label)
        assert conn.channel is not None
        channel, low = conn.channel, asyncio.Event()
        channel.bufferedAmountLowThreshold = LOW_WATER
        channel.on("bufferedamountlow", low.set)
        value, sent = case.payload(), 0
        cpu0, started = cpu_seconds(me), time.perf_counter()
        end = started + duration
        while time.perf_counter() < end:
            while conn.buffered_amount < HIGH_WATER:
                conn.send(value)
                sent += 1
            await _wait_below(conn, low, end)
        sending = time.perf_counter() - started
        cpu = cpu_seconds(me) - cpu0
        _emit("sent", case=case.label)
        channel.remove_listener("bufferedamountlow", low.set)
        try:
            async with asyncio.timeout(DRAIN_TIMEOUT):
                await conn.wait_drained()
        except TimeoutError:
            pass
        stop = {"type": "stop", "case": case.label, "sent": sent}
        control.send({**stop, "reliable": case.mode == "reliable"})
        async with asyncio.timeout(REPLY_TIMEOUT):
            counts: dict[str, Any] = await control.recv()
        if counts.get("type") != "result" or counts.get("case") != case.label:
            raise DataChannelBenchError(f"receiver answered {counts!r} to stop")
        sender = {"sent": sent, "send_s": sending, "cpu_s": cpu, "cpu_window_s": sending}
        return {"sender": sender, "receiver": counts}
    finally:
        await conn.close()


async def _send(config: dict[str, Any]) -> None:
    peer = _peer(config["sender_id"], config)
    await peer.open()
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            control = await peer.connect(
                config["receiver_id"], CONTROL_LABEL, "json", reliable=True
            )
        for fields in config["cases"]:
            case = Case(**fields)
            counts = await _send_case(
                peer, control, case, config["receiver_id"], config["duration"]
            )
            _emit("result", case=case.label, **counts)
        control.send({"type": "bye"})
        await control.wait_drained()
    finally:
        await peer.destroy()
    _emit("done")


def worker_main(argv: Sequence[str] | None = None) -> int:
    """Entry of a peer process: ``ROLE CONFIG_JSON``, events as JSON lines on stdout."""
    role, raw = argv if argv is not None else sys.argv[1:]
    config = json.loads(raw)
    main: Coroutine[Any, Any, None] = _receive(config) if role == "receive" else _send(config)
    try:
        if config["loop"] == "uvloop":
            import uvloop

            uvloop.run(main)
        else:
            asyncio.run(main)
    except Exception as exc:
        traceback.print_exc()
        _emit("error", message=f"{role}: {type(exc).__name__}: {exc}")
        return 1
    return 0
