"""The rtc bench's sending and receiving peers, in child processes of their own.

Hundreds of aiortc peers in the bench's own process made the bench, not the
gateway, the bottleneck: every message is encrypted, framed and timed by
Python on the load side too. So each side of a step runs in its own
process (``python -m earlgate.bench.gateway.loadside PLAN_FILE``), optionally
inside a network namespace (``ip netns exec``) for the network-layer test
bed. The plan is a JSON file; the parent drives the child with one word
per line on stdin and reads one JSON object per line on stdout:

``ready``     the child's peers are connected (those that wait to be dialed:
              registered with the signaling server): ``{"event": "ready", ...}``
``go``        senders send for the plan's duration, then report ``sent``;
              receivers start counting; mesh parts (``go EPOCH``) all start
              sending at that wall-clock time and report when done
``stop``      receivers stop counting, write their delays (ms, one float64
              each, native order) to ``delays_file`` and report ``received``;
              two-way, senders too: they write (round trip, back delay) pairs
              of the answers they got to ``answers_file`` and report ``answers``
``quit``/EOF  destroy the peers and exit

A step that cannot be set up ends with ``{"event": "error", "message": ...}``
and exit status 1.

Each sender ``i`` of ``n`` sends at ``rate`` Hz with phase ``i/n`` of the
period, as independent devices would, rather than all at once.

Two-way (thesis 5.2, "the receiving laptop also sent data back"): a receiver
answers every message it counts on the connection it came in on, with an
answer (:func:`answer_for`) of the same size that carries the original's
``ts`` and its own clock ``ats``; the sender measures the round trip
(now - ``ts``) and the way back (now - ``ats``).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from earlgate.bench.gateway.loadplan import LoadPlan
from earlgate.bench.gateway.meshdelays import MeshDelays
from earlgate.gateway.aggregate import Part, decode, encode, is_aggregate
from earlgate.gateway.mesh import MeshOptions, MeshResult, message_for, run_mesh
from earlgate.rtc import DataConnection, DataConnectionError, PeerError

__all__ = ["Recorder", "answer_for", "main", "run"]

CONNECT_CONCURRENCY = 8  # data connections being negotiated at once per process


def answer_for(name: str, value: dict[str, Any], size: int, now_ms: float) -> dict[str, Any]:
    """``name``'s answer to ``value``, padded to ``size`` characters of JSON like it.

    It keeps the original's ``ts`` (for the round trip) and adds ``ats``, the
    answerer's clock (for the way back), and ``re``, whom it answers.
    """
    answer: dict[str, Any] = {
        "src": name,
        "re": value.get("src"),
        "seq": value.get("seq"),
        "ts": value["ts"],
        "ats": now_ms,
        "pad": "",
    }
    answer["pad"] = "~" * max(0, size - len(orjson.dumps(answer)))
    return answer


def _is_answer(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("ats"), int | float)


class Recorder:
    """One-way delays and bytes of what the receivers got, while counting.

    Answers (two-way) are kept apart: their round trip and way back, in ms.
    """

    def __init__(self) -> None:
        self.delays = array.array("d")
        self.round_trips = array.array("d")
        self.backs = array.array("d")
        self.bytes = 0
        self.counting = False

    def on_value(self, value: Any) -> None:
        if not self.counting:
            return
        now = time.time() * 1000.0
        self.bytes += len(orjson.dumps(value))
        parts = decode(value) if is_aggregate(value) else None
        if parts is not None:
            self.delays.extend(now - part.ts for part in parts)
        elif _is_answer(value) and isinstance(value.get("ts"), int | float):
            self.round_trips.append(now - value["ts"])
            self.backs.append(now - value["ats"])
        elif isinstance(value, dict) and isinstance(value.get("ts"), int | float):
            self.delays.append(now - value["ts"])

    def answer_pairs(self) -> bytes:
        """(round trip, back) per answer, float64 native order, for ``answers_file``."""
        pairs = array.array("d")
        for round_trip, back in zip(self.round_trips, self.backs, strict=True):
            pairs.extend((round_trip, back))
        return pairs.tobytes()


class _LoadSide:
    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        peering = plan.peering()
        self.peers = {name: peering.make_peer(name) for name in plan.names}
        self.conns: dict[str, DataConnection] = {}
        self.recorder = Recorder()
        self.sent = 0
        self.sent_bytes = 0
        self.answered = 0  # two-way receivers: answers sent back
        self.answered_bytes = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    async def connect(self) -> int:
        """Open the peers and dial; peers that wait to be dialed are ready once open."""
        plan = self.plan
        await asyncio.gather(*(peer.open() for peer in self.peers.values()))
        for name in [name for name in plan.names if name not in plan.dial]:
            task = asyncio.create_task(self._accept(name))
            self._tasks.add(task)
        # A few at a time, so that setting up (ICE gathering, TURN allocations)
        # does not starve the peers already sending on this core.
        limiter = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def dial(name: str) -> None:
            async with limiter:
                conn = await self.peers[name].connect(plan.dial[name], serialization="json")
            self._adopt(name, conn)

        async with asyncio.timeout(plan.connect_timeout):
            await asyncio.gather(*(dial(name) for name in plan.dial if name in self.peers))
        return len(self.conns)

    async def _accept(self, name: str) -> None:
        async for conn in self.peers[name].connections():
            self._listen(name, conn)
            with contextlib.suppress(DataConnectionError, PeerError):
                await conn.wait_open()
                self.conns.setdefault(name, conn)

    def _adopt(self, name: str, conn: DataConnection) -> None:
        self._listen(name, conn)
        self.conns[name] = conn

    def _listen(self, name: str, conn: DataConnection) -> None:
        if not (self.plan.two_way and self.plan.role == "receive"):
            conn.on("data", self.recorder.on_value)
            return
        recorder, size = self.recorder, self.plan.size

        def answer(value: Any) -> None:
            recorder.on_value(value)
            if not recorder.counting or _is_answer(value) or not isinstance(value, dict):
                return
            if not isinstance(value.get("ts"), int | float):
                return
            reply = answer_for(name, value, size, time.time() * 1000.0)
            try:
                conn.send(reply)
            except DataConnectionError:
                return
            self.answered += 1
            self.answered_bytes += len(orjson.dumps(reply))

        conn.on("data", answer)

    async def send(self) -> None:
        plan = self.plan
        loop = asyncio.get_running_loop()
        period = 1.0 / plan.rate
        start = loop.time()
        end = start + plan.duration
        senders = list(self.conns.items())
        await asyncio.gather(
            *(
                self._sender(name, conn, start + period * index / len(senders), end, period)
                for index, (name, conn) in enumerate(senders)
            )
        )

    async def _sender(
        self, name: str, conn: DataConnection, first: float, end: float, period: float
    ) -> None:
        loop = asyncio.get_running_loop()
        plan = self.plan
        due, seq = first, 0
        while due < end:
            await asyncio.sleep(max(0.0, due - loop.time()))
            now = time.time() * 1000.0
            messages: list[Any]
            if plan.role == "send-aggregates":
                # One part per device behind this upstream peer, each for its receiver.
                targets, step = plan.parts_for, plan.parts_per_aggregate
                messages = [
                    encode(
                        Part(f"d-{i}", seq, now, message_for(f"d-{i}", seq, plan.size, now), to)
                        for i, to in enumerate(targets[low : low + step], start=low)
                    )
                    for low in range(0, len(targets), step)
                ]
                parts = len(targets)
            else:
                messages, parts = [message_for(name, seq, plan.size, now)], 1
            try:
                for message in messages:
                    conn.send(message)
                    self.sent_bytes += len(orjson.dumps(message))
            except DataConnectionError:
                return
            self.sent += parts
            seq += 1
            due += period

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(peer.destroy() for peer in self.peers.values()))


def _say(**event: Any) -> None:
    sys.stdout.write(orjson.dumps(event).decode() + "\n")
    sys.stdout.flush()


async def _lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def run_mesh_part(plan: LoadPlan) -> int:
    """This process's peers of a mesh spread over several: ``go EPOCH`` starts them all."""
    prefix, indices = plan.mesh_indices()
    commands = await _lines()

    async def gate(result: MeshResult) -> float:
        _say(event="ready", connections=result.connections, expected=result.expected_connections)
        words = (await commands.readline()).split()
        if not words or words[0] != b"go":
            raise SystemExit(0)  # the parent went away or said quit before starting
        return float(words[1]) if len(words) > 1 else time.time()

    delays = MeshDelays(keep=True)
    options = MeshOptions(
        plan.peering(),
        plan.mesh_peers,
        prefix=prefix,
        run=indices,
        duration=plan.duration,
        rate=plan.rate,
        size=plan.size,
        connect_timeout=plan.connect_timeout,
        on_message=delays.on_message,
        gate=gate,
    )
    try:
        result = await run_mesh(options)
    except (PeerError, OSError) as exc:
        _say(event="error", message=f"mesh peers {plan.names[0]}..: {exc}")
        return 1
    if plan.delays_file is not None:
        data = array.array("d", delays.delays_ms).tobytes()
        await asyncio.to_thread(Path(plan.delays_file).write_bytes, data)
    _say(
        event="done",
        sent=result.sent,
        received=result.received,
        connections=result.connections,
        expected=result.expected_connections,
        bytes=0,
    )
    while (await commands.readline()).strip() not in (b"quit", b""):
        pass
    return 0


async def run(plan: LoadPlan) -> int:
    if plan.role == "mesh":
        return await run_mesh_part(plan)
    side = _LoadSide(plan)
    try:
        try:
            connections = await side.connect()
        except (PeerError, DataConnectionError, TimeoutError, OSError) as exc:
            missing = [name for name in plan.names if name not in side.conns]
            _say(
                event="error",
                message=f"{len(missing)} of {len(plan.names)} peers not connected "
                f"(first: {missing[:3]}): {exc or type(exc).__name__}",
            )
            return 1
        _say(event="ready", connections=connections)
        commands = await _lines()
        while line := (await commands.readline()).strip():
            if line == b"go":
                side.recorder.counting = plan.role == "receive" or plan.two_way
                if plan.role == "receive":
                    continue
                await side.send()
                _say(event="done", sent=side.sent, bytes=side.sent_bytes)
            elif line == b"stop":
                side.recorder.counting = False
                if plan.delays_file is not None:
                    data = side.recorder.delays.tobytes()
                    await asyncio.to_thread(Path(plan.delays_file).write_bytes, data)
                if plan.answers_file is not None:
                    pairs = side.recorder.answer_pairs()
                    await asyncio.to_thread(Path(plan.answers_file).write_bytes, pairs)
                _say(
                    event="done",
                    received=len(side.recorder.delays),
                    bytes=side.recorder.bytes,
                    answers=len(side.recorder.round_trips),
                    answered=side.answered,
                    answered_bytes=side.answered_bytes,
                )
            elif line == b"quit":
                break
            else:
                _say(event="error", message=f"unknown command {line.decode(errors='replace')!r}")
        return 0
    finally:
        await side.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m earlgate.bench.gateway.loadside PLAN_FILE", file=sys.stderr)
        return 2
    try:
        plan = LoadPlan.from_json(Path(args[0]).read_bytes())
    except (OSError, ValueError) as exc:
        print(f"earlgate.bench.gateway.loadside: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(run(plan))


if __name__ == "__main__":
    sys.exit(main())
