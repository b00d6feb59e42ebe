"""The rtc bench's sending and receiving peers, in child processes of their own.

Hundreds of aiortc peers in the bench's own process made the bench, not the
gateway, the bottleneck: every message is encrypted, framed and timed by
Python on the load side too. So each side of a step runs in its own
process (``python -m earlgate.gateway.loadside PLAN_FILE``), optionally
inside a network namespace (``ip netns exec``) for the network-layer test
bed. The plan is a JSON file; the parent drives the child with one word
per line on stdin and reads one JSON object per line on stdout:

``ready``     the child's peers are connected (those that wait to be dialed:
              registered with the signaling server): ``{"event": "ready", ...}``
``go``        senders send for the plan's duration, then report ``sent``;
              receivers start counting; mesh parts (``go EPOCH``) all start
              sending at that wall-clock time and report when done
``stop``      receivers stop counting, write their delays (ms, one float64
              each, native order) to ``delays_file`` and report ``received``
``quit``/EOF  destroy the peers and exit

A step that cannot be set up ends with ``{"event": "error", "message": ...}``
and exit status 1.

Each sender ``i`` of ``n`` sends at ``rate`` Hz with phase ``i/n`` of the
period, as independent devices would, rather than all at once.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil

from earlgate.children import cpu_seconds
from earlgate.gateway.aggregate import Part, decode, encode, is_aggregate
from earlgate.gateway.mesh import MeshOptions, MeshResult, message_for, run_mesh
from earlgate.gateway.peering import PeerOptions
from earlgate.rtc import DataConnection, DataConnectionError, PeerError

__all__ = ["ROLES", "LoadPlan", "LoadProcess", "LoadSideError", "Recorder", "main", "split"]

ROLES = ("send", "receive", "send-aggregates", "mesh")
CONNECT_CONCURRENCY = 8  # data connections being negotiated at once per process


@dataclass
class LoadPlan:
    """What one child process runs."""

    role: str
    signal: str
    names: list[str]
    # Peer each local peer dials; a local peer without an entry waits to be dialed.
    dial: dict[str, str] = field(default_factory=dict)
    key: str = "peerjs"
    ice_servers: list[str] = field(default_factory=list)
    ice_username: str | None = None
    ice_credential: str | None = None
    relay_only: bool = False
    rate: float = 4.0
    size: int = 100
    duration: float = 60.0
    connect_timeout: float = 60.0
    # send-aggregates: the receivers the parts are for, this many parts to an aggregate
    parts_for: list[str] = field(default_factory=list)
    parts_per_aggregate: int = 10
    # mesh: this process runs ``names`` (PREFIX-i) of a full mesh of mesh_peers peers
    mesh_peers: int = 0
    delays_file: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role {self.role!r}: expected one of {', '.join(ROLES)}")
        if not self.names:
            raise ValueError("a plan needs at least one peer name")
        if not self.rate > 0 or not self.duration > 0 or self.size < 1:
            raise ValueError("rate and duration must be > 0 and size >= 1")
        if self.parts_per_aggregate < 1:
            raise ValueError("parts_per_aggregate must be >= 1")
        if self.role == "mesh":
            self.mesh_indices()

    def mesh_indices(self) -> tuple[str, tuple[int, ...]]:
        """The mesh's id prefix and this process's indices, from ``names``."""
        prefixes, indices = set(), []
        for name in self.names:
            prefix, _, index = name.rpartition("-")
            if not prefix or not index.isdigit() or int(index) >= self.mesh_peers:
                raise ValueError(f"mesh peer {name!r}: expected PREFIX-i, i < {self.mesh_peers}")
            prefixes.add(prefix)
            indices.append(int(index))
        if len(prefixes) != 1:
            raise ValueError(f"mesh peers of one mesh share a prefix, not {sorted(prefixes)}")
        return prefixes.pop(), tuple(indices)

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> LoadPlan:
        data = orjson.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a plan is a JSON object")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(f"bad plan: {exc}") from None

    def peering(self) -> PeerOptions:
        return PeerOptions(
            self.signal,
            key=self.key,
            ice_servers=tuple(self.ice_servers),
            ice_username=self.ice_username,
            ice_credential=self.ice_credential,
            relay_only=self.relay_only,
        )


def split(names: list[str], processes: int) -> list[list[str]]:
    """``names`` in ``processes`` contiguous, nearly equal, non-empty slices."""
    processes = max(1, min(processes, len(names)))
    size, extra = divmod(len(names), processes)
    slices, start = [], 0
    for index in range(processes):
        end = start + size + (1 if index < extra else 0)
        slices.append(names[start:end])
        start = end
    return slices


class Recorder:
    """One-way delays and bytes of what the receivers got, while counting."""

    def __init__(self) -> None:
        self.delays = array.array("d")
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
        elif isinstance(value, dict) and isinstance(value.get("ts"), int | float):
            self.delays.append(now - value["ts"])


class _LoadSide:
    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        peering = plan.peering()
        self.peers = {name: peering.make_peer(name) for name in plan.names}
        self.conns: dict[str, DataConnection] = {}
        self.recorder = Recorder()
        self.sent = 0
        self.sent_bytes = 0
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
            conn.on("data", self.recorder.on_value)
            with contextlib.suppress(DataConnectionError, PeerError):
                await conn.wait_open()
                self.conns.setdefault(name, conn)

    def _adopt(self, name: str, conn: DataConnection) -> None:
        conn.on("data", self.recorder.on_value)
        self.conns[name] = conn

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


class LoadProcess:
    """The parent's handle on one load-side child: start, ``go``, ``stop``, results."""

    def __init__(self, plan: LoadPlan, prefix: list[str] | None = None) -> None:
        self.plan = plan
        self.prefix = prefix or []  # e.g. ["ip", "netns", "exec", NS] or ["taskset", "-c", "1"]
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr = b""
        self._stderr_task: asyncio.Task[None] | None = None
        self._plan_file: Path | None = None

    async def start(self) -> None:
        handle, name = tempfile.mkstemp(prefix="earlgate-load-", suffix=".json")
        with os.fdopen(handle, "w") as out:
            out.write(self.plan.to_json())
        self._plan_file = Path(name)
        self.proc = await asyncio.create_subprocess_exec(
            *self.prefix,
            sys.executable,
            "-m",
            "earlgate.gateway.loadside",
            name,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._stderr_task = asyncio.create_task(self._read_stderr())

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(65536):
            self.stderr = (self.stderr + chunk)[-4000:]

    async def event(self, within: float) -> dict[str, Any]:
        """The child's next event; an ``error`` event or silence raises LoadSideError."""
        assert self.proc is not None and self.proc.stdout is not None
        try:
            async with asyncio.timeout(within):
                line = await self.proc.stdout.readline()
        except TimeoutError:
            raise LoadSideError(f"{self}: no answer within {within:g} s") from None
        if not line:
            await self.proc.wait()
            tail = self.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise LoadSideError(f"{self} exited ({self.proc.returncode}): {' / '.join(tail)}")
        event: dict[str, Any] = orjson.loads(line)
        if event.get("event") == "error":
            raise LoadSideError(f"{self}: {event.get('message')}")
        return event

    def command(self, word: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(word.encode() + b"\n")

    def cpu_s(self) -> float:
        """CPU-seconds of the child (through ``ip netns exec``/``taskset``, which exec)."""
        assert self.proc is not None
        with contextlib.suppress(psutil.Error):
            return cpu_seconds(self.proc.pid)
        return 0.0

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                self.command("quit")
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                async with asyncio.timeout(15):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._stderr_task is not None:
            await self._stderr_task
        if self._plan_file is not None:
            self._plan_file.unlink(missing_ok=True)

    def __str__(self) -> str:
        return f"load side {self.plan.role} {self.plan.names[0]}..{self.plan.names[-1]}"


class LoadSideError(Exception):
    """A load-side child could not set up or stopped answering; the message says why."""


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

    options = MeshOptions(
        plan.peering(),
        plan.mesh_peers,
        prefix=prefix,
        run=indices,
        duration=plan.duration,
        rate=plan.rate,
        size=plan.size,
        connect_timeout=plan.connect_timeout,
        keep_delays=True,
        gate=gate,
    )
    try:
        result = await run_mesh(options)
    except (PeerError, OSError) as exc:
        _say(event="error", message=f"mesh peers {plan.names[0]}..: {exc}")
        return 1
    if plan.delays_file is not None:
        data = array.array("d", result.delays_ms).tobytes()
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
                if plan.role == "receive":
                    side.recorder.counting = True
                    continue
                await side.send()
                _say(event="done", sent=side.sent, bytes=side.sent_bytes)
            elif line == b"stop":
                side.recorder.counting = False
                if plan.delays_file is not None:
                    data = side.recorder.delays.tobytes()
                    await asyncio.to_thread(Path(plan.delays_file).write_bytes, data)
                _say(
                    event="done",
                    received=len(side.recorder.delays),
                    bytes=side.recorder.bytes,
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
        print("usage: python -m earlgate.gateway.loadside PLAN_FILE", file=sys.stderr)
        return 2
    try:
        plan = LoadPlan.from_json(Path(args[0]).read_bytes())
    except (OSError, ValueError) as exc:
        print(f"earlgate.gateway.loadside: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(run(plan))


if __name__ == "__main__":
    sys.exit(main())
