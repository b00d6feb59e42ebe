"""A step of the arm-probe mesh with browser pages among its peers (``mesh --gateway browser``).

The thesis's arm-probes ran in browsers. Here ``B`` of a step's ``K`` peers
are ``/arm?mesh=ID&n=K&i=k`` pages in one headless Chromium (the highest
indices, so that they dial the Python peers, which are up first), and the
others the Python mesh peers of the plain mesh bench, in a load process of
their own. Both send the same vibration messages
(:func:`earlgate.gateway.mesh.message_for`) and both measure one-way delays.

The pages send from the moment their links are open; the Python part starts
at a shared wall-clock time. So the step's window is the Python part's (from
its start to the end of its grace), and the pages' figures are the
differences of ``earlgateArm.stats()`` read at its two ends: the delays of
the messages they got in it (the last of their bounded ``delays_ms``), what
they sent and got. A message in flight at either end may count on one side
only: sent and received can differ by a few.
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


def page_window(before: dict[str, Any], after: dict[str, Any]) -> tuple[int, int, list[float]]:
    """What one page sent and received between two ``stats()``, and those messages' delays."""
    sent = int(after.get("sent", 0)) - int(before.get("sent", 0))
    got_before = sum(int(n) for n in before.get("received", {}).values())
    got_after = sum(int(n) for n in after.get("received", {}).values())
    received = got_after - got_before
    delays = [float(d) for d in after.get("delays_ms", [])]
    return sent, received, delays[max(0, len(delays) - received) :] if received > 0 else []


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
        for child in children:
            child.command(f"go {start_epoch:.6f}")
        await asyncio.sleep(max(0.0, start_epoch - time.time()))
        before = [await _stats(page) for page in pages]
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
    for first, last in zip(before, after, strict=True):
        sent, received, page_delays = page_window(first, last)
        result.sent += sent
        result.received += received
        delays.extend(page_delays)
    result.delay_ms = delay_stats(list(delays))
    cpu_figures(result, cpu, elapsed, max(1, result.sent))
    return result


async def _stats(page: Any) -> dict[str, Any]:
    stats: dict[str, Any] = await page.evaluate("() => earlgateArm.stats()")
    return stats
