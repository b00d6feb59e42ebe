"""Servers a benchmark can run against, each started as its own pinned process.

``earlgate`` is our hub on asyncio's own loop; ``earlgate-uvloop`` the same on uvloop;
``earlgate-coalesce`` the uvloop hub with ``--coalesce-ms 2`` (docs/hub.md, "Where
the time goes"), to be measured beside it;
``picows-naive`` and ``websockets-naive`` are the library probes of
:mod:`earlgate.bench.naive_hubs`; ``thesis-node`` is the thesis's Node.js
server (``../shared/peers/thesis-node`` or ``$EARLGATE_THESIS_NODE``),
installed with ``npm install`` when its modules are missing.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request
from pathlib import Path

from earlgate.children import free_port, wait_listening
from earlgate.testing.npm import NpmError, npm_install
from earlgate.testing.processes import Child, spawn

TARGETS = (
    "earlgate",
    "earlgate-uvloop",
    "earlgate-coalesce",
    "picows-naive",
    "websockets-naive",
    "thesis-node",
)
COALESCE_TARGET_MS = 2.0  # earlgate-coalesce's --coalesce-ms


class TargetError(Exception):
    """A target server could not be installed or started; the message says why."""


def thesis_node_dir() -> Path:
    configured = os.environ.get("EARLGATE_THESIS_NODE")
    if configured:
        return Path(configured)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "peers" / "thesis-node"
        if candidate.is_dir():
            return candidate
    return Path("../shared/peers/thesis-node").resolve()


def ensure_thesis_node() -> Path:
    folder = thesis_node_dir()
    if not (folder / "app.js").is_file():
        raise TargetError(f"thesis-node not found at {folder} (set EARLGATE_THESIS_NODE)")
    try:
        npm_install(folder, [], lambda: (folder / "node_modules" / "websocket").is_dir())
    except NpmError as exc:
        raise TargetError(f"thesis-node: {exc}") from None
    return folder


def wait_port(child: Child, port: int, what: str, timeout: float = 30) -> None:
    """Until ``child`` accepts connections on loopback ``port``.

    Raises:
        TargetError: it exited first, or did not listen within ``timeout`` seconds.
    """
    failure = wait_listening(port, child.process.poll, what, timeout=timeout)
    if failure is not None:
        raise TargetError(failure)


class RunningTarget(Child):
    """A started target: where to connect, and our hub's ``/stats`` when it has one."""

    def __init__(self, child: Child, port: int, ws_url: str, stats_url: str | None = None) -> None:
        super().__init__(child.label, child.process)
        self.port = port
        self.ws_url = ws_url
        self.stats_url = stats_url

    @property
    def name(self) -> str:
        return self.label


def command_for(name: str, port: int, extra: list[str] | None = None) -> list[str]:
    python = sys.executable
    if name == "earlgate":
        hub = [python, "-m", "earlgate", "hub", "--no-uvloop", "--port", str(port)]
        return [*hub, *(extra or [])]
    if name in ("earlgate-uvloop", "earlgate-coalesce"):
        hub = [python, "-m", "earlgate", "hub", "--uvloop", "--port", str(port)]
        if name == "earlgate-coalesce":
            hub += ["--coalesce-ms", f"{COALESCE_TARGET_MS:g}"]
        return [*hub, *(extra or [])]
    if name in ("picows-naive", "websockets-naive"):
        library = name.split("-")[0]
        return [python, "-m", "earlgate.bench.naive_hubs", library, "--port", str(port)]
    if name == "thesis-node":
        folder = ensure_thesis_node()
        return ["node", str(folder / "app.js"), "--port", str(port), *(extra or [])]
    raise TargetError(f"unknown target {name!r}; choose from {', '.join(TARGETS)}")


def start_target(
    name: str, cpus: list[int] | None = None, extra: list[str] | None = None
) -> RunningTarget:
    """Start ``name`` on a free loopback port, pinned to ``cpus``, and wait until it answers."""
    port = free_port()
    command = command_for(name, port, extra)
    child = spawn(name, command, cpus)
    try:
        wait_port(child, port, f"{name} ({' '.join(command)})")
    except TargetError:
        child.stop(timeout=0)
        raise
    path = "/" if name == "thesis-node" else "/ws"
    stats_url = f"http://127.0.0.1:{port}/stats" if name.startswith("earlgate") else None
    return RunningTarget(child, port, f"ws://127.0.0.1:{port}{path}", stats_url)


def read_stats(url: str) -> dict[str, object]:
    import orjson

    context = None
    if url.startswith("https:"):  # a loopback hub with a throw-away certificate
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(url, timeout=5, context=context) as answer:
        value = orjson.loads(answer.read())
    return value if isinstance(value, dict) else {}
