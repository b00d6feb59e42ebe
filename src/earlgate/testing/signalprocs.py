"""Signaling servers as processes: ``earlgate signal`` and the real Node PeerServer.

The benchmark and the tests run both side by side with the same settings. The
Node PeerServer is npm's ``peer`` 1.x, installed with ``npm install`` into a
cache folder (``.cache/peerjs-server`` or ``$EARLGATE_PEER_SERVER_DIR``) the
first time it is needed, and started through a two-line launcher that passes
the options to ``PeerServer()`` and prints the port it got.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from earlgate.children import wait_for_line
from earlgate.testing.npm import NpmError, npm_install
from earlgate.testing.processes import Child, spawn

__all__ = [
    "PeerServerError",
    "ServerProcess",
    "SignalSettings",
    "ensure_peer_server",
    "peer_server_dir",
    "start_earlgate_signal",
    "start_node_peer_server",
]

PEER_PACKAGE = "peer@1"
LAUNCHER = """\
import { PeerServer } from "peer";
const options = JSON.parse(process.argv[2]);
// As bin/peerjs does: an unhandled "error" event must not end the server.
process.on("uncaughtException", (error) => console.error("Error: " + error.toString()));
PeerServer(options, (server) => console.log(`listening on port ${server.address().port}`));
"""
LISTEN_LINE = re.compile(rb"listening on (?:https?://[^ ]*:|port )(\d+)")


class PeerServerError(Exception):
    """The Node PeerServer cannot be installed or started; the message says why."""


@dataclass(frozen=True)
class SignalSettings:
    """What both servers are started with (seconds, as ``earlgate signal`` takes them)."""

    key: str = "peerjs"
    path: str = "/"
    allow_discovery: bool = False
    alive_timeout: float = 60.0
    expire_timeout: float = 5.0
    concurrent_limit: int = 5000

    def earlgate_args(self) -> list[str]:
        args = [
            "--key",
            self.key,
            "--path",
            self.path,
            "--alive-timeout",
            str(self.alive_timeout),
            "--expire-timeout",
            str(self.expire_timeout),
            "--concurrent-limit",
            str(self.concurrent_limit),
        ]
        return args + (["--allow-discovery"] if self.allow_discovery else [])

    def node_options(self) -> dict[str, object]:
        return {
            "key": self.key,
            "path": self.path,
            "allow_discovery": self.allow_discovery,
            "alive_timeout": int(self.alive_timeout * 1000),
            "expire_timeout": int(self.expire_timeout * 1000),
            "concurrent_limit": self.concurrent_limit,
        }


class ServerProcess(Child):
    """A running signaling server: its port and path, its output so far, its CPU and memory."""

    def __init__(
        self, name: str, process: subprocess.Popen[bytes], host: str, port: int, path: str
    ) -> None:
        super().__init__(name, process)
        self.host = host
        self.port = port
        self.path = path

    @property
    def name(self) -> str:
        return self.label

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def ws_url(self, peer_id: str | None, token: str | None, key: str | None = "peerjs") -> str:
        """The PeerJS socket URL; a None parameter is left out of the query."""
        base = self.path if self.path.endswith("/") else self.path + "/"
        query = "&".join(
            f"{name}={value}"
            for name, value in (("key", key), ("id", peer_id), ("token", token))
            if value is not None
        )
        return f"ws://{self.host}:{self.port}{base}peerjs?{query}"


def peer_server_dir() -> Path:
    configured = os.environ.get("EARLGATE_PEER_SERVER_DIR")
    return Path(configured) if configured else Path(".cache") / "peerjs-server"


def ensure_peer_server(folder: Path | None = None) -> Path:
    """Install npm's ``peer`` 1.x into ``folder`` unless there; return the folder.

    Raises:
        PeerServerError: node or npm is missing, or ``npm install`` failed
            (the message carries npm's last words).
    """
    folder = (folder or peer_server_dir()).resolve()
    try:
        npm_install(
            folder,
            [PEER_PACKAGE],
            lambda: (folder / "node_modules" / "peer" / "package.json").is_file(),
        )
    except NpmError as exc:
        raise PeerServerError(f"the Node PeerServer: {exc}") from None
    launcher = folder / "launch-peer-server.mjs"
    if not launcher.is_file() or launcher.read_text() != LAUNCHER:
        # written whole, then renamed: another test process may be reading it
        partial = launcher.with_name(f"{launcher.name}.{os.getpid()}")
        partial.write_text(LAUNCHER)
        partial.replace(launcher)
    return folder


def start_earlgate_signal(
    settings: SignalSettings,
    *extra: str,
    host: str = "127.0.0.1",
    cpus: list[int] | None = None,
    timeout: float = 20.0,
    prefix: tuple[str, ...] = (),
) -> ServerProcess:
    """Start ``earlgate signal`` on a free port and wait for its "listening on" line.

    ``prefix`` is a command to start it under, e.g. ``ip netns exec NS``.
    """
    command = [*prefix, sys.executable, "-m", "earlgate", "signal", "--host", host, "--port", "0"]
    command += [*settings.earlgate_args(), *extra]
    return _start("earlgate", command, host, settings.path, cpus, timeout)


def start_node_peer_server(
    settings: SignalSettings,
    host: str = "127.0.0.1",
    cpus: list[int] | None = None,
    timeout: float = 20.0,
) -> ServerProcess:
    """Start the real Node PeerServer with the same settings, on a free port."""
    folder = ensure_peer_server()
    options = {**settings.node_options(), "host": host, "port": 0}
    command = ["node", str(folder / "launch-peer-server.mjs"), json.dumps(options)]
    return _start("node-peer-server", command, host, settings.path, cpus, timeout)


def _start(
    name: str,
    command: list[str],
    host: str,
    path: str,
    cpus: list[int] | None,
    timeout: float,
) -> ServerProcess:
    child = spawn(name, command, cpus, piped=True, unbuffered=True)
    match, seen = wait_for_line(child.process, LISTEN_LINE, timeout)
    if match is None:
        raise PeerServerError(f"{name} did not start: {seen.decode(errors='replace')[-800:]}")
    server = ServerProcess(name, child.process, host, int(match[1]), path)
    server.keep_reading()
    return server
