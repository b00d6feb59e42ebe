"""``earlgate bench led-loop`` as one library call: a hub if none is given, the run, the report.

The command-line layer (:mod:`earlgate.cli.led`) checks the arguments and
calls :func:`run_loop_bench`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from earlgate.bench.led.loop import run_loop, write_report
from earlgate.bench.led.tracking import DEFAULT_LEVELS
from earlgate.bench.results import command_line, machine_description, update_benchmarks, utc_now

__all__ = ["run_loop_bench"]


def run_loop_bench(
    url: str | None,
    out: Path,
    *,
    levels: Sequence[int] = DEFAULT_LEVELS,
    steps: int = 20,
    step_s: float = 0.5,
    sample_s: float = 0.01,
    noise: float = 0.01,
    seed: int = 1,
    update: bool = False,
) -> str:
    """Run the loop through the hub at ``url`` (None: an ``earlgate hub`` started for it).

    Writes the raw record, the report and the plot into ``out``, prints the
    report and returns it; ``update`` also copies its figures into BENCHMARKS.md.

    Raises:
        earlgate.client.HubClientError: the hub could not be reached or went away.
    """
    command = command_line()
    hub = None
    if url is None:
        from earlgate.bench.targets import start_target

        hub = start_target("earlgate")
        url = hub.ws_url
    try:
        run = asyncio.run(
            run_loop(
                url,
                levels=levels,
                steps=steps,
                step_s=step_s,
                sample_s=sample_s,
                noise=noise,
                seed=seed,
            )
        )
    finally:
        if hub is not None:
            hub.stop()
    report = write_report(run, out, command)
    print(report)
    print(f"raw record, report and plot in {out}/")
    if update:
        body = report.split("\n", 2)[2]  # without the report's own heading
        update_benchmarks(
            "led-loop", f"Machine: {machine_description()}. Date: {utc_now()}.\n\n{body}"
        )
        print("BENCHMARKS.md updated")
    return report
