"""The MQTT servers ``earlgate bench mqtt`` compares, each started pinned on free loopback ports.

- ``earlgate``: ``earlgate hub --mqtt-port`` as users run it (uvloop where
  installed); WebSocket subscribers use the hub's own protocol on ``/ws``.
- ``mosquitto``: Debian's C broker (``apt-get install mosquitto``) with a
  generated configuration (:func:`mosquitto_config`): anonymous, no
  persistence, MQTT on one port and MQTT over WebSocket on another, and the
  same per-client limits as the hub's defaults (20 QoS 1 messages in flight,
  1,000 queued). ``set_tcp_nodelay`` is on, as asyncio's sockets are, so
  neither server's latency includes Nagle's delay.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from earlgate.bench.targets import TargetError, wait_port
from earlgate.children import free_port
from earlgate.testing.processes import Child, spawn

__all__ = ["MOSQUITTO", "MQTT_TARGETS", "MqttServer", "find_mosquitto", "mosquitto_config"]

MQTT_TARGETS = ("earlgate", "mosquitto")
MOSQUITTO = "/usr/sbin/mosquitto"  # where Debian's package puts the broker
INFLIGHT = 20  # QoS 1 messages unacknowledged per client: the hub's --mqtt-max-inflight default
QUEUED = 1000  # QoS 1 messages queued per client: the hub's --mqtt-max-queued default


def mosquitto_config(mqtt_port: int, ws_port: int) -> str:
    """A ``mosquitto.conf`` for the bench: loopback listeners, nothing kept on disk."""
    return "\n".join(
        [
            "# Written by earlgate bench mqtt for one step; removed after it.",
            "per_listener_settings false",
            "allow_anonymous true",
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "max_connections -1",
            f"max_inflight_messages {INFLIGHT}",
            f"max_queued_messages {QUEUED}",
            "set_tcp_nodelay true",
            f"listener {mqtt_port} 127.0.0.1",
            f"listener {ws_port} 127.0.0.1",
            "protocol websockets",
            "",
        ]
    )


def find_mosquitto() -> str | None:
    """The broker's path, or None when it is not installed."""
    if Path(MOSQUITTO).is_file():
        return MOSQUITTO
    return shutil.which("mosquitto")


@dataclass
class MqttServer:
    """A started server: its MQTT URL, its WebSocket subscribers' URL and kind."""

    target: str
    child: Child
    mqtt_url: str
    ws_url: str
    ws_kind: str  # "hub-ws" (the hub's protocol) or "mqtt-ws" (MQTT over WebSocket)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def subscribers(self, kind: str) -> tuple[str, str]:
        """(subscriber kind for the load generator, URL) for ``mqtt`` or ``ws`` subscribers."""
        if kind == "mqtt":
            return "mqtt", self.mqtt_url
        if kind == "ws":
            return self.ws_kind, self.ws_url
        raise ValueError(f"unknown subscribers {kind!r}: mqtt or ws")

    def cpu_seconds(self) -> float:
        return self.child.cpu_seconds()

    def stop(self) -> None:
        self.child.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    @classmethod
    def start(cls, target: str, cpus: list[int] | None) -> MqttServer:
        """Start ``target`` pinned to ``cpus`` and wait until both its ports listen.

        Raises:
            TargetError: unknown, not installed, or it did not start.
        """
        mqtt_port, ws_port = free_port(), free_port()
        while ws_port == mqtt_port:
            ws_port = free_port()
        tmp = None
        if target == "earlgate":
            command = [sys.executable, "-m", "earlgate", "hub", "--host", "127.0.0.1"]
            command += ["--port", str(ws_port), "--mqtt-port", str(mqtt_port)]
            command += ["--log-level", "WARNING"]
            ws_url, ws_kind = f"ws://127.0.0.1:{ws_port}/ws", "hub-ws"
        elif target == "mosquitto":
            broker = find_mosquitto()
            if broker is None:
                raise TargetError("mosquitto is not installed: apt-get install mosquitto")
            tmp = tempfile.TemporaryDirectory(prefix="earlgate-bench-mosquitto-")
            config = Path(tmp.name) / "mosquitto.conf"
            config.write_text(mosquitto_config(mqtt_port, ws_port))
            command = [broker, "-c", str(config)]
            ws_url, ws_kind = f"ws://127.0.0.1:{ws_port}/", "mqtt-ws"
        else:
            raise TargetError(f"unknown target {target!r}; choose from {', '.join(MQTT_TARGETS)}")
        child = spawn(target, command, cpus)
        try:
            for port in (mqtt_port, ws_port):
                wait_port(child, port, f"{target} ({' '.join(command)})")
        except TargetError:
            child.stop(timeout=0)
            if tmp is not None:
                tmp.cleanup()
            raise
        return cls(target, child, f"mqtt://127.0.0.1:{mqtt_port}", ws_url, ws_kind, tmp)
