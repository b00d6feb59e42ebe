"""Real ``redis-server`` processes for tests, on free loopback ports, never the default one."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

import pytest

from earlgate.children import free_port, wait_listening


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.fail(f"{program} is not installed: run `make system-deps` (scripts/system-deps.sh)")
    return path


@dataclass
class RedisServer:
    """One redis-server without persistence; ``stop``/``start`` keep its port."""

    port: int = field(default_factory=free_port)
    extra: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    folder: tempfile.TemporaryDirectory[str] = field(
        default_factory=lambda: tempfile.TemporaryDirectory(prefix="earlgate-redis-")
    )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        command = [need("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", self.folder.name, *self.extra]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        failure = wait_listening(self.port, self.process.poll, "redis-server", timeout=10)
        if failure is not None:
            raise RuntimeError(failure)
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def cli(self, *args: str) -> str:
        command = [need("redis-cli"), "-p", str(self.port), *args]
        return subprocess.run(command, capture_output=True, check=True, text=True).stdout

    def close(self) -> None:
        self.stop()
        self.folder.cleanup()
