"""``earlgate bench browser``: what one Chromium page running earlgate.js keeps up with.

One page subscribed to N subjects (one ``bench/#`` subscription), each subject
published at ``rate`` Hz by publisher processes; for each N the bench records
the messages sent and received over the measured window, the publisher → page
latency (the page's clock minus the frame's ``published``, both wall-clock on
this machine) at p50/p99, and then the page's JS heap during a soak at the
last step's load. Goals (docs/browser.md): the bare client keeps up with
20,000 messages/s; the dashboard with 2,000 messages/s at p99 < 50 ms; no
memory growth.

The bare variant loads the hub's ``/healthz`` and imports ``/earlgate.js``;
``--page URL`` loads another page of the hub (the dashboard: ``/``) and
measures with a second client in that page, so the latency includes the time
the page's main thread spends drawing.

Entry points for the command line: :func:`add_arguments`,
:func:`options_from_args`, :func:`run_browser_bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from earlgate.bench.results import (
    command_line,
    machine_description,
    results_dir,
    utc_now,
    write_run,
)
from earlgate.children import drain_in_background, stop_processes, wait_for_line
from earlgate.metrics.percentile import percentile
from earlgate.testing.chromium import CHROMIUM, CHROMIUM_FLAGS

__all__ = [
    "BrowserBenchOptions",
    "add_arguments",
    "options_from_args",
    "run_browser_bench",
]

LISTEN_LINE = re.compile(rb"listening on (wss?)://([^:]+):(\d+)/ws")
# A step "keeps up" when the page got this share of what was sent in the window.
KEPT_UP_RATIO = 0.99

# The measuring client in the page: counts and latencies since the last take().
PAGE_SETUP = """
async ({url, pattern}) => {
  const eg = await import("/earlgate.js");
  const clock = () => performance.timeOrigin + performance.now();
  const bench = {received: 0, latencies: [], errors: 0};
  const client = new eg.HubClient(url, {queueSize: 10, subscriptionSize: 1});
  client.on("error", () => bench.errors++);
  await client.connected;
  const sub = await client.subscribe(pattern);
  sub.on("message", (m) => {
    bench.received++;
    bench.latencies.push(clock() - m.published);
  });
  bench.take = () => {
    const taken = {received: bench.received, latencies: bench.latencies, errors: bench.errors};
    bench.received = 0;
    bench.latencies = [];
    return taken;
  };
  window.earlgateBench = bench;
}
"""


@dataclass
class BrowserBenchOptions:
    subjects: list[int] = field(default_factory=lambda: [500, 1250, 2500, 5000])
    rate: float = 4.0  # Hz per subject
    duration: float = 20.0  # measured seconds per step
    warmup: float = 2.0  # seconds of load before each step's window
    soak: float = 600.0  # seconds of the last step's load while the heap is sampled; 0: none
    memory_every: float = 10.0
    publishers: int = 2  # publisher processes
    page: str | None = None  # a hub page path or URL (the dashboard: "/"); None: bare client
    hub: str | None = None  # ws:// URL of a running hub; None: start one
    out: Path | None = None
    update: bool = False
    plot: bool = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``earlgate bench browser``."""
    parser.add_argument(
        "--subjects",
        type=int,
        nargs="+",
        default=[500, 1250, 2500, 5000],
        help="subject counts, one step each (rate x subjects = messages/s)",
    )
    parser.add_argument("--rate", type=float, default=4.0, help="Hz per subject (default 4)")
    parser.add_argument("--duration", type=float, default=20.0, help="measured s per step")
    parser.add_argument("--warmup", type=float, default=2.0, help="s of load before measuring")
    parser.add_argument(
        "--soak", type=float, default=600.0, help="s of heap sampling at the last step (0: none)"
    )
    parser.add_argument("--memory-every", type=float, default=10.0, help="heap sample period s")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes")
    parser.add_argument(
        "--page",
        default=None,
        help="hub page to load instead of the bare client (the dashboard: /)",
    )
    parser.add_argument(
        "--hub", default=None, help="ws:// URL of a running hub (default: start one)"
    )
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    parser.add_argument("--update-benchmarks", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("--no-plot", dest="plot", action="store_false", help="skip the PNG")


def options_from_args(args: argparse.Namespace) -> BrowserBenchOptions:
    return BrowserBenchOptions(
        subjects=list(args.subjects),
        rate=args.rate,
        duration=args.duration,
        warmup=args.warmup,
        soak=args.soak,
        memory_every=args.memory_every,
        publishers=args.publishers,
        page=args.page,
        hub=args.hub,
        out=args.out,
        update=args.update_benchmarks,
        plot=args.plot,
    )


# -- publishers (separate processes, so the page competes only with the hub) --


def _publish(url: str, subjects: list[str], rate: float, stop_at: float) -> None:
    asyncio.run(_publish_loop(url, subjects, rate, stop_at))


async def _publish_loop(url: str, subjects: list[str], rate: float, stop_at: float) -> None:
    from earlgate.client import HubClient

    total_rate = rate * len(subjects)
    async with HubClient(url, queue_size=1_000_000) as client:
        started = time.monotonic()
        sent = 0
        while time.time() < stop_at:
            due = int((time.monotonic() - started) * total_rate)
            while sent < due:
                await client.publish(subjects[sent % len(subjects)], sent)
                sent += 1
            await asyncio.sleep(0.005)


@dataclass
class _Load:
    processes: Sequence[multiprocessing.process.BaseProcess]

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.join(5)


def _start_load(url: str, count: int, rate: float, publishers: int, seconds: float) -> _Load:
    subjects = [f"bench/{i:05d}" for i in range(count)]
    publishers = max(1, min(publishers, count))
    context = multiprocessing.get_context("spawn")
    stop_at = time.time() + seconds
    processes = [
        context.Process(target=_publish, args=(url, subjects[i::publishers], rate, stop_at))
        for i in range(publishers)
    ]
    for process in processes:
        process.start()
    return _Load(processes)


# -- the hub ---------------------------------------------------------------


@dataclass
class _Hub:
    ws_url: str
    http_url: str
    process: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.process is not None:
            stop_processes([self.process])
            if self.process.stdout is not None:
                self.process.stdout.close()


def _start_hub(given: str | None) -> _Hub:
    if given:
        http = re.sub(r"^ws", "http", given).removesuffix("/ws")
        return _Hub(given, http)
    process = subprocess.Popen(
        [sys.executable, "-m", "earlgate", "hub", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    match, seen = wait_for_line(process, LISTEN_LINE, 15.0)
    if match is None:
        stop_processes([process])
        raise RuntimeError(f"hub did not start: {seen.decode(errors='replace')}")
    drain_in_background(process, [])
    host, port = match[2].decode(), match[3].decode()
    return _Hub(f"ws://{host}:{port}/ws", f"http://{host}:{port}", process)


# -- measuring ---------------------------------------------------------------


def _summary(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {
        "p50": round(percentile(latencies, 0.50), 3),
        "p99": round(percentile(latencies, 0.99), 3),
        "max": round(max(latencies), 3),
    }


async def _take(page: Any) -> dict[str, Any]:
    taken: dict[str, Any] = await page.evaluate("window.earlgateBench.take()")
    return taken


async def _heap_mib(cdp: Any) -> float:
    await cdp.send("HeapProfiler.collectGarbage")
    metrics = await cdp.send("Performance.getMetrics")
    used = next(m["value"] for m in metrics["metrics"] if m["name"] == "JSHeapUsedSize")
    return float(used) / 2**20


async def _measure(options: BrowserBenchOptions, hub: _Hub) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    steps: list[dict[str, Any]] = []
    memory: list[dict[str, float]] = []
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_FLAGS)
        )
        try:
            page = await browser.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
            target = options.page or "/healthz"
            if not target.startswith("http"):
                target = hub.http_url + target
            await page.goto(target)
            await page.evaluate(PAGE_SETUP, {"url": hub.ws_url, "pattern": "bench/#"})
            cdp = await page.context.new_cdp_session(page)
            await cdp.send("Performance.enable")
            for index, count in enumerate(options.subjects):
                last = index == len(options.subjects) - 1
                soak = options.soak if last else 0.0
                seconds = options.warmup + options.duration + soak + 1.0
                load = _start_load(hub.ws_url, count, options.rate, options.publishers, seconds)
                try:
                    await asyncio.sleep(options.warmup)
                    await _take(page)
                    per_second: list[int] = []
                    latencies: list[float] = []
                    window_start = time.monotonic()
                    while time.monotonic() - window_start < options.duration:
                        await asyncio.sleep(min(1.0, options.duration))
                        taken = await _take(page)
                        per_second.append(int(taken["received"]))
                        latencies.extend(float(v) for v in taken["latencies"])
                    elapsed = time.monotonic() - window_start
                    received = sum(per_second)
                    offered = count * options.rate
                    rate = received / elapsed if elapsed else 0.0
                    steps.append(
                        {
                            "subjects": count,
                            "offered_per_s": offered,
                            "received": received,
                            "received_per_s": round(rate, 1),
                            "kept_up": rate >= KEPT_UP_RATIO * offered,
                            "latency_ms": _summary(latencies),
                            "per_second": per_second,
                        }
                    )
                    if soak > 0:
                        started = time.monotonic()
                        while time.monotonic() - started < soak:
                            await _take(page)
                            memory.append(
                                {
                                    "t_s": round(time.monotonic() - started, 1),
                                    "heap_mib": round(await _heap_mib(cdp), 3),
                                }
                            )
                            await asyncio.sleep(options.memory_every)
                        await _take(page)
                        memory.append(
                            {
                                "t_s": round(time.monotonic() - started, 1),
                                "heap_mib": round(await _heap_mib(cdp), 3),
                            }
                        )
                finally:
                    load.stop()
                await asyncio.sleep(0.5)
            final_heap = await _heap_mib(cdp)
        finally:
            await browser.close()
    kept = [s["offered_per_s"] for s in steps if s["kept_up"]]
    return {
        "variant": "page " + options.page if options.page else "bare client",
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()},
        "steps": steps,
        "max_kept_up_per_s": max(kept) if kept else 0.0,
        "memory": memory,
        "heap_growth_mib": round(memory[-1]["heap_mib"] - memory[0]["heap_mib"], 3)
        if len(memory) >= 2
        else None,
        "final_heap_mib": round(final_heap, 3),
        "page_errors": errors,
    }


def markdown(raw: dict[str, Any], command: str, machine: str, when: str) -> str:
    lines = [
        f"`{command}` on {machine}, {when}. Variant: {raw['variant']}; one `bench/#`",
        f"subscription, each subject at {raw['options']['rate']} Hz; latency = page clock",
        "minus the frame's `published` (one machine, one clock).",
        "",
        "| subjects | offered msg/s | received msg/s | kept up | p50 ms | p99 ms | max ms |",
        "|---:|---:|---:|:---:|---:|---:|---:|",
    ]
    for step in raw["steps"]:
        latency = step["latency_ms"]
        lines.append(
            f"| {step['subjects']} | {step['offered_per_s']:.0f} | {step['received_per_s']:.0f} "
            f"| {'yes' if step['kept_up'] else 'no'} | {latency['p50']:.2f} "
            f"| {latency['p99']:.2f} | {latency['max']:.2f} |"
        )
    lines += ["", f"Highest rate kept up with: {raw['max_kept_up_per_s']:.0f} messages/s."]
    if raw["memory"]:
        first, last = raw["memory"][0], raw["memory"][-1]
        lines.append(
            f"JS heap after GC: {first['heap_mib']:.1f} MiB at the soak's start, "
            f"{last['heap_mib']:.1f} MiB after {last['t_s']:.0f} s "
            f"(growth {raw['heap_growth_mib']:+.2f} MiB)."
        )
    if raw["page_errors"]:
        lines.append(f"Page errors: {len(raw['page_errors'])} (see raw.json).")
    return "\n".join(lines) + "\n"


def plot(raw: dict[str, Any], path: Path) -> None:
    from earlgate.bench.plots import plt, save

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    offered = [s["offered_per_s"] for s in raw["steps"]]
    left.plot(offered, [s["received_per_s"] for s in raw["steps"]], "o-", label="received")
    left.plot(offered, offered, "--", color="grey", label="offered")
    left.set_xlabel("offered messages/s")
    left.set_ylabel("messages/s")
    left.legend()
    left.set_title("rate kept up with")
    right.plot(offered, [s["latency_ms"]["p50"] for s in raw["steps"]], "o-", label="p50")
    right.plot(offered, [s["latency_ms"]["p99"] for s in raw["steps"]], "o-", label="p99")
    right.set_xlabel("offered messages/s")
    right.set_ylabel("publisher → page latency, ms")
    right.set_yscale("log")
    right.legend()
    right.set_title(raw["variant"])
    save(fig, path)


def run_browser_bench(options: BrowserBenchOptions) -> dict[str, Any]:
    """Run the bench; write raw.json, report.md (and browser.png) to the results folder.

    Returns:
        The raw results (also in raw.json): ``variant``, ``steps`` (per subject
        count: ``offered_per_s``, ``received``, ``received_per_s``, ``kept_up``,
        ``latency_ms`` p50/p99/max, ``per_second``), ``max_kept_up_per_s``,
        ``memory`` (heap samples), ``heap_growth_mib``, ``final_heap_mib``,
        ``page_errors``, ``options``, ``out``.
    """
    out = results_dir(options.out, "browser")
    out.mkdir(parents=True, exist_ok=True)
    hub = _start_hub(options.hub)
    try:
        raw = asyncio.run(_measure(options, hub))
    finally:
        hub.stop()
    raw["out"] = str(out)
    report = markdown(raw, command_line(), machine_description(), utc_now())
    figure = None
    if options.plot and raw["steps"]:
        plot(raw, out / "browser.png")
        figure = "browser.png"
    print(report)
    # One BENCHMARKS.md section per variant: the bare client, and each page.
    section = "browser" if options.page is None else f"browser page {options.page}"
    write_run(out, section, "Browser client benchmark", raw, report, figure, options.update)
    return raw
