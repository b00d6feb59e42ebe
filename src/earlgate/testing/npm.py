"""npm packages that tests and benches run beside ours (PeerServer, MQTT.js, the thesis's stack).

Each is installed into its own folder on first use. Several test processes
may ask for one folder at once (``make test`` runs the suite in parallel), so
the install holds an exclusive lock for that folder and looks again once it
has the lock: the first process installs, the others find it installed.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["NpmError", "npm_install"]


class NpmError(Exception):
    """npm is missing, or its install failed; the message carries npm's last words."""


def _lock_path(folder: Path) -> Path:
    # Beside no one's files: the folder may be a checkout we must not write in.
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"earlgate-npm-{digest}.lock"


def npm_install(
    folder: Path,
    packages: Sequence[str],
    installed: Callable[[], bool],
    *,
    timeout: float = 300.0,
) -> None:
    """``npm install packages`` into ``folder`` unless ``installed()`` already holds.

    With no ``packages``, installs what ``folder``'s own package.json asks for.

    Raises:
        NpmError: node or npm is missing, npm took over ``timeout`` seconds,
            or it failed.
    """
    if installed():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise NpmError("node and npm are needed: apt-get install nodejs npm")
    what = " ".join(packages) or f"the packages of {folder}/package.json"
    folder.mkdir(parents=True, exist_ok=True)
    with open(_lock_path(folder), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed():  # another process installed it while this one waited
            return
        command = [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund"]
        try:
            result = subprocess.run(
                [*command, *packages], capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise NpmError(f"npm install {what} took over {timeout:g} s") from None
    if result.returncode != 0 or not installed():
        raise NpmError(f"npm install {what} failed: {result.stderr[-800:]}")
