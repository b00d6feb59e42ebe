"""Clients that try to hold the hub: slow, idle, pipelining, hoarding descriptors."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import psutil
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from earlgate.children import drain_in_background, stop_processes, wait_for_line
from earlgate.hub.auth import make_token
from earlgate.hub.config import HubConfig
from earlgate.hub.server import HubServer
from hubproc import LISTEN_LINE
from unread import pipeline_unread
from wsclient import WsClient

SECRET = "a-test-secret-of-at-least-32-bytes!!"


@contextlib.asynccontextmanager
async def running_hub(**settings: object) -> AsyncIterator[HubServer]:
    config = HubConfig(port=0, **settings)  # type: ignore[arg-type]
    server = HubServer(config)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Read until the server closes the connection; fail if it takes longer."""
    return await asyncio.wait_for(reader.read(), seconds)


async def test_keep_alive_connection_trickling_bytes_is_closed() -> None:
    async with running_hub(handshake_timeout=0.5, idle_timeout=5) as hub:
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        await reader.readuntil(b"}\n")
        started = time.monotonic()

        async def trickle() -> None:
            for byte in b"GET /healthz HTTP/1.1\r\nhost: x\r\n":
                writer.write(bytes([byte]))
                await asyncio.sleep(0.05)

        task = asyncio.ensure_future(trickle())
        rest = await closed_within(reader, 3)
        task.cancel()
        assert b"408" in rest
        assert time.monotonic() - started < 2
        writer.close()


async def test_idle_keep_alive_connection_is_closed() -> None:
    async with running_hub(idle_timeout=0.3) as hub:
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        await reader.readuntil(b"}\n")
        assert await closed_within(reader, 2) == b""
        writer.close()


async def test_silent_websocket_that_answers_no_ping_is_closed() -> None:
    async with running_hub(ping_interval=0.3, ping_timeout=0.3) as hub:
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
        writer.write(
            b"GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
            b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n"
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        rest = await closed_within(reader, 3)  # never answers the ping
        assert rest[:1] == b"\x89"  # the hub pinged first (FIN + opcode 9)
        writer.close()


async def test_websocket_client_that_answers_pings_stays() -> None:
    async with running_hub(ping_interval=0.2, ping_timeout=0.2) as hub:
        async with await WsClient.open(f"ws://127.0.0.1:{hub.port}/ws") as client:
            await asyncio.sleep(1.2)
            assert (await client.request({"type": "ping", "id": 1})) == {"type": "pong", "id": 1}


async def test_connections_per_address_are_limited() -> None:
    async with running_hub(max_connections_per_address=3) as hub:
        kept = [await WsClient.open(f"ws://127.0.0.1:{hub.port}/ws") for _ in range(3)]
        with pytest.raises(InvalidStatus) as refused:
            await WsClient.open(f"ws://127.0.0.1:{hub.port}/ws")
        assert refused.value.response.status_code == 503
        assert b"too many connections from this address" in refused.value.response.body
        await kept[0].close()
        await asyncio.sleep(0.05)
        again = await WsClient.open(f"ws://127.0.0.1:{hub.port}/ws")
        for client in [*kept[1:], again]:
            await client.close()


async def test_expired_token_closes_the_open_connection() -> None:
    async with running_hub(auth_secret=SECRET) as hub:
        # Long enough to connect on a busy machine, short enough to wait out.
        token = make_token(SECRET, ["a/#"], ["a/#"], ttl=2.0, now=time.time())
        async with await WsClient.open(f"ws://127.0.0.1:{hub.port}/ws?token={token}") as client:
            assert (await client.request({"type": "subscribe", "subject": "a/#", "id": 1}))[
                "type"
            ] == "ack"
            answer = await client.recv(timeout=4)
            assert answer["code"] == "forbidden" and "expired" in answer["reason"]
            with pytest.raises(ConnectionClosed):
                await client.recv(timeout=3)
            assert client.ws.close_code == 4001


async def test_a_fresh_token_keeps_the_connection_and_may_narrow_it() -> None:
    async with running_hub(auth_secret=SECRET) as hub:
        # Long enough to connect on a busy machine; the test outlives it below.
        token = make_token(SECRET, ["a/#"], ["a/#", "b/#"], ttl=3.0, now=time.time())
        async with await WsClient.open(f"ws://127.0.0.1:{hub.port}/ws?token={token}") as client:
            for n, pattern in enumerate(("a/#", "b/#")):
                await client.request({"type": "subscribe", "subject": pattern, "id": n})
            bad = await client.request({"type": "auth", "token": "not.a.jwt", "id": 7})
            assert bad["code"] == "forbidden"
            fresh = make_token(SECRET, ["a/#"], ["a/#"], ttl=60, now=time.time())
            ack = await client.request({"type": "auth", "token": fresh, "id": 8})
            assert ack == {"type": "ack", "id": 8, "revoked": ["b/#"]}
            await asyncio.sleep(1.5)  # past the first token's exp
            assert (await client.request({"type": "ping", "id": 9}))["type"] == "pong"


async def test_require_exp_refuses_tokens_without_it() -> None:
    async with running_hub(auth_secret=SECRET, require_exp=True) as hub:
        token = make_token(SECRET, ["a/#"], ["a/#"], ttl=None)
        with pytest.raises(InvalidStatus) as refused:
            await WsClient.open(f"ws://127.0.0.1:{hub.port}/ws?token={token}")
        assert refused.value.response.status_code == 401
        assert b"'exp'" in refused.value.response.body


# -- real processes: descriptors and memory ---------------------------------------


def start_limited_hub(*args: str, nofile: int | None = None) -> tuple[subprocess.Popen[bytes], int]:
    command = [sys.executable, "-m", "earlgate", "hub", "--port", "0", *args]
    if nofile is not None:
        command = ["prlimit", f"--nofile={nofile}", "--", *command]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert process.stdout is not None
    match, early = wait_for_line(process, LISTEN_LINE, 15)
    assert match is not None, early.decode()
    return process, int(match.group(3))


def test_out_of_descriptors_pauses_accepting_and_recovers() -> None:
    process, port = start_limited_hub(nofile=96)
    output: list[bytes] = []
    drain = drain_in_background(process, output)
    held: list[socket.socket] = []
    try:
        for _ in range(150):  # more than the hub has descriptors for
            sock = socket.create_connection(("127.0.0.1", port), timeout=2)
            sock.send(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")  # never finished
            held.append(sock)
        time.sleep(0.5)
        hub = psutil.Process(process.pid)
        before = hub.cpu_times()
        time.sleep(1.0)
        after = hub.cpu_times()
        busy = (after.user + after.system) - (before.user + before.system)
        assert busy < 0.3, f"hub spun at {busy * 100:.0f} % CPU while out of descriptors"
        for sock in held:
            sock.close()
        held.clear()
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 200")
    finally:
        for sock in held:
            sock.close()
        stop_processes([process])
        drain.join(5)
        assert process.stdout is not None
        process.stdout.close()
    log = b"".join(output).decode()
    # One line per episode at the limit (not one per failed accept): the hub
    # may reach the limit again once its 10 s head timeout frees descriptors.
    pauses, resumes = log.count("accept paused"), log.count("accepting connections again")
    assert 1 <= pauses <= resumes + 1 and pauses <= 3, log[-2000:]
    assert "Traceback" not in log


def test_pipelined_requests_never_read_do_not_grow_memory() -> None:
    process, port = start_limited_hub()
    output: list[bytes] = []
    drain = drain_in_background(process, output)
    try:
        hub = psutil.Process(process.pid)
        before = hub.memory_info().rss
        request = b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n"
        with pipeline_unread(port, request, 30_000):
            time.sleep(1)
            start = hub.cpu_times()
            time.sleep(2)
            end = hub.cpu_times()
            grown = (hub.memory_info().rss - before) / 2**20
        # Without back-pressure the hub goes on rendering answers nobody reads
        # (at 100 % CPU, about 6 MiB more a second).
        busy = (end.user + end.system - start.user - start.system) / 2
        assert busy < 0.3, f"hub at {busy * 100:.0f} % CPU answering unread requests"
        assert grown < 5, f"hub RSS grew by {grown:.1f} MiB"
    finally:
        stop_processes([process])
        drain.join(5)
        assert process.stdout is not None
        process.stdout.close()


async def test_http_publish_is_counted_once() -> None:
    async with running_hub() as hub:
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
        body = b'{"type":"publish","subject":"a","id":1}'
        writer.write(
            b"POST /publish HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (len(body), body)
        )
        answer = await closed_within(reader, 3)
        assert answer.startswith(b"HTTP/1.1 200") and b'"ack"' in answer
        writer.close()
        assert hub.metrics.http_requests == 1


async def test_hub_client_refreshes_its_token() -> None:
    from earlgate.client import HubClient, HubError

    async with running_hub(auth_secret=SECRET) as hub:
        # Long enough to connect on a busy machine; the test outlives it below.
        token = make_token(SECRET, ["a/#"], ["a/#", "b/#"], ttl=3.0, now=time.time())
        url = f"ws://127.0.0.1:{hub.port}/ws"
        async with HubClient(url, token=token, reconnect=False) as client:
            await client.subscribe("b/#")
            with pytest.raises(HubError):
                await client.refresh_token("not.a.jwt")
            fresh = make_token(SECRET, ["a/#"], ["a/#"], ttl=60, now=time.time())
            assert await client.refresh_token(fresh) == ["b/#"]
            await asyncio.sleep(3.5)
            assert await client.ping() < 1 and client.token == fresh
