"""``earlgate gateway`` in a child process for the rtc bench, and its routes.

A step talks to its gateway through :class:`StepGateway`, which the browser
gateway (:mod:`earlgate.bench.gateway.browsergw`) implements too.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Protocol

from earlgate.bench.gateway.options import Placement, counter_sum, histogram_stats
from earlgate.children import cpu_seconds
from earlgate.gateway.peering import PeerOptions

__all__ = ["GATEWAY_ID", "GatewayProcess", "StepGateway", "routes_for"]

GATEWAY_ID = "bench-gw"
READY = re.compile(rb"earlgate gateway \S+ ready.*metrics (http://\S+/metrics)")


class StepGateway(Protocol):
    """What a step needs of its gateway, whichever it is."""

    async def start(self) -> None: ...

    def cpu_s(self) -> float:
        """CPU-seconds the gateway (all its processes) used so far."""
        ...

    async def forwarded(self) -> int:
        """Messages (for a mux: aggregates) the gateway handed on so far."""
        ...

    async def processing_ms(self) -> dict[str, float]:
        """Mux/demux processing delay per aggregate: count, mean, median, p99 (ms)."""
        ...

    async def stop(self) -> None: ...


class GatewayProcess:
    """``earlgate gateway`` in a child process, so that its CPU is its own."""

    def __init__(self, peering: PeerOptions, routes: Path, placement: Placement) -> None:
        self.peering = peering
        self.routes = routes
        self.placement = placement
        self.proc: asyncio.subprocess.Process | None = None
        self.metrics_url = ""
        self._drain: asyncio.Task[None] | None = None

    async def start(self) -> None:
        p = self.peering
        signal = self.placement.gateway_signal or p.signal
        args = ["-m", "earlgate", "gateway", "--id", GATEWAY_ID, "--signal", signal]
        args += ["--key", p.key, "--routes", str(self.routes), "--metrics-port", "0", "--no-dial"]
        for url in p.ice_servers:
            args += ["--ice-server", url]
        if p.ice_username:
            args += ["--ice-username", p.ice_username]
        if p.ice_credential:
            args += ["--ice-credential", p.ice_credential]
        if p.relay_only:
            args.append("--relay-only")
        self.proc = await asyncio.create_subprocess_exec(
            *self.placement.gateway_prefix,
            sys.executable,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        assert self.proc.stdout is not None
        seen = b""
        async with asyncio.timeout(30):
            while line := await self.proc.stdout.readline():
                seen += line
                if match := READY.search(line):
                    self.metrics_url = match[1].decode()
                    self._drain = asyncio.create_task(self._read_rest())
                    return
        raise RuntimeError(f"the gateway did not start: {seen.decode(errors='replace')}")

    async def _read_rest(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while await self.proc.stdout.readline():
            pass

    def cpu_s(self) -> float:
        assert self.proc is not None
        return cpu_seconds(self.proc.pid)

    async def scrape(self) -> str:
        def get() -> str:
            import urllib.request

            with urllib.request.urlopen(self.metrics_url, timeout=5) as reply:
                return str(reply.read().decode())

        return await asyncio.to_thread(get)

    async def forwarded(self) -> int:
        return int(counter_sum(await self.scrape(), "earlgate_gateway_route_messages_out_total"))

    async def processing_ms(self) -> dict[str, float]:
        return histogram_stats(await self.scrape(), "earlgate_gateway_route_processing_seconds")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                async with asyncio.timeout(10):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._drain is not None:
            await self._drain


def routes_for(kind: str, peers: int, *, two_way: bool = False) -> str:
    """The routes of a step; ``two_way`` (forward): also each receiver back to its sender."""
    if kind == "forward":
        pairs = [(f"s-{i}", f"r-{i}") for i in range(peers)]
        if two_way:
            pairs += [(f"r-{i}", f"s-{i}") for i in range(peers)]
        return "".join(f'[[forward]]\nfrom = "{a}"\nto = "{b}"\n\n' for a, b in pairs)
    if kind == "mux":
        return '[[mux]]\nfrom = "s-*"\nto = "sink"\nwindow = 0.25\n'
    return '[[demux]]\nfrom = "cloud"\n'
