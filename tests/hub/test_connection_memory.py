"""What one idle WebSocket connection holds in the hub, by part.

A hub in this process, N clients in a child process (picows, as ``earlgate
bench connections`` opens them). The hub's RSS is read without tracing; then
tracemalloc attributes the Python heap a second set of N connections holds to
the code that allocated it, and the kernel's TCP buffer pages are read from
/proc/net/sockstat. ``pytest -s tests/hub/test_connection_memory.py`` prints the
breakdown that docs/hub.md ("Memory per connection") gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import subprocess
import sys
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from earlgate.hub.config import HubConfig
from earlgate.hub.server import HubServer

CONNECTIONS = 400
# Python heap per idle connection, measured 11.2 KiB; the parts are in
# docs/hub.md. About 10 KiB of it is the libraries' (aiofastnet's transport,
# picows's protocol and read buffer); this bound catches what grows back (such
# as a task per connection).
TRACED_LIMIT = 12.5 * 1024

CLIENTS = r"""
import asyncio, sys
from picows import WSListener, ws_connect

async def main(url, count):
    limiter = asyncio.Semaphore(100)
    async def one():
        async with limiter:
            transport, _ = await ws_connect(WSListener, url, websocket_handshake_timeout=60)
            return transport
    transports = await asyncio.gather(*(one() for _ in range(count)))
    print("open", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for transport in transports:
        transport.disconnect()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""

# The innermost frame that names one of these files decides an allocation's part.
PARTS = (
    ("hub/sendqueue.py", "session and send queue (ours)"),
    ("hub/session.py", "session and send queue (ours)"),
    ("hub/connection.py", "HubListener, message assembler (ours)"),
    ("picows/common.py", "upgrade request and response (picows)"),
    ("asyncio/tasks.py", "auto-ping task, its sleep and timer (picows)"),
    ("_weakrefset.py", "auto-ping task, its sleep and timer (picows)"),
    ("aiofastnet/", "socket transport (aiofastnet)"),
    ("server/http.py", "HTTP front, h11 (ours, until the upgrade)"),
    ("server/listener.py", "accepted socket object"),
    ("server/websocket.py", "WebSocket protocol, transport, read buffer (picows)"),
)


def rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096


def tcp_buffer_pages() -> int:
    """Pages the kernel holds in TCP socket buffers (all sockets of the machine)."""
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            fields = line.split()
            return int(fields[fields.index("mem") + 1])
    return 0


def part_of(trace: tracemalloc.Traceback) -> str:
    for frame in reversed(trace):  # innermost first
        for marker, part in PARTS:
            if marker in frame.filename:
                return part
    return "the loop's reader handle and selector key (asyncio)"


@contextlib.asynccontextmanager
async def clients(server: HubServer, count: int) -> AsyncIterator[None]:
    url = f"ws://127.0.0.1:{server.port}/ws"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLIENTS,
        url,
        str(count),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert (await asyncio.wait_for(child.stdout.readline(), 120)).strip() == b"open"
        while len(server.listeners) < count:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        gc.collect()
        yield
    finally:
        child.stdin.close()
        await child.wait()
        while server.listeners:
            await asyncio.sleep(0.05)


async def measure(count: int) -> dict[str, float]:
    server = HubServer(HubConfig(port=0))
    await server.start()
    try:
        async with clients(server, 50):  # warm up: imports, caches, first growth
            pass
        gc.collect()
        rss_before, pages_before = rss(), tcp_buffer_pages()
        async with clients(server, count):
            rss_open, pages_open = rss(), tcp_buffer_pages()
        gc.collect()
        tracemalloc.start(30)
        try:
            before = tracemalloc.take_snapshot()
            async with clients(server, count):
                after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
    finally:
        await server.stop()
    parts: Counter[str] = Counter()
    for stat in after.compare_to(before, "traceback"):
        parts[part_of(stat.traceback)] += stat.size_diff
    result = {part: size / count for part, size in parts.items()}
    result["traced total"] = sum(parts.values()) / count
    result["RSS"] = (rss_open - rss_before) / count
    result["kernel TCP buffers"] = (pages_open - pages_before) * 4096 / count
    return result


def test_an_idle_connection_holds_little() -> None:
    result = asyncio.run(measure(CONNECTIONS))
    print(f"\nbytes per idle connection, {CONNECTIONS} connections:")
    for part, size in sorted(result.items(), key=lambda item: -item[1]):
        print(f"{size:9.0f}  {part}")
    assert result["traced total"] <= TRACED_LIMIT
    # Our own objects: listener, session and queue, with nothing made before use.
    ours = sum(size for part, size in result.items() if "(ours)" in part and "h11" not in part)
    assert ours <= 1200
