"""``GET /metrics`` on a port of its own, for the processes that have no HTTP server.

The hub and the signaling server expose ``/metrics`` on their own HTTP front;
``earlgate gateway`` and ``earlgate ble`` have none, so they open this one.
A request's head must come within 10 s and fit the stream's limit (64 KiB);
anything but ``GET``/``HEAD /metrics`` is a 404.
"""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CollectorRegistry

from earlgate.metrics.exposition import CONTENT_TYPE, render

__all__ = ["HEAD_TIMEOUT_S", "serve_metrics"]

HEAD_TIMEOUT_S = 10.0


async def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> asyncio.Server:
    """A minimal HTTP/1.1 server: ``GET /metrics`` in the Prometheus text format."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HEAD_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        request = head.split(b"\r\n", 1)[0].split() + [b"", b""]
        method, target = request[0], request[1]
        if method in (b"GET", b"HEAD") and target == b"/metrics":
            body = render(registry)
            status = b"200 OK"
            kind = CONTENT_TYPE.encode()
        else:
            body, status, kind = b"not found\n", b"404 Not Found", b"text/plain"
        writer.write(
            b"HTTP/1.1 "
            + status
            + b"\r\nContent-Type: "
            + kind
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + (body if method != b"HEAD" else b"")
        )
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, host, port)
