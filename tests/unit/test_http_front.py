"""The HTTP front, bytes in and bytes out: timeouts, back-pressure, hostile input."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earlgate.server.http import HttpFront, HttpRequest, HttpResponse


class FakeTransport:
    """What HttpFront needs of a transport, recording what it is asked to do."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False
        self.reading = True

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


async def answer(request: HttpRequest) -> HttpResponse:
    return HttpResponse.json(200, {"path": request.path, "body": len(request.body)})


def front(**options: Any) -> tuple[HttpFront, FakeTransport, list[bytes]]:
    upgrades: list[bytes] = []
    settings = {"max_body": 1024, "head_timeout": 5.0, **options}
    protocol = HttpFront(answer, lambda transport, raw: upgrades.append(raw), **settings)
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport, upgrades


def responses(data: bytes) -> list[int]:
    """Status codes of the responses in ``data`` (their bodies are JSON lines)."""
    return [int(code) for code in re.findall(rb"^HTTP/1\.1 (\d{3}) ", bytes(data), re.M)]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_pipelined_requests_wait_while_the_client_does_not_read() -> None:
    protocol, transport, _ = front()
    protocol.data_received(b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n" * 100)
    assert transport.reading is False  # while the first answer is produced
    await settle()
    protocol.pause_writing()  # the transport's buffer is over its high-water mark
    await settle()
    assert transport.reading is False
    count = len(responses(transport.written))
    await settle()
    assert len(responses(transport.written)) == count  # nothing more while paused
    protocol.resume_writing()
    for _ in range(400):
        await asyncio.sleep(0)
    assert len(responses(transport.written)) == 100


async def test_each_request_gets_the_head_timeout_and_idle_gets_the_idle_timeout() -> None:
    protocol, transport, _ = front(head_timeout=0.1, idle_timeout=0.3)
    protocol.data_received(b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n")
    await settle()
    assert responses(transport.written) == [200]
    protocol.data_received(b"GET /b HTTP/1.1\r\n")  # a second request, never finished
    await asyncio.sleep(0.2)
    assert transport.closed and responses(transport.written) == [200, 408]
    protocol, transport, _ = front(head_timeout=0.1, idle_timeout=0.3)
    protocol.data_received(b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n")
    await asyncio.sleep(0.2)
    assert not transport.closed  # idle, within the idle timeout
    await asyncio.sleep(0.2)
    assert transport.closed


@pytest.mark.fuzz
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=64),
            st.sampled_from(
                [
                    b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n",
                    b"POST /p HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc",
                    b"POST /p HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
                    b"3\r\nabc\r\n0\r\n\r\n",
                    b"POST /p HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\n\r\n" + b"x" * 2000,
                    b"GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\n"
                    b"connection: upgrade\r\n\r\n",
                    b"\r\n",
                    b"GET / HTTP/1.1\r\n" + b"x-long: " + b"y" * 20_000 + b"\r\n\r\n",
                ]
            ),
        ),
        max_size=8,
    ),
    st.booleans(),
)
def test_any_bytes_get_answers_or_a_close_never_an_exception(
    chunks: list[bytes], eof: bool
) -> None:
    async def run() -> None:
        protocol, transport, upgrades = front()
        for chunk in chunks:
            if transport.closed or upgrades:
                break
            protocol.data_received(chunk)
            await settle()
        if eof and not transport.closed and not upgrades:
            protocol.eof_received()
            await settle()
        protocol.connection_lost(None)
        for status in responses(transport.written):
            assert status in (200, 400, 408, 413, 431), status

    asyncio.run(run())


async def test_head_gets_the_get_head_and_the_connection_stays_usable() -> None:
    protocol, transport, _ = front()
    protocol.data_received(b"HEAD /a HTTP/1.1\r\nhost: x\r\n\r\nGET /a HTTP/1.1\r\nhost: x\r\n\r\n")
    for _ in range(20):
        await asyncio.sleep(0)
    head, _, rest = bytes(transport.written).partition(b"\r\n\r\n")
    assert responses(transport.written) == [200, 200] and not transport.closed
    body = b'{"path":"/a","body":0}\n'
    assert f"content-length: {len(body)}".encode() in head
    assert rest.startswith(b"HTTP/1.1 200 ") and rest.endswith(body)  # HEAD wrote no body
