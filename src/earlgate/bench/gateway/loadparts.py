"""The load side of a bench step: plans' shared settings, mesh processes, the floats they wrote.

Both mesh steps (all Python, and with browser pages among the peers) run their
Python peers the same way: ``mesh`` plans split over ``load_processes``
children, started together at a shared wall-clock time, each writing the
one-way delays it measured as float64s to its own file.
"""

from __future__ import annotations

import array
import asyncio
from pathlib import Path
from typing import Any

from earlgate.bench.gateway.loadplan import LoadPlan, split
from earlgate.bench.gateway.loadprocess import LoadProcess
from earlgate.bench.gateway.options import BenchOptions

__all__ = ["MESH_START_DELAY", "load_settings", "mesh_children", "read_floats"]

MESH_START_DELAY = 0.5  # s from "go" to the shared start, for every part to hear it


def load_settings(options: BenchOptions) -> dict[str, Any]:
    """What every load-side plan of a step shares: ICE, rate, size, duration."""
    p = options.peering
    return {
        "key": p.key,
        "ice_servers": list(p.ice_servers),
        "ice_username": p.ice_username,
        "ice_credential": p.ice_credential,
        "relay_only": p.relay_only,
        "rate": options.rate,
        "size": options.size,
        "duration": options.step_duration,
        "connect_timeout": options.connect_timeout,
    }


def mesh_children(
    options: BenchOptions, prefix: str, count: int, peers: int, step_dir: Path
) -> list[LoadProcess]:
    """Load processes for mesh peers ``PREFIX-0`` .. ``PREFIX-(count-1)`` of ``peers``.

    Each writes its delays to ``step_dir/delays-N.f64``; none when ``count`` is 0.
    """
    return [
        LoadProcess(
            LoadPlan(
                "mesh",
                options.peering.signal,
                names,
                mesh_peers=peers,
                delays_file=str(step_dir / f"delays-{index}.f64"),
                **load_settings(options),
            )
        )
        for index, names in enumerate(
            split([f"{prefix}-{i}" for i in range(count)], options.load_processes)
        )
        if names
    ]


async def read_floats(children: list[LoadProcess], which: str) -> array.array[float]:
    """The float64s ``children`` wrote to their plans' ``which`` file (delays_file...)."""
    values = array.array("d")
    for child in children:
        path = getattr(child.plan, which)
        assert path is not None
        values.frombytes(await asyncio.to_thread(Path(path).read_bytes))
    return values
