"""A step of the arm-probe mesh with browser pages among its peers (``mesh --gateway browser``).

The thesis's arm-probes ran in browsers. Here ``B`` of a step's ``K`` peers
are ``/arm?mesh=ID&n=K&i=k`` pages in one headless Chromium (the highest
indices, so that they dial the Python peers, which are up first), and the
others the Python mesh peers of the plain mesh bench, in a load process of
their own. Both send the same vibration messages
(:func:`earlgate.gateway.mesh.message_for`) and both measure one-way delays.

The pages send from the moment their links are open; the Python part starts
at a shared wall-clock time and sends for the step's duration. Everyone counts
by that window (``earlgateArm.countWindow`` in the pages, the same rule in
:mod:`earlgate.gateway.mesh`): what was sent in it, and the readings whose
``ts`` falls in it, whenever they arrive before the end of the grace. So sent
and received add up across the mesh, and any difference is a lost message.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from pathlib import Path
from typing import Any

from earlgate.bench.gateway.browsergw import ice_params, origin_of, wait_ready
from earlgate.bench.gateway.chromiumproc import BenchChromium
from earlgate.bench.gateway.loadparts import MESH_START_DELAY, mesh_children, read_floats
from earlgate.bench.gateway.options import BenchOptions, StepResult, cpu_figures, delay_stats
from earlgate.gateway.mesh import WINDOW_SLACK_S

__all__ = ["arm_url", "browser_mesh_step", "page_window"]

ANSWER_S = 30.0  # beyond the connect timeout, for the Python part to say it is ready
GRACE_S = 1.0  # the Python part's: counting goes on this long after its last send


def arm_url(options: BenchOptions, mesh: str, peers: int, index: int) -> str:
    """The ``/arm`` page of peer ``index`` of ``mesh``, on the signaling server's origin."""
    params = {
        "mesh": mesh,
        "n": str(peers),
        "i": str(index),
        "rate": f"{options.rate:g}",
        "size": str(options.size),
    }
    params |= ice_params(options.peering)
    return f"{origin_of(options.peering.signal)}/arm?{urllib.parse.urlencode(params)}"


def page_window(stats: dict[str, Any]) -> tuple[int, int, list[float]]:
    """What one page counted in its window (``stats().window``): sent, received, delays."""
    window = stats.get("window")
    if not isinstance(window, dict):
        raise RuntimeError(f"the page {stats.get('id')} has no counting window")
    delays = [float(d) for d in window.get("delays_ms", [])]
    return int(window.get("sent", 0)), int(window.get("received", 0)), delays


async def browser_mesh_step(options: BenchOptions, peers: int, workdir: Path) -> StepResult:
    """A full mesh of ``peers``: ``options.browser_peers`` pages (default all), the rest Python."""
    pages_n = min(options.browser_peers or peers, peers)
    python_n = peers - pages_n
    prefix = f"bm{peers}"
    step_dir = workdir / f"mesh-{peers}-browser-{pages_n}"
    step_dir.mkdir(parents=True, exist_ok=True)
    children = mesh_children(options, prefix, python_n, peers, step_dir)
    chromium = BenchChromium((), step_dir)
    try:
        await asyncio.gather(*(child.start() for child in children))
        await chromium.start()
        pages = [await chromium.new_page() for _ in range(pages_n)]
        await asyncio.gather(
            *(
                wait_ready(page, arm_url(options, prefix, peers, python_n + k), "earlgateArm", [])
                for k, page in enumerate(pages)
            ),
            *(child.event(options.connect_timeout + ANSWER_S) for child in children),
        )
        cpu_before = chromium.cpu_s() + sum(child.cpu_s() for child in children)
        started = time.monotonic()
        start_epoch = time.time() + MESH_START_DELAY
        end_epoch = start_epoch + options.step_duration + WINDOW_SLACK_S  # as the Python part
        window_ms = (start_epoch * 1000.0, end_epoch * 1000.0)
        for page in pages:
            await page.evaluate("([a, b]) => earlgateArm.countWindow(a, b)", list(window_ms))
        for child in children:
            child.command(f"go {start_epoch:.6f}")
        await asyncio.sleep(max(0.0, start_epoch - time.time()))
        if children:
            answers = await asyncio.gather(
                *(child.event(options.step_duration + GRACE_S + ANSWER_S) for child in children)
            )
        else:
            await asyncio.sleep(options.step_duration + GRACE_S)
            answers = []
        after = [await _stats(page) for page in pages]
        elapsed = time.monotonic() - started
        cpu = chromium.cpu_s() + sum(child.cpu_s() for child in children) - cpu_before
        delays = await read_floats(children, "delays_file")
        for page in pages:
            await page.evaluate("() => earlgateArm.close()")
    finally:
        await asyncio.gather(*(child.stop() for child in children))
        await chromium.close()
    result = StepResult(
        peers,
        options.step_duration,
        sum(int(a["sent"]) for a in answers),
        sum(int(a["received"]) for a in answers),
        gateway="browser",
        browser_peers=pages_n,
    )
    for last in after:
        sent, received, page_delays = page_window(last)
        result.sent += sent
        result.received += received
        delays.extend(page_delays)
    result.delay_ms = delay_stats(list(delays))
    cpu_figures(result, cpu, elapsed, max(1, result.sent))
    return result


async def _stats(page: Any) -> dict[str, Any]:
    stats: dict[str, Any] = await page.evaluate("() => earlgateArm.stats()")
    return stats
