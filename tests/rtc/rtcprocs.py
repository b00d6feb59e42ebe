"""The programs the WebRTC tests run: the signaling servers, coturn, npm modules.

Each runs on loopback on a free port and is stopped by the fixture that
started it. The npm packages (``peer`` 1.x, ``peerjs`` 1.5.x) are installed
once into a git-ignored cache folder.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from aiortc import RTCIceServer

ROOT = Path(__file__).resolve().parents[2]
NPM_DIR = ROOT / ".cache" / "rtc-npm"
NPM_PACKAGES = ("peer@1", "peerjs@1.5")
TURN_USER, TURN_PASS = "test", "test"


def npm_modules() -> Path:
    """``node_modules`` with ``peer`` and ``peerjs``, installed when missing."""
    modules = NPM_DIR / "node_modules"
    if (modules / "peer" / "dist" / "bin" / "peerjs.js").exists() and (
        modules / "peerjs" / "dist" / "peerjs.min.js"
    ).exists():
        return modules
    npm = shutil.which("npm")
    assert npm is not None, "npm is needed: bash scripts/system-deps.sh installs it"
    NPM_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--prefix", str(NPM_DIR), "--no-audit", "--no-fund", *NPM_PACKAGES],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return modules


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(check: object, what: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{what} did not start within {timeout} s")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    args: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


SERVER_KINDS = ("node", "earlgate")


def start_signal(kind: str, port: int | None = None, *, key: str = "peerjs") -> Server:
    """A PeerJS signaling server on 127.0.0.1: Node's PeerServer (npm ``peer``)
    or ``earlgate signal``; queued messages expire after one second."""
    port = port or free_port()
    if kind == "node":
        script = npm_modules() / "peer" / "dist" / "bin" / "peerjs.js"
        args = ["node", str(script), "--host", "127.0.0.1", "--port", str(port)]
        args += ["--key", key, "--expire_timeout", "1000"]
    elif kind == "earlgate":
        args = [sys.executable, "-m", "earlgate", "signal", "--host", "127.0.0.1"]
        args += ["--port", str(port), "--key", key, "--expire-timeout", "1"]
    else:
        raise ValueError(f"unknown signaling server {kind!r}")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    _wait(answers, f"{kind} signaling server", proc)
    return Server(proc, port, args)


@dataclass
class Turn(Server):
    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    @property
    def ice_server(self) -> RTCIceServer:
        return RTCIceServer(self.url, TURN_USER, TURN_PASS)


def _stun_answers(port: int) -> bool:
    # RFC 5389 6: a Binding request, the magic cookie and a transaction id.
    request = struct.pack(">HHI", 0x0001, 0, 0x2112A442) + os.urandom(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        try:
            sock.sendto(request, ("127.0.0.1", port))
            return sock.recvfrom(2048)[0][8:20] == request[8:20]
        except OSError:
            return False


def start_turn() -> Turn:
    """Debian's coturn on loopback with PEERJS.md's flags, long-term credentials."""
    turnserver = shutil.which("turnserver")
    assert turnserver is not None, "coturn is needed: bash scripts/system-deps.sh installs it"
    port = free_port(socket.SOCK_DGRAM)
    relay_low = random.randrange(50000, 60000, 100)
    args = [
        turnserver,
        "-n",
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        f"--listening-port={port}",
        f"--min-port={relay_low}",
        f"--max-port={relay_low + 99}",
        "--lt-cred-mech",
        f"--user={TURN_USER}:{TURN_PASS}",
        "--realm=earlgate.test",
        "--fingerprint",
        "--no-tls",
        "--no-dtls",
        "--no-cli",
        "--allow-loopback-peers",
        "--log-file=stdout",
        "--simple-log",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait(lambda: _stun_answers(port), "turnserver", proc)
    return Turn(proc, port, args)
