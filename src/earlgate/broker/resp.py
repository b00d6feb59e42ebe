"""A Redis connection driven by callbacks, for the broker's hot path.

redis-py opens the connection (TCP, TLS or Unix socket, AUTH, SELECT); then
:meth:`RespChannel.take_over` moves its transport to this protocol, which
parses replies with hiredis as bytes arrive and hands each to a callback:
no task, future or ``await`` per message. Commands written during one
event-loop turn leave in one ``write``; replies come back in command order
(Redis answers each connection in order), so each command's callback is
matched first in, first out. On a pub/sub connection every reply goes to
``on_push`` instead.

redis-py stays in charge of everything else (scripts, streams, hashes).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

import hiredis
from redis.asyncio.connection import Connection

# What hiredis hands out for one RESP reply: an error (hiredis.ReplyError, or
# ConnectionGone when the connection went first) is a value, not raised.
Reply = bytes | int | list["Reply"] | None | Exception
OnReply = Callable[[Reply], None]


class ConnectionGone(ConnectionError):
    """The connection closed before Redis answered."""


class RespChannel(asyncio.Protocol):
    """Writes commands, batched per loop turn; reads replies and calls back in order."""

    def __init__(
        self,
        on_push: OnReply | None = None,
        on_lost: Callable[[BaseException | None], None] | None = None,
    ) -> None:
        self.on_push = on_push
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader()
        self._waiting: deque[OnReply | None] = deque()
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self._streams: tuple[object, object] | None = None

    @classmethod
    def take_over(
        cls,
        connection: Connection,
        on_push: OnReply | None = None,
        on_lost: Callable[[BaseException | None], None] | None = None,
    ) -> RespChannel:
        """Drive an open, authenticated redis-py connection with this protocol."""
        writer = connection._writer
        reader = connection._reader
        if writer is None or reader is None:
            raise ConnectionGone("redis connection is not open")
        channel = cls(on_push, on_lost)
        transport = writer.transport
        leftover = bytes(getattr(reader, "_buffer", b""))
        transport.set_protocol(channel)
        # The transport is ours now: redis-py must not close it when its
        # connection object is collected, nor asyncio when the stream writer
        # is (so the channel keeps the writer for as long as it lives).
        channel._streams = (reader, writer)
        connection._writer = None
        connection._reader = None
        channel.transport = transport  # type: ignore[assignment]
        if leftover:
            channel.data_received(leftover)
        if transport.is_closing():
            channel.connection_lost(None)
        return channel

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    # -- writing ----------------------------------------------------------

    def send(self, *args: bytes | str | int, on_reply: OnReply | None = None) -> None:
        """Queue one command; ``on_reply`` gets its reply (or a :class:`ConnectionGone`)."""
        if self.closed.done():
            if on_reply is not None:
                self._loop.call_soon(on_reply, ConnectionGone("redis connection closed"))
            return
        self._out.append(hiredis.pack_command(args))  # type: ignore[arg-type]  # stub: 1-tuple
        if self.on_push is None:
            self._waiting.append(on_reply)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        out, self._out = self._out, []
        if out and self.transport is not None and not self.closed.done():
            self.transport.write(b"".join(out))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # -- reading ----------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        push = self.on_push
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError:
                # Not Redis speaking: drop the connection (the broker reconnects).
                if self.transport is not None:
                    self.transport.abort()
                return
            if reply is False:
                return
            if push is not None:
                push(reply)
            elif self._waiting:
                callback = self._waiting.popleft()
                if callback is not None:
                    callback(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed.done():
            return
        self.closed.set_result(None)
        waiting, self._waiting = self._waiting, deque()
        gone = ConnectionGone(f"redis connection lost: {exc}" if exc else "redis connection closed")
        for callback in waiting:
            if callback is not None:
                callback(gone)
        if self.on_lost is not None:
            self.on_lost(exc)
