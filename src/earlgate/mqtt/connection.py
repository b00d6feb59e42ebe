"""One MQTT connection, whatever carries its bytes: the plain TCP port or ``/mqtt``.

:class:`MqttConnection` feeds received bytes to the codec's
:class:`~earlgate.mqtt.codec.Decoder`, hands the first packet (a CONNECT) to
the bridge and every later one to the session, and writes through a bounded
:class:`~earlgate.mqtt.outbox.Outbox`. A malformed packet never raises out of
:meth:`feed`: before the CONNACK it is answered as 4.13 says (a CONNACK with
the reason in MQTT 5, return code 1 for an unknown protocol level in 3.1.1)
and the connection closed; after it, the session closes with a DISCONNECT
naming the fault (MQTT 5) and its will is published. A connection that sends
no CONNECT within ``handshake_timeout`` is closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from earlgate.hub.config import SlowConsumerPolicy
from earlgate.mqtt import packets as p
from earlgate.mqtt import reasons as r
from earlgate.mqtt.bridge import MqttBridge
from earlgate.mqtt.codec import Decoder
from earlgate.mqtt.outbox import Outbox
from earlgate.mqtt.reasons import MqttError
from earlgate.mqtt.session import MqttSession
from earlgate.mqtt.sessions import refusal

SLOW_CONSUMER = "slow_consumer"
TCP = "tcp"  # the MQTT port (plain or TLS)
WEBSOCKET = "websocket"  # /mqtt on the hub's WebSocket port


class MqttConnection:
    """The bytes of one client connection to and from its MQTT session.

    Args:
        bridge: the hub's MQTT sessions.
        write: hands bytes to the transport.
        close: closes the transport (after what was written).
        pause_reading, resume_reading: stop and restart reading the client
            (TCP), while what it made the hub answer is still unsent.
        transport: what carries the bytes, :data:`TCP` or :data:`WEBSOCKET`,
            as ``/stats`` shows it; by default :data:`TCP` where the carrier
            can pause reading (the MQTT port's), else :data:`WEBSOCKET`.
    """

    def __init__(
        self,
        bridge: MqttBridge,
        write: Callable[[bytes], None],
        close: Callable[[], None],
        pause_reading: Callable[[], None] | None = None,
        resume_reading: Callable[[], None] | None = None,
        transport: str | None = None,
    ) -> None:
        config = bridge.hub.config
        self.transport = transport or (TCP if pause_reading is not None else WEBSOCKET)
        self.bridge = bridge
        self.metrics = bridge.metrics
        self.decoder = Decoder(config.mqtt_max_packet_size)
        self.outbox = Outbox(write, config.send_buffer, config.slow_consumer)
        self.session: MqttSession | None = None
        self.closed = False
        self._close_transport = close
        self._pause_reading = pause_reading
        self._resume_reading = resume_reading
        self._reading_paused = False
        self._giving_up = False
        loop = asyncio.get_running_loop()
        self._connect_timer: asyncio.TimerHandle | None = loop.call_later(
            config.handshake_timeout, self._no_connect
        )

    # -- bytes in -----------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self.closed:
            return
        decoder = self.decoder
        decoder.feed(data)
        while not self.closed:
            try:
                packet = decoder.next_packet()
            except MqttError as exc:
                self._malformed(exc)
                return
            if packet is None:
                return
            self.metrics.received(packet.type)
            session = self.session
            if session is not None:
                self.bridge.received(session, packet)
            elif isinstance(packet, p.Connect):
                self._connect(packet)

    def _connect(self, packet: p.Connect) -> None:
        self._cancel_timer()
        self.session = self.bridge.connect(self, packet)
        if self.session is None:
            self.close()

    def _malformed(self, error: MqttError) -> None:
        session = self.session
        if session is not None:
            self.bridge.perform(session, session.protocol_error(error))
            return
        self.metrics.protocol_errors += 1
        version = self.decoder.version
        answer = refusal(version, error) if version is not None else None
        if answer is not None:
            self.metrics.connects_refused[f"0x{error.reason:02X}"] += 1
            self.metrics.sent(p.CONNACK)
            self.outbox.send(answer, False)
        self.close()

    def _no_connect(self) -> None:
        self._connect_timer = None
        if self.session is None:
            self.metrics.protocol_errors += 1
            self.close()

    # -- the bridge's link ----------------------------------------------------

    def write(self, raw: bytes, droppable: bool) -> None:
        if self.closed:
            return
        outbox = self.outbox
        dropped = outbox.send(raw, droppable)
        if dropped:
            self.metrics.outbox_dropped += dropped
            self.bridge.hub.metrics.drop(SLOW_CONSUMER, dropped)
        if outbox.over_limit:
            self._over_limit()

    def _over_limit(self) -> None:
        session = self.session
        if self.outbox.policy is SlowConsumerPolicy.DISCONNECT and session is not None:
            if not self._giving_up:  # the DISCONNECT written here comes back to this method
                self._giving_up = True
                reason = "slow consumer: send buffer limit exceeded"
                self.bridge.perform(session, session.close(r.QUOTA_EXCEEDED, reason))
            return
        if not self._reading_paused and self._pause_reading is not None:
            self._reading_paused = True  # until the client reads what it is owed
            self._pause_reading()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._cancel_timer()
        self.outbox.flush()
        self._close_transport()

    # -- the transport --------------------------------------------------------

    def lost(self) -> None:
        """The transport closed (either side)."""
        self.closed = True
        self._cancel_timer()
        if self.session is not None:
            self.bridge.lost(self, self.session, "connection lost")

    def pause_writing(self) -> None:
        self.outbox.pause()

    def resume_writing(self) -> None:
        self.outbox.resume()
        if self._reading_paused and not self.outbox.over_limit and self._resume_reading:
            self._reading_paused = False
            self._resume_reading()

    def _cancel_timer(self) -> None:
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
