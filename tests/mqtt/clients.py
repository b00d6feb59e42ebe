"""Real MQTT clients against a real hub: Debian's mosquitto_pub/mosquitto_sub, and raw sockets."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.request
from dataclasses import dataclass

import pytest

from earlgate.children import drain_in_background
from earlgate.mqtt import packets as p
from earlgate.mqtt.codec import Decoder, encode
from polling import wait_for

MOSQUITTO_SUB = shutil.which("mosquitto_sub")
MOSQUITTO_PUB = shutil.which("mosquitto_pub")
needs_mosquitto = pytest.mark.skipif(
    MOSQUITTO_SUB is None or MOSQUITTO_PUB is None,
    reason="mosquitto_pub/mosquitto_sub missing: apt-get install mosquitto-clients",
)
VERSIONS = {p.V311: "mqttv311", p.V5: "mqttv5"}
FORMAT = "%r %q %t %p"  # retain flag, QoS, topic, payload


def subscriptions(http_url: str) -> int:
    with urllib.request.urlopen(f"{http_url}/stats", timeout=5) as answer:
        return int(json.load(answer)["totals"]["subscriptions"])


@dataclass
class Sub:
    """A running mosquitto_sub printing ``FORMAT`` lines."""

    process: subprocess.Popen[str]

    def lines(self, timeout: float = 10.0) -> list[str]:
        out, err = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, err
        return out.splitlines()

    def kill(self) -> None:
        self.process.kill()
        self.process.communicate(timeout=5)


def sub(
    hub_http: str,
    port: int,
    *topics: str,
    count: int,
    version: int = p.V311,
    qos: int = 0,
    extra: tuple[str, ...] = (),
    wait: bool = True,
) -> Sub:
    """Start mosquitto_sub; return once the hub holds its subscriptions."""
    before = subscriptions(hub_http)
    assert MOSQUITTO_SUB is not None
    args = [MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(port), "-V", VERSIONS[version]]
    args += ["-q", str(qos), "-C", str(count), "-W", "10", "-F", FORMAT, *extra]
    for topic in topics:
        args += ["-t", topic]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait:
        # Subscribed, or already done (retained values can be all it waited for).
        wait_for(
            "mosquitto_sub subscribed",
            lambda: (
                True
                if process.poll() is not None or subscriptions(hub_http) >= before + len(topics)
                else None
            ),
        )
    return Sub(process)


def pub(
    port: int,
    topic: str,
    message: str | None,
    *,
    version: int = p.V311,
    qos: int = 0,
    retain: bool = False,
    extra: tuple[str, ...] = (),
    file: str | None = None,
) -> None:
    """Run mosquitto_pub to completion: ``message``, the bytes of ``file``, or none."""
    assert MOSQUITTO_PUB is not None
    args = [MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(port), "-V", VERSIONS[version]]
    payload = ["-m", message] if message is not None else ["-f", file] if file else ["-n"]
    args += ["-t", topic, "-q", str(qos), *payload]
    if retain:
        args.append("-r")
    subprocess.run([*args, *extra], check=True, timeout=10, capture_output=True)


class LiveSub:
    """A mosquitto_sub run with ``-d``, read as it goes: its SUBACK tells that the hub it
    reached holds the subscriptions, which ``/stats`` cannot tell behind several workers."""

    opened: list[LiveSub] = []  # stopped after each test

    def __init__(
        self,
        port: int,
        *topics: str,
        version: int = p.V311,
        qos: int = 0,
        extra: tuple[str, ...] = (),
    ) -> None:
        assert MOSQUITTO_SUB is not None
        args = [MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(port), "-V", VERSIONS[version]]
        args += ["-d", "-q", str(qos), "-F", FORMAT, *extra]
        for topic in topics:
            args += ["-t", topic]
        # Line-buffered: -d's lines are printf'd, and a pipe would hold them back.
        self.process = subprocess.Popen(
            ["stdbuf", "-oL", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.output: list[bytes] = []
        self._drain = drain_in_background(self.process, self.output)
        LiveSub.opened.append(self)

    def lines(self) -> list[str]:
        return [line.decode(errors="replace").rstrip("\n") for line in list(self.output)]

    def subscribed(self) -> LiveSub:
        """Wait for the SUBACK (and say what it printed if it exited instead)."""
        wait_for(
            "mosquitto_sub got its SUBACK",
            lambda: True if any("received SUBACK" in line for line in self._checked()) else None,
        )
        return self

    def wait_messages(self, count: int, timeout: float = 10.0) -> list[str]:
        """At least ``count`` ``FORMAT`` lines received (the debug lines left out)."""

        def enough() -> list[str] | None:
            got = [line for line in self._checked() if not line.startswith(DEBUG_LINES)]
            return got if len(got) >= count else None

        return wait_for(f"{count} messages", enough, timeout)

    def _checked(self) -> list[str]:
        if self.process.poll() is not None:
            raise AssertionError(f"mosquitto_sub exited: {self.lines()}")
        return self.lines()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)
        self._drain.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


DEBUG_LINES = ("Client ", "Subscribed (mid")


class RawClient:
    """A socket and our codec: for bytes no library would send."""

    opened: list[RawClient] = []  # closed after each test

    def __init__(self, port: int, version: int = p.V5) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        RawClient.opened.append(self)
        self.decoder = Decoder(version=version)
        self.version = version

    def send(self, packet: p.Packet | bytes) -> None:
        raw = packet if isinstance(packet, bytes) else encode(packet, self.version)
        self.sock.sendall(raw)

    def connect(self, client_id: str = "raw", keep_alive: int = 0) -> p.Packet:
        self.send(p.Connect(self.version, client_id, True, keep_alive))
        return self.recv()

    def recv(self) -> p.Packet:
        while True:
            packet = self.decoder.next_packet()
            if packet is not None:
                return packet
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the hub")
            self.decoder.feed(data)

    def closed(self) -> bool:
        """Whether the hub closed the connection (after what it sent)."""
        try:
            return self.sock.recv(65536) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()
