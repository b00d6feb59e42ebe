"""WebSocket connections after the HTTP front: the hand-off to picows and what
every listener of ours does the same way.

:func:`hand_to_websocket` gives an upgraded connection to picows;
:class:`MessageAssembler` turns data frames into whole, bounded messages;
:func:`refuse_upgrade` answers an upgrade with an HTTP error;
:func:`release_upgrade` frees what picows kept of an accepted one;
:class:`Drain` waits, bounded, for the last connection to close in a graceful
stop. The hub (:mod:`earlgate.hub.server`) and the signaling server
(:mod:`earlgate.signal.server`) build their listeners from these.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from picows import (
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)
from picows.picows import (  # type: ignore[attr-defined]  # not in the stubs
    WSAutoPingStrategy,
    WSProtocol,
)

__all__ = [
    "Drain",
    "MessageAssembler",
    "MessageTooLarge",
    "UnexpectedContinuation",
    "hand_to_websocket",
    "refuse_upgrade",
    "release_upgrade",
]

# picows gives every connection its own child Logger (about 1 KiB each) when
# handed a logging.Logger; an adapter over one shared logger is not one, so all
# connections log through it.
_picows_logger: logging.LoggerAdapter[logging.Logger] = logging.LoggerAdapter(
    logging.getLogger("picows.server")
)


READ_BUFFER = 2048  # bytes; picows's minimum initial read buffer


def hand_to_websocket(
    transport: asyncio.Transport,
    raw: bytes,
    listener_for: Callable[[WSUpgradeRequest], WSListener | WSUpgradeResponseWithListener],
    *,
    handshake_timeout: float,
    max_frame_size: int,
    ping_interval: float = 0.0,
    ping_timeout: float = 20.0,
) -> None:
    """Give an upgrade request's connection, and the bytes read so far, to picows.

    With ``ping_interval`` > 0, picows pings a connection that has sent
    nothing for that long and closes it when the pong is ``ping_timeout``
    late (RFC 6455 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send
    a Pong frame", which browsers and client libraries do by themselves). The
    read buffer starts at picows's smallest, 2 KiB, and doubles while frames
    fill it, so an idle connection holds 2 KiB of it (docs/hub.md, Memory per
    connection).
    """
    protocol = WSProtocol(
        None,
        None,
        False,
        listener_for,
        _picows_logger,
        True,  # disconnect on exception
        handshake_timeout,
        ping_interval > 0,  # auto ping
        ping_interval if ping_interval > 0 else 20.0,
        ping_timeout,
        WSAutoPingStrategy.PING_WHEN_IDLE,
        True,  # auto pong
        max_frame_size,
        None,
        READ_BUFFER,
    )
    protocol.connection_made(transport)
    transport.set_protocol(protocol)
    view = memoryview(raw)
    while view:
        buffer = protocol.get_buffer(len(view))
        size = min(len(buffer), len(view))
        buffer[:size] = view[:size]
        protocol.buffer_updated(size)
        view = view[size:]


def release_upgrade(transport: WSTransport) -> None:
    """Drop the upgrade's headers once the connection is open.

    picows keeps the upgrade request and its 101 response on the transport for
    the connection's life; their headers (about 1.5 KiB a connection) were read
    when the listener was chosen and are never read again.
    """
    for message in (transport.request, transport.response):
        if message is not None and hasattr(message, "headers"):
            del message.headers


class MessageTooLarge(Exception):
    """A message passes the listener's limit; ``size`` is how big it got."""

    def __init__(self, size: int) -> None:
        super().__init__(f"message of {size} bytes")
        self.size = size


class UnexpectedContinuation(Exception):
    """A continuation frame came with no fragmented message to continue."""


class MessageAssembler:
    """Whole messages out of one connection's data frames, at most ``max_size`` bytes.

    RFC 6455 5.4: "A fragmented message consists of a single frame with the FIN
    bit clear and an opcode other than 0, followed by zero or more frames with
    the FIN bit clear and the opcode set to 0, and terminated by a single frame
    with the FIN bit set and an opcode of 0."
    """

    __slots__ = ("_fragments", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._fragments: bytearray | None = None

    def feed(self, frame: WSFrame) -> bytes | None:
        """The message a TEXT, BINARY or CONTINUATION frame completes, or None for now.

        Raises:
            MessageTooLarge: the message passes ``max_size`` (a fragmented one
                is dropped).
            UnexpectedContinuation: a continuation with no message begun.
        """
        if frame.msg_type is not WSMsgType.CONTINUATION:
            if frame.payload_size > self.max_size:
                raise MessageTooLarge(frame.payload_size)
            if frame.fin:
                return frame.get_payload_as_bytes()
            self._fragments = bytearray(frame.get_payload_as_memoryview())
            return None
        fragments = self._fragments
        if fragments is None:
            raise UnexpectedContinuation
        size = len(fragments) + frame.payload_size
        if size > self.max_size:
            self._fragments = None
            raise MessageTooLarge(size)
        fragments += frame.get_payload_as_memoryview()
        if not frame.fin:
            return None
        self._fragments = None
        return bytes(fragments)


def refuse_upgrade(status: int, body: bytes, content_type: str) -> WSUpgradeResponseWithListener:
    """Answer an upgrade request with an HTTP error instead of a WebSocket."""
    response = WSUpgradeResponse.create_error_response(status, body, {"Content-Type": content_type})
    return WSUpgradeResponseWithListener(response, None)


class Drain:
    """A graceful stop's wait for the last open connection to close, bounded."""

    def __init__(self) -> None:
        self._all_closed: asyncio.Event | None = None

    async def wait_closed(self, open_now: int, grace: float) -> None:
        """Return once :meth:`closed` is told nothing is open, or after ``grace`` seconds."""
        if not open_now:
            return
        self._all_closed = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_closed.wait(), grace)

    def closed(self, open_now: int) -> None:
        """A connection closed; ``open_now`` are still open."""
        if not open_now and self._all_closed is not None:
            self._all_closed.set()
