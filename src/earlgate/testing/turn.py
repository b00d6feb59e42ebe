"""A loopback TURN relay: Debian's coturn ``turnserver`` as a child process.

aioice never offers 127.0.0.1 host candidates, so two peers on a host with
only loopback addresses can meet only through a relay, with relay-only ICE
(``ice_transport_policy="relay"``). The flags are those of docs/rtc.md:
``--allow-loopback-peers`` lets the relay send to 127.0.0.1 and, in coturn
4.6.1, ``--no-cli`` is required.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field

from aiortc import RTCIceServer

from earlgate.children import stop_processes

__all__ = ["TurnError", "TurnServer", "start_turn"]

# RFC 5389 6: a Binding request carries the magic cookie after type and length.
STUN_BINDING_REQUEST = 0x0001
STUN_MAGIC_COOKIE = 0x2112A442


class TurnError(Exception):
    """coturn is missing or did not start; the message says why."""


@dataclass
class TurnServer:
    """A running ``turnserver`` on ``host``:``port`` (UDP) with one user."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    user: str
    password: str
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"turn:{self.host}:{self.port}?transport=udp"

    @property
    def ice_server(self) -> RTCIceServer:
        return RTCIceServer(self.url, self.user, self.password)

    def stop(self, timeout: float = 5.0) -> None:
        stop_processes([self.process], timeout=timeout)


def stun_answers(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether a STUN Binding request to ``host``:``port`` gets its answer."""
    request = struct.pack(">HHI", STUN_BINDING_REQUEST, 0, STUN_MAGIC_COOKIE) + os.urandom(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(request, (host, port))
            # The answer repeats the transaction id (bytes 8 to 20).
            return sock.recvfrom(2048)[0][8:20] == request[8:20]
        except OSError:
            return False


def _free_listening_port(host: str, tries: int = 50) -> int:
    """A port free for both UDP and TCP: coturn listens on both and, when
    the TCP one is taken, keeps retrying the bind and never answers on UDP."""
    for _ in range(tries):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise TurnError(f"no port on {host} was free for both UDP and TCP in {tries} tries")


def start_turn(
    host: str = "127.0.0.1",
    *,
    user: str = "earlgate",
    password: str = "earlgate",
    relay_ports: int = 100,
    timeout: float = 15.0,
) -> TurnServer:
    """Start coturn on ``host`` on a free UDP port and wait until it answers STUN.

    Relay addresses are taken from a random block of ``relay_ports`` ports
    above 50000, so that several relays on one host rarely collide.

    Raises:
        TurnError: ``turnserver`` is not installed, exited, or did not answer
            within ``timeout`` seconds.
    """
    turnserver = shutil.which("turnserver")
    if turnserver is None:
        raise TurnError("the loopback TURN relay needs coturn: apt-get install coturn")
    port = _free_listening_port(host)
    relay_low = random.randrange(50000, 65000 - relay_ports, relay_ports)
    args = [
        turnserver,
        "-n",
        f"--listening-ip={host}",
        f"--relay-ip={host}",
        f"--listening-port={port}",
        f"--min-port={relay_low}",
        f"--max-port={relay_low + relay_ports - 1}",
        "--lt-cred-mech",
        f"--user={user}:{password}",
        "--realm=earlgate.local",
        "--fingerprint",
        "--no-tls",
        "--no-dtls",
        "--no-cli",
        "--allow-loopback-peers",
        "--log-file=stdout",
        "--simple-log",
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TurnError(f"turnserver exited with status {process.returncode}")
        if stun_answers(host, port):
            return TurnServer(process, host, port, user, password, args)
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise TurnError(f"turnserver did not answer STUN on {host}:{port} within {timeout:g} s")
