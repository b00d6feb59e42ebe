"""Real ``earlgate hub`` processes for tests: start on a free port, stop, keep output."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field

from earlgate.children import drain_in_background, stop_processes, wait_for_line

LISTEN_LINE = re.compile(rb"listening on (wss?)://([^:]+):(\d+)/ws")
MQTT_LINE = re.compile(rb"mqtt on mqtt://([^:]+):(\d+)")


@dataclass
class HubProcess:
    process: subprocess.Popen[bytes]
    scheme: str
    host: str
    port: int
    output: list[bytes] = field(default_factory=list)
    drain: threading.Thread | None = None
    mqtt_port: int | None = None  # with start_hub(mqtt=True)

    @property
    def ws_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"{'https' if self.scheme == 'wss' else 'http'}://{self.host}:{self.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        stop_processes([self.process], sig=sig, timeout=timeout)
        if self.drain is not None:
            self.drain.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def stop_clean(self, timeout: float = 10.0) -> None:
        """Stop, and fail if the hub logged a traceback at any time."""
        self.stop(timeout=timeout)
        output = b"".join(self.output)
        assert b"Traceback" not in output, output.decode(errors="replace")


def start_hub(*args: str, port: int = 0, timeout: float = 15.0, mqtt: bool = False) -> HubProcess:
    """Start ``earlgate hub`` (on a free port unless ``port``) and wait until it listens;
    with ``mqtt``, also on a free MQTT port (``HubProcess.mqtt_port``)."""
    if mqtt:
        args = (*args, "--mqtt-port", "0")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "earlgate",
            "hub",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    match, seen = wait_for_line(process, LISTEN_LINE, timeout)
    if match is None:
        raise RuntimeError(f"hub did not start: {seen.decode(errors='replace')}")
    hub = HubProcess(process, match[1].decode(), match[2].decode(), int(match[3]))
    if mqtt:
        found, more = wait_for_line(process, MQTT_LINE, timeout)
        if found is None:
            raise RuntimeError(
                f"hub did not listen for MQTT: {(seen + more).decode(errors='replace')}"
            )
        hub.mqtt_port = int(found[2])
    hub.drain = drain_in_background(process, hub.output)
    return hub
