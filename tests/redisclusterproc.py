"""A real Redis Cluster for tests: three masters on free loopback ports, no persistence."""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from redisproc import RedisServer, free_port, need


@dataclass
class RedisClusterNodes:
    """Three ``redis-server --cluster-enabled yes`` joined by ``redis-cli --cluster create``.

    ``stop``/``start`` keep ports and ``nodes-P.conf``, so the restarted nodes
    form the same cluster again (with its data lost).
    """

    count: int = 3
    folder: tempfile.TemporaryDirectory[str] = field(
        default_factory=lambda: tempfile.TemporaryDirectory(prefix="earlgate-cluster-")
    )
    nodes: list[RedisServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return "redis-cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> RedisClusterNodes:
        first = not self.nodes
        if first:
            for _ in range(self.count):
                port = free_port()
                extra = (
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", f"{self.folder.name}/nodes-{port}.conf",
                    "--cluster-port", str(free_port()),
                    "--cluster-node-timeout", "2000",
                )  # fmt: skip
                self.nodes.append(RedisServer(port=port, extra=extra, folder=self.folder))
        for node in self.nodes:
            node.start()
        if first:
            addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
            command = [need("redis-cli"), "--cluster", "create", *addresses]
            command += ["--cluster-replicas", "0", "--cluster-yes"]
            subprocess.run(command, capture_output=True, check=True, timeout=30)
        self.wait_ok()
        return self

    def wait_ok(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [n.cli("CLUSTER", "INFO") for n in self.nodes]
            if all("cluster_state:ok" in s for s in states):
                return
            time.sleep(0.05)
        raise RuntimeError(f"the cluster is not ok after {timeout} s")

    def cli(self, *args: str) -> str:
        """A command through ``redis-cli -c`` (follows redirections)."""
        command = [need("redis-cli"), "-c", "-p", str(self.nodes[0].port), *args]
        return subprocess.run(command, capture_output=True, check=True, text=True).stdout

    def flushall(self) -> None:
        for node in self.nodes:
            node.cli("FLUSHALL")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def close(self) -> None:
        self.stop()
        self.folder.cleanup()
