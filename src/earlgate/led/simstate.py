"""Where ``earlgate led … --simulate`` keeps the simulated chip between commands.

Each CLI invocation is a new process, so the simulator's registers and pattern
start times are saved as JSON after every command and loaded by the next:
``$XDG_RUNTIME_DIR/earlgate/led-sim.json`` when that directory exists (it is
per-user and emptied at logout, like a real chip losing power), else
``~/.cache/earlgate/led-sim.json``; ``--state-file`` overrides both. Times in
the file are wall-clock seconds (``time.time``), so a pattern keeps running
from one command to the next.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from earlgate.led.simulator import SimulatedTCA6507

__all__ = ["default_state_path", "load_simulator", "save_simulator"]

_FILE_NAME = "led-sim.json"


def default_state_path(environ: Mapping[str, str] | None = None) -> Path:
    """The state file: under ``$XDG_RUNTIME_DIR`` if set and present, else ``~/.cache``."""
    env = os.environ if environ is None else environ
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "earlgate" / _FILE_NAME
    home = Path(env.get("HOME") or Path.home())
    cache = Path(env.get("XDG_CACHE_HOME") or home / ".cache")
    return cache / "earlgate" / _FILE_NAME


def load_simulator(path: Path, clock: Callable[[], float] = time.time) -> SimulatedTCA6507:
    """The simulator saved at ``path``; a powered-up chip when there is none.

    Raises:
        ValueError: the file exists but does not hold a simulator state.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return SimulatedTCA6507(clock=clock)
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a simulator state")
    return SimulatedTCA6507.from_dict(state, clock=clock)


def save_simulator(sim: SimulatedTCA6507, path: Path) -> None:
    """Write the simulator's state to ``path`` atomically (write, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".led-sim.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(sim.to_dict(), f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
