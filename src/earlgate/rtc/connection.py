"""``DataConnection``: one PeerJS data connection on an aiortc RTCPeerConnection.

The thin I/O layer: signaling frames come in through :meth:`DataConnection.handle`
(already parsed by :mod:`earlgate.rtc.protocol`) and go out through the
``signal`` callable the :class:`~earlgate.rtc.peer.Peer` gives; values are
turned into frames by a codec of :mod:`earlgate.rtc.serialization`.

aiortc writes all its ICE candidates into the SDP (PEERJS.md: "aiortc puts all
its candidates in the SDP and accepts trickled remote ones"), so we never
trickle ours and add each remote ``CANDIDATE`` as it comes. Signaling messages
of one connection are handled in order by one task.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from earlgate.rtc import protocol
from earlgate.rtc.chunking import CLOSE_FRAME, CloseRequest
from earlgate.rtc.errors import ConnectionErrorType, DataConnectionError
from earlgate.rtc.events import EventEmitter, guarded
from earlgate.rtc.serialization import BinaryCodec, codec_for

__all__ = ["DataConnection"]

logger = logging.getLogger("earlgate.rtc")

_CLOSED = object()
# Received values kept for recv()/async for; past it the oldest are dropped, so
# that a connection read only through "data" handlers holds bounded memory.
MAX_QUEUE = 10_000
# Gathering again on a new RTCPeerConnection when one got no candidate: a TURN
# server answers 437 (allocation mismatch) when a new allocation comes from the
# local port of one it still holds, and aioice does not retry from another port.
GATHER_ATTEMPTS = 3


class DataConnection(EventEmitter):
    """A data connection to one remote peer.

    Events (``on(name, handler)``): ``open``, ``data`` (value), ``close``,
    ``error`` (:class:`~earlgate.rtc.errors.DataConnectionError`). Received
    values can also be read with ``async for value in connection`` or
    :meth:`recv`; both end when the connection closes. Values nobody reads
    are kept up to ``max_queue``, then the oldest are dropped (``dropped``).
    """

    def __init__(
        self,
        peer: str,
        *,
        connection_id: str,
        label: str,
        serialization: str,
        reliable: bool,
        metadata: Any,
        configuration: RTCConfiguration,
        signal: Callable[[str], None],
        ordered: bool | None = None,
        max_retransmits: int | None = None,
        max_packet_lifetime: int | None = None,
        max_queue: int = MAX_QUEUE,
        debug: bool = False,
    ) -> None:
        super().__init__()
        self.peer = peer
        self.connection_id = connection_id
        self.label = label
        self.serialization = serialization
        self.reliable = reliable
        self.metadata = metadata
        # PEERJS.md: "The channel is created with {ordered: !!reliable}".
        self.ordered = reliable if ordered is None else ordered
        self.max_retransmits = max_retransmits
        self.max_packet_lifetime = max_packet_lifetime
        self.debug = debug
        self.max_queue = max_queue
        self.dropped = 0  # received values dropped because nobody read them
        self._codec = codec_for(serialization)
        self._signal = signal
        self._configuration = configuration
        self.pc = self._new_pc()
        self.channel: RTCDataChannel | None = None
        self._opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inbox: deque[Any] = deque()
        self._inbox_ready = asyncio.Event()
        self._signals: asyncio.Queue[protocol.Event] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._closing = False
        self.closed = asyncio.Event()

    def _new_pc(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(self._configuration)
        pc.on("datachannel", guarded(self._on_datachannel))
        pc.on("connectionstatechange", guarded(self._on_state))
        return pc

    async def _start_over(self) -> None:
        """Drop a peer connection that gathered nothing (quietly) and make a new one."""
        old, channel = self.pc, self.channel
        old.remove_all_listeners()
        if channel is not None:
            channel.remove_all_listeners()
            self.channel = None
        await old.close()
        self.pc = self._new_pc()

    def __repr__(self) -> str:
        return f"<DataConnection {self.connection_id} to {self.peer} ({self.serialization})>"

    # -- state ------------------------------------------------------------------

    @property
    def open(self) -> bool:
        """Whether values can be sent (peerjs ``connection.open``)."""
        return (
            self._opened.done()
            and not self._opened.cancelled()
            and self._opened.exception() is None
            and not self._closing
        )

    @property
    def buffered_amount(self) -> int:
        """Bytes queued in the DataChannel, not yet sent."""
        return self.channel.bufferedAmount if self.channel is not None else 0

    async def wait_drained(self) -> None:
        """Wait until what was sent has left the channel's buffer (or it closed)."""
        channel = self.channel
        if channel is None or channel.bufferedAmount == 0 or self.closed.is_set():
            return
        drained = asyncio.Event()

        def low() -> None:
            if channel.bufferedAmount <= 0:
                drained.set()

        handler = guarded(low)
        channel.bufferedAmountLowThreshold = 0
        channel.on("bufferedamountlow", handler)
        channel.on("close", drained.set)
        try:
            await drained.wait()
        finally:
            channel.remove_listener("bufferedamountlow", handler)
            channel.remove_listener("close", drained.set)

    async def wait_open(self) -> None:
        """Wait until the channel opens.

        Raises:
            DataConnectionError: negotiation failed or the connection closed first.
            PeerError: ``peer-unavailable`` when the server says the peer is not there.
        """
        await asyncio.shield(self._opened)

    def _fail(self, error: Exception) -> None:
        if not self._opened.done():
            self._opened.set_exception(error)
            self._opened.exception()  # retrieved: whoever waits re-raises it
        self.emit("error", error)

    # -- negotiation ------------------------------------------------------------

    async def start_outgoing(self) -> None:
        """Create the channel and send the OFFER (peerjs Negotiator.startConnection)."""
        for attempt in range(GATHER_ATTEMPTS):
            if attempt:
                await self._start_over()
            channel = self.pc.createDataChannel(
                self.label,
                ordered=self.ordered,
                maxRetransmits=self.max_retransmits,
                maxPacketLifeTime=self.max_packet_lifetime,
            )
            self._attach(channel)
            await self.pc.setLocalDescription(await self.pc.createOffer())
            if _has_candidates(self.pc):
                break
        sdp = self._local_sdp()
        payload = protocol.offer_payload(
            sdp, self.connection_id, self.label, self.reliable, self.serialization, self.metadata
        )
        self._signal(protocol.encode(protocol.MessageType.OFFER, self.peer, payload))
        self._start_worker()

    async def start_incoming(self, sdp: str) -> None:
        """Answer an OFFER; the channel arrives with aiortc's ``datachannel`` event."""
        for attempt in range(GATHER_ATTEMPTS):
            if attempt:
                await self._start_over()
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            if _has_candidates(self.pc):
                break
        payload = protocol.answer_payload(self._local_sdp(), self.connection_id)
        self._signal(protocol.encode(protocol.MessageType.ANSWER, self.peer, payload))
        self._start_worker()

    def _local_sdp(self) -> str:
        """Our description, with every candidate aiortc gathered in it.

        Raises:
            DataConnectionError: ``negotiation-failed`` when there is none: ICE
                could never succeed, so say why now instead of timing out.
        """
        sdp: str = self.pc.localDescription.sdp
        if not _has_candidates(self.pc):
            raise DataConnectionError(
                ConnectionErrorType.NEGOTIATION_FAILED,
                "no local ICE candidates: the TURN server is unreachable or refused the "
                "credentials, or (policy 'all') this host has only loopback addresses, "
                "which aioice never offers",
            )
        return sdp

    def handle(self, event: protocol.Event) -> None:
        """Take an ANSWER or CANDIDATE for this connection (applied in order)."""
        self._signals.put_nowait(event)

    def _start_worker(self) -> None:
        if self._worker is None and not self._closing:
            self._worker = asyncio.create_task(self._apply_signals())

    async def _apply_signals(self) -> None:
        while True:
            event = await self._signals.get()
            try:
                if isinstance(event, protocol.Relayed):
                    answer = RTCSessionDescription(event.sdp, "answer")
                    await self.pc.setRemoteDescription(answer)
                elif isinstance(event, protocol.Candidate) and event.candidate:
                    # peerjs sends the browser's RTCIceCandidate: its candidate is
                    # the a= attribute's value, "candidate:..." (RFC 8839 5.1).
                    candidate = candidate_from_sdp(event.candidate.removeprefix("candidate:"))
                    candidate.sdpMid = event.sdp_mid
                    candidate.sdpMLineIndex = event.sdp_mline_index
                    if candidate.sdpMid is None and candidate.sdpMLineIndex is None:
                        candidate.sdpMLineIndex = 0
                    await self.pc.addIceCandidate(candidate)
            except Exception as exc:
                logger.warning("%r: cannot apply %s: %s", self, type(event).__name__, exc)
                if isinstance(event, protocol.Relayed):
                    self._fail(
                        DataConnectionError(
                            ConnectionErrorType.NEGOTIATION_FAILED, f"bad answer: {exc}"
                        )
                    )
                    await self.close()
                    return

    # -- aiortc events (every handler guarded) ---------------------------------

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if self.channel is not None:
            logger.warning("%r: a second data channel %r ignored", self, channel.label)
            return
        self._attach(channel)
        if channel.readyState == "open":
            self._on_open()

    def _attach(self, channel: RTCDataChannel) -> None:
        self.channel = channel
        channel.on("open", guarded(self._on_open))
        channel.on("message", guarded(self._on_message))
        channel.on("close", guarded(self._on_channel_close))

    def _on_open(self) -> None:
        if self._opened.done():
            return
        self._opened.set_result(None)
        if self.debug:
            logger.debug("%r open", self)
        self.emit("open")

    def _on_message(self, frame: bytes | str) -> None:
        try:
            result = self._codec.decode(frame)
        except ValueError as exc:
            logger.warning("%r: dropped a frame that is not %s: %s", self, self.serialization, exc)
            return
        if result is None:
            return
        if isinstance(result, CloseRequest):
            # BinaryPack._handleDataMessage: "if (peerData.type === 'close') this.close()"
            self._spawn_close()
            return
        if len(self._inbox) >= self.max_queue:
            self._inbox.popleft()
            self.dropped += 1
            if self.dropped == 1:
                logger.warning(
                    "%r: values not read; dropping the oldest past %d", self, self.max_queue
                )
        self._inbox.append(result.value)
        self._inbox_ready.set()
        self.emit("data", result.value)

    def _on_channel_close(self) -> None:
        self._spawn_close()

    def _on_state(self) -> None:
        state = self.pc.connectionState
        if self.debug:
            logger.debug("%r: connection state %s", self, state)
        if state == "failed":
            # Negotiator: "iceConnectionState is failed" → negotiation-failed, close.
            self._fail(
                DataConnectionError(
                    ConnectionErrorType.NEGOTIATION_FAILED,
                    f"negotiation of the connection to {self.peer} failed",
                )
            )
            self._spawn_close()
        elif state == "closed":
            self._spawn_close()

    def _spawn_close(self) -> None:
        if not self._closing:
            task = asyncio.ensure_future(self.close())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # -- data ---------------------------------------------------------------------

    def send(self, value: object) -> None:
        """Send one value with this connection's serialization.

        Raises:
            DataConnectionError: ``not-open-yet``, or ``message-too-big`` on a
                json connection.
            TypeError: the serialization cannot carry this value.
        """
        if not self.open or self.channel is None:
            raise DataConnectionError(
                ConnectionErrorType.NOT_OPEN_YET,
                f"connection to {self.peer} is not open",
            )
        for frame in self._codec.encode(value):
            self.channel.send(frame)

    async def recv(self) -> Any:
        """The next value received.

        Raises:
            DataConnectionError: ``connection-closed`` once closed and drained.
        """
        while not self._inbox:
            if self.closed.is_set():
                raise DataConnectionError(
                    ConnectionErrorType.CONNECTION_CLOSED, f"connection to {self.peer} closed"
                )
            self._inbox_ready.clear()
            await self._inbox_ready.wait()
        value = self._inbox.popleft()
        if value is _CLOSED:
            self._inbox.appendleft(value)
            raise DataConnectionError(
                ConnectionErrorType.CONNECTION_CLOSED, f"connection to {self.peer} closed"
            )
        return value

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while True:
            try:
                yield await self.recv()
            except DataConnectionError:
                return

    async def close(self, flush: bool = False) -> None:
        """Close the channel and the RTCPeerConnection.

        With ``flush`` on a binary connection, first send peerjs's close
        message so that a browser closes its side at once.
        """
        if self._closing:
            await self.closed.wait()
            return
        if flush and isinstance(self._codec, BinaryCodec) and self.open and self.channel:
            self.channel.send(CLOSE_FRAME)
        self._closing = True
        if not self._opened.done():
            self._fail(
                DataConnectionError(
                    ConnectionErrorType.CONNECTION_CLOSED,
                    f"connection to {self.peer} closed before it opened",
                )
            )
        if self._worker is not None and self._worker is not asyncio.current_task():
            self._worker.cancel()
        try:
            await self.pc.close()
        except Exception:
            logger.exception("%r: closing the RTCPeerConnection failed", self)
        self._inbox.append(_CLOSED)
        self._inbox_ready.set()
        self.closed.set()
        self.emit("close")


def _has_candidates(pc: RTCPeerConnection) -> bool:
    """Whether the local description carries at least one ICE candidate."""
    description = pc.localDescription
    return description is not None and "\r\na=candidate:" in description.sdp
