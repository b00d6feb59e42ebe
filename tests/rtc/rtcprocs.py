"""The programs the WebRTC tests run: the signaling servers, coturn, npm modules.

Each runs on loopback on a free port and is stopped by the fixture that
started it. The npm packages (``peer`` 1.x, ``peerjs`` 1.5.x) are installed
once into a git-ignored cache folder.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from earlgate.children import free_port
from earlgate.testing.npm import npm_install
from earlgate.testing.turn import TurnServer
from earlgate.testing.turn import start_turn as _start_turn

ROOT = Path(__file__).resolve().parents[2]
NPM_DIR = ROOT / ".cache" / "rtc-npm"
NPM_PACKAGES = ("peer@1", "peerjs@1.5")
TURN_USER, TURN_PASS = "test", "test"


def npm_modules() -> Path:
    """``node_modules`` with ``peer`` and ``peerjs``, installed when missing."""
    modules = NPM_DIR / "node_modules"
    npm_install(
        NPM_DIR,
        NPM_PACKAGES,
        lambda: (
            (modules / "peer" / "dist" / "bin" / "peerjs.js").exists()
            and (modules / "peerjs" / "dist" / "peerjs.min.js").exists()
        ),
    )
    return modules


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


# The tests' relay is the package's (earlgate.testing.turn), with the tests' user.
Turn = TurnServer


def start_turn(relay_ports: int = 100) -> Turn:
    """Debian's coturn on loopback with PEERJS.md's flags, long-term credentials."""
    return _start_turn(user=TURN_USER, password=TURN_PASS, relay_ports=relay_ports)
