"""The bench's handle on a load-side child (``python -m earlgate.bench.gateway.loadside``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
import psutil

from earlgate.bench.gateway.loadplan import LoadPlan
from earlgate.children import cpu_seconds

__all__ = ["LoadProcess", "LoadSideError"]


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
            "earlgate.bench.gateway.loadside",
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
