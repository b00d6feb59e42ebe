"""A simulated device that speaks MQTT, as an off-the-shelf sensor would (``earlgate demo``).

The demo's other devices are hub WebSocket clients; this one connects to the
hub's MQTT port with MQTT 3.1.1 (what an ESP32 sketch's PubSubClient speaks),
publishes its readings as JSON payloads at QoS 0 and answers nothing else, so
the dashboard shows an MQTT client beside the WebSocket ones and its subject
beside theirs. It uses the hub's own sans-I/O codec (:mod:`earlgate.mqtt.codec`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import orjson

from earlgate.devices.simulated import DeviceSpec
from earlgate.mqtt import packets as p
from earlgate.mqtt.codec import Decoder, encode
from earlgate.mqtt.reasons import MqttError

__all__ = ["MqttDeviceError", "run_mqtt_device"]

KEEP_ALIVE_S = 30  # what the device asks for; it publishes far more often
CONNECT_TIMEOUT_S = 5.0


class MqttDeviceError(Exception):
    """The MQTT device could not connect: the hub refused it or did not answer."""


async def run_mqtt_device(host: str, port: int, spec: DeviceSpec, stop: asyncio.Event) -> int:
    """Publish ``spec``'s readings over MQTT every ``period`` seconds until ``stop``.

    Returns how many were sent. Raises :class:`MqttDeviceError` when the CONNECT
    is refused or unanswered.
    """
    reader, writer = await asyncio.open_connection(host, port)
    decoder = Decoder(version=p.V311)
    try:
        writer.write(encode(p.Connect(client_id=spec.device_id, keep_alive=KEEP_ALIVE_S), p.V311))
        connack = await asyncio.wait_for(_next_packet(reader, decoder), CONNECT_TIMEOUT_S)
        if not isinstance(connack, p.ConnAck) or connack.reason != 0:
            raise MqttDeviceError(f"{spec.device_id}: the hub refused the CONNECT: {connack!r}")
        drain = asyncio.create_task(_discard(reader, decoder))
        try:
            return await _publish(writer, spec, stop)
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, MqttError):
                await drain
    except TimeoutError:
        raise MqttDeviceError(
            f"{spec.device_id}: no CONNACK within {CONNECT_TIMEOUT_S} s"
        ) from None
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.write(encode(p.Disconnect(), p.V311))
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def _publish(writer: asyncio.StreamWriter, spec: DeviceSpec, stop: asyncio.Event) -> int:
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    while not stop.is_set():
        now_ms = int(time.time() * 1000)
        data = spec.reading(loop.time() - start, now_ms).get("data")
        packet = p.Publish(spec.subject, orjson.dumps(data), retain=spec.retain)
        writer.write(encode(packet, p.V311))
        await writer.drain()
        sent += 1
        next_due = start + sent * spec.period
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(next_due - loop.time(), 0))
    return sent


async def _next_packet(reader: asyncio.StreamReader, decoder: Decoder) -> p.Packet:
    while (packet := decoder.next_packet()) is None:
        data = await reader.read(4096)
        if not data:
            raise MqttDeviceError("the hub closed the MQTT connection")
        decoder.feed(data)
    return packet


async def _discard(reader: asyncio.StreamReader, decoder: Decoder) -> None:
    """Read (and drop) what the hub sends, so its socket never backs up."""
    while data := await reader.read(4096):
        decoder.packets(data)
