"""One WebSocket connection of the hub: picows frames in, the core's actions out.

:class:`HubListener` reassembles messages (picows hands over frames), gives the
session its write and close functions, and passes each complete message to
:meth:`Hub.handle_frame`, whose actions :class:`~earlgate.hub.effects.Effects`
carries out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from earlgate.hub.auth import Grants
from earlgate.hub.keepalive import Keepalive, Verdict
from earlgate.hub.session import Session, TokenBucket
from earlgate.server import MessageAssembler, MessageTooLarge, UnexpectedContinuation
from earlgate.server.batching import LineBatch
from earlgate.server.websocket import release_upgrade

if TYPE_CHECKING:
    from earlgate.hub.server import HubServer


class HubListener(WSListener):
    """One WebSocket connection: reassembles messages and feeds the hub core."""

    # No __dict__ per connection (picows's WSListener already takes weak references).
    __slots__ = (
        "_assembler",
        "_batch",
        "_grants",
        "_heard_at",
        "_peer",
        "_pinged_at",
        "_server",
        "_session",
        "_transport",
    )

    def __init__(
        self, server: HubServer, grants: Grants | None, peer: str, *, batch: bool = False
    ) -> None:
        super().__init__()
        self._server = server
        self._grants = grants
        self._peer = peer
        self._batch = (
            LineBatch(self._write, server.batches, server.config.batch_max_bytes) if batch else None
        )
        self._transport: WSTransport | None = None
        self._session: Session | None = None
        self._assembler = MessageAssembler(server.config.max_frame)
        keepalive = server.keepalive
        self._heard_at = keepalive.now if keepalive is not None else 0.0
        self._pinged_at: float | None = None  # an unanswered ping went out then

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        release_upgrade(transport)
        server = self._server
        config = server.config
        bucket = None
        if config.max_publish_rate > 0:
            rate = config.max_publish_rate
            bucket = TokenBucket(rate, rate, server.hub.clock())
        self._session = Session(
            self._write if self._batch is None else self._batch.add,
            self._close,
            send_buffer=config.send_buffer,
            policy=config.slow_consumer,
            grants=self._grants,
            bucket=bucket,
            name=self._peer,
        )
        server.listeners.add(self)
        server.effects.perform(server.hub.open_session(self._session))

    def _write(self, raw: bytes) -> None:
        transport = self._transport
        if transport is not None and not transport.is_close_frame_sent:
            transport.send(WSMsgType.TEXT, raw)

    def _close(self, code: int, reason: str) -> None:
        transport = self._transport
        if transport is None or transport.is_close_frame_sent:
            return
        if self._batch is not None:
            self._batch.flush()  # what was said before the close goes first
        transport.send_close(WSCloseCode(code), reason.encode())
        transport.disconnect()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        session = self._session
        if session is None:
            return
        keepalive = self._server.keepalive
        if keepalive is not None:
            self._heard_at = keepalive.now
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY or kind is WSMsgType.CONTINUATION:
            server = self._server
            try:
                message = self._assembler.feed(frame)
            except MessageTooLarge as exc:
                server.effects.perform(server.hub.frame_too_large(session, exc.size))
                return
            except UnexpectedContinuation:
                self._close(1002, "continuation frame without a message to continue")
                return
            if message is not None:
                actions = server.hub.handle_frame(session, message)
                if actions:
                    server.effects.perform(actions)
                if server.coalescer is not None:
                    server.coalescer.note()
        elif kind is WSMsgType.PONG:
            self._pinged_at = None
        elif kind is WSMsgType.CLOSE:
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code())
            transport.disconnect()

    def keep_alive(self, keepalive: Keepalive, now: float) -> None:
        """The keepalive sweep's visit: ping when idle, close when the pong is late."""
        transport = self._transport
        if transport is None or transport.is_close_frame_sent:
            return
        verdict = keepalive.verdict(self._heard_at, self._pinged_at, now)
        if verdict is Verdict.PING:
            transport.send_ping()
            self._pinged_at = now
        elif verdict is Verdict.CLOSE:
            reason = f"no pong within {keepalive.timeout:g} s"
            transport.send_close(WSCloseCode.GOING_AWAY, reason.encode())
            transport.disconnect(graceful=False)  # a peer that does not answer may not read

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        server = self._server
        server.forget(self)
        if self._session is not None:
            server.effects.perform(server.hub.close_session(self._session))
        self._transport = None

    def pause_writing(self) -> None:
        if self._session is not None:
            self._session.pause_writing()

    def resume_writing(self) -> None:
        if self._session is not None:
            self._session.resume_writing()

    def close_going_away(self) -> None:
        self._close(1001, "hub shutting down")
