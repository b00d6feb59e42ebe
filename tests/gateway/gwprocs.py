"""Real processes for the gateway suite: ``earlgate signal``, ``earlgate gateway``, coturn.

Each listens on loopback on a free port, prints what it is, and is stopped by
the fixture or test that started it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from rtcprocs import TURN_PASS, TURN_USER, Turn, start_turn

from earlgate.children import drain_in_background, stop_processes, wait_for_line

SIGNAL_LINE = re.compile(rb"earlgate signal listening on (http://[^ ]+)")
GATEWAY_LINE = re.compile(rb"earlgate gateway (\S+) ready(?:.*metrics (http://\S+/metrics))?")


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    url: str
    metrics_url: str | None = None
    output: list[bytes] = field(default_factory=list)
    drain: threading.Thread | None = None

    def stop(self, timeout: float = 10.0) -> int:
        stop_processes([self.proc], timeout=timeout)
        if self.drain is not None:
            self.drain.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode

    @property
    def text(self) -> str:
        return b"".join(self.output).decode(errors="replace")


def _start(args: list[str], line: re.Pattern[bytes], timeout: float = 20.0) -> Process:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "earlgate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    match, seen = wait_for_line(proc, line, timeout)
    if match is None:
        raise RuntimeError(f"earlgate {args[0]} did not start: {seen.decode(errors='replace')}")
    found = Process(proc, match[1].decode())
    if match.lastindex and match.lastindex >= 2 and match[2]:
        found.metrics_url = match[2].decode()
    found.output.append(seen)
    found.drain = drain_in_background(proc, found.output)
    return found


def start_signal(port: int = 0) -> Process:
    """``earlgate signal`` on ``port`` (0: a free one); absent peers' offers expire after 1 s."""
    args = ["signal", "--host", "127.0.0.1", "--port", str(port), "--expire-timeout", "1"]
    return _start(args, SIGNAL_LINE)


def start_gateway(signal_url: str, turn: Turn, gateway_id: str, *args: str) -> Process:
    """``earlgate gateway`` with relay-only ICE through ``turn`` and /metrics on a free port."""
    command = ["gateway", "--id", gateway_id, "--signal", signal_url]
    command += ["--ice-server", turn.url, "--ice-username", TURN_USER]
    command += ["--ice-credential", TURN_PASS, "--relay-only", "--metrics-port", "0"]
    return _start([*command, *args], GATEWAY_LINE)


def start_wide_turn() -> Turn:
    """coturn on loopback with 1,000 relay ports: a mesh takes two per connection."""
    return start_turn(relay_ports=1000)


def start_slow_peer(
    signal_url: str, turn: Turn, peer_id: str, gateway: str
) -> subprocess.Popen[bytes]:
    """slowpeer.py: a peer in its own process, connected to ``gateway``, that a test can stop."""
    script = Path(__file__).with_name("slowpeer.py")
    args = [signal_url, turn.url, TURN_USER, TURN_PASS, peer_id, gateway]
    return subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
