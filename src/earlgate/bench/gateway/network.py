"""``earlgate bench rtc network``: network-layer vs application-layer forwarding (3.7.1).

The thesis's first WebRTC experiment, on the namespaces of
:mod:`earlgate.bench.gateway.testbed`. At each step the same traffic (K senders on
the sender host, each with a receiver on the receiver host, 100 characters
at 4 Hz) crosses the gateway host twice over:

- **network layer**: ``ip_forward=1`` on the gateway host and each sender
  opens its DataChannel straight to its receiver; the kernel routes it;
- **application layer**: ``ip_forward=0`` and each side connects to
  ``earlgate gateway`` on the gateway host, which forwards the messages.

One-way delay comes from the senders' timestamps (all namespaces share the
clock). Throughput is what the thesis captured with tcpdump: bytes per
second on the gateway host's two interfaces (IP packets, counted by the
kernel, sampled every second), into it from the sender and out of it to the
receiver. ICE uses host candidates only, no STUN or TURN: every packet
takes the path under test.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from earlgate.bench.driver import markdown_table, mean_sd
from earlgate.bench.gateway.loadprocess import LoadSideError
from earlgate.bench.gateway.options import BenchOptions, Placement, StepResult
from earlgate.bench.gateway.report import delay_table
from earlgate.bench.gateway.steps import forward_step
from earlgate.bench.gateway.testbed import NamespaceBed, exec_prefix, set_forwarding
from earlgate.rtc.errors import PeerError

__all__ = [
    "LAYERS",
    "LayerStep",
    "NetworkRun",
    "interface_bytes",
    "markdown",
    "per_second",
    "run_network_bench",
    "write_report",
]

LAYERS = ("network", "application")
SAMPLE_PERIOD = 1.0  # seconds between interface counter samples


def interface_bytes(ip_json: str) -> dict[str, tuple[int, int]]:
    """``{ifname: (rx_bytes, tx_bytes)}`` from ``ip -j -s link show``."""
    counters = {}
    for link in json.loads(ip_json):
        stats = link.get("stats64") or link.get("stats") or {}
        rx, tx = stats.get("rx", {}), stats.get("tx", {})
        counters[str(link["ifname"])] = (int(rx.get("bytes", 0)), int(tx.get("bytes", 0)))
    return counters


def per_second(samples: list[tuple[float, int]]) -> list[float]:
    """Rates (units per second) between consecutive ``(time, counter)`` samples."""
    return [
        (c1 - c0) / (t1 - t0)
        for (t0, c0), (t1, c1) in zip(samples, samples[1:], strict=False)
        if t1 > t0
    ]


class InterfaceSampler:
    """Every second, the gateway host's bytes in from the sender and out to the receiver."""

    def __init__(self, bed: NamespaceBed) -> None:
        self.bed = bed
        self.inbound: list[tuple[float, int]] = []  # rx on the sender-facing veth
        self.outbound: list[tuple[float, int]] = []  # tx on the receiver-facing veth

    async def sample(self) -> None:
        proc = await asyncio.create_subprocess_exec(
            "ip",
            "-n",
            self.bed.gateway_ns,
            "-j",
            "-s",
            "link",
            "show",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await proc.communicate()
        now = asyncio.get_running_loop().time()
        counters = interface_bytes(out.decode())
        self.inbound.append((now, counters[self.bed.veth("gs")][0]))
        self.outbound.append((now, counters[self.bed.veth("gr")][1]))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            await self.sample()
            due += SAMPLE_PERIOD
            await asyncio.sleep(max(0.0, due - loop.time()))


@dataclass
class LayerStep:
    layer: str
    result: StepResult
    inbound: list[float] = field(default_factory=list)  # bytes/s, one per second
    outbound: list[float] = field(default_factory=list)


@dataclass
class NetworkRun:
    steps: list[LayerStep] = field(default_factory=list)
    failure: str | None = None

    def layer(self, name: str) -> list[LayerStep]:
        return [step for step in self.steps if step.layer == name]


def placement(bed: NamespaceBed, port: int, cpus: tuple[int, int] | None) -> Placement:
    """Gateway host's processes on ``cpus[0]``, the sender and receiver hosts' on ``cpus[1]``."""

    def where(namespace: str, cpu: int | None) -> tuple[str, ...]:
        pin = ("taskset", "-c", str(cpu)) if cpu is not None else ()
        return (*exec_prefix(namespace), *pin)

    gateway_cpu, load_cpu = cpus if cpus is not None else (None, None)
    return Placement(
        gateway_prefix=where(bed.gateway_ns, gateway_cpu),
        sender_prefix=where(bed.sender_ns, load_cpu),
        receiver_prefix=where(bed.receiver_ns, load_cpu),
        gateway_signal=f"http://127.0.0.1:{port}/",
        sender_signal=f"http://{bed.gateway_sender_side}:{port}/",
        receiver_signal=f"http://{bed.gateway_receiver_side}:{port}/",
    )


async def run_network_bench(
    options: BenchOptions, workdir: Path, bed: NamespaceBed, where: Placement
) -> NetworkRun:
    """Each step at the network layer, then at the application layer, until one fails."""
    run = NetworkRun()
    for peers in options.steps():
        for layer in LAYERS:
            through_gateway = layer == "application"
            set_forwarding(bed, on=not through_gateway)
            sampler = InterfaceSampler(bed)
            try:
                result = await forward_step(
                    options,
                    peers,
                    workdir,
                    where,
                    through_gateway=through_gateway,
                    probe=sampler.run,
                    count_forwarded=False,
                )
            except (LoadSideError, PeerError, TimeoutError, OSError) as exc:
                run.failure = f"the {layer}-layer step at {peers} peers could not run: {exc}"
                print(f"  {layer:11s} {peers:4d} peers: {run.failure}", flush=True)
                return run
            step = LayerStep(
                layer, result, per_second(sampler.inbound), per_second(sampler.outbound)
            )
            run.steps.append(step)
            print(f"  {layer:11s} {peers:4d} peers: {_line(step)}", flush=True)
    return run


def _line(step: LayerStep) -> str:
    r, d = step.result, step.result.delay_ms
    text = (
        f"sent {r.sent}, received {r.received}, delay {d.get('mean', 0):.2f} ± "
        f"{d.get('sd', 0):.2f} ms (median {d.get('median', 0):.2f}, p99 {d.get('p99', 0):.2f}), "
        f"in {mean_sd(step.inbound)[0]:.0f} B/s, out {mean_sd(step.outbound)[0]:.0f} B/s"
    )
    if step.layer == "application":
        text += f", gateway CPU {r.cpu_percent:.1f}%"
    return text


def _throughput_table(steps: list[LayerStep]) -> list[str]:
    rows = []
    for step in steps:
        (rx, rx_sd), (tx, tx_sd) = mean_sd(step.inbound), mean_sd(step.outbound)
        rows.append([str(step.result.peers), f"{rx:.2f} ± {rx_sd:.2f}", f"{tx:.2f} ± {tx_sd:.2f}"])
    head = ["Peers", "Average received (bytes/s)", "Average sent (bytes/s)"]
    return markdown_table(head, rows, right=True)


def markdown(run: NetworkRun, options: BenchOptions) -> str:
    """Tables 3.3-3.6 of the thesis, and the ratios of the two layers."""
    network, application = run.layer("network"), run.layer("application")
    lines = [
        "### earlgate bench rtc network: network-layer vs application-layer forwarding "
        "(thesis Tables 3.3-3.6)",
        "",
        f"{options.step_duration:g} s per step and layer, {options.size}-character messages "
        f"at {options.rate:g} Hz per peer; three network namespaces joined by veth pairs, "
        "ICE host candidates only.",
        "",
        "One-way delay, network layer (kernel IP forwarding on the gateway host; Table 3.3)",
        "",
        *delay_table([step.result for step in network]),
        "",
        "One-way delay, application layer (`earlgate gateway` on the gateway host; Table 3.4)",
        "",
        *delay_table([step.result for step in application]),
        "",
        "Application layer / network layer",
        "",
    ]
    head = ["Peers", "Mean delay ratio", "Median ratio", "p99 ratio", "Gateway CPU (% of a core)"]
    head.append("Gateway CPU-µs per message")
    rows = []
    for net, app in zip(network, application, strict=False):
        n, a = net.result.delay_ms, app.result.delay_ms

        def ratio(key: str, a: dict[str, float] = a, n: dict[str, float] = n) -> str:
            return f"{a[key] / n[key]:.2f}×" if n.get(key) and a.get(key) else "—"

        rows.append(
            [str(app.result.peers), ratio("mean"), ratio("median"), ratio("p99")]
            + [f"{app.result.cpu_percent:.1f}", f"{app.result.cpu_s_per_message * 1e6:.0f}"]
        )
    lines += markdown_table(head, rows, right=True)
    lines += [
        "",
        "Throughput on the gateway host's interfaces, IP bytes per second sampled every "
        "second, received from the sender host and sent to the receiver host "
        "(network layer: Table 3.5)",
        "",
        *_throughput_table(network),
        "",
        "Throughput, application layer (Table 3.6)",
        "",
        *_throughput_table(application),
    ]
    if run.failure:
        lines += ["", f"Stopped: {run.failure}."]
    return "\n".join(lines) + "\n"


def plot(run: NetworkRun, path: Path) -> None:
    """One-way delay per layer and step (Figures 3.8/3.9), and the throughput (3.10-3.12)."""
    from earlgate.bench.plots import plt, save

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for layer, marker in zip(LAYERS, ("o", "s"), strict=True):
        steps = run.layer(layer)
        peers = [s.result.peers for s in steps]
        left.errorbar(
            peers,
            [s.result.delay_ms.get("mean", 0) for s in steps],
            yerr=[s.result.delay_ms.get("sd", 0) for s in steps],
            marker=marker,
            label=f"{layer} mean ± sd",
        )
        left.plot(
            peers,
            [s.result.delay_ms.get("p99", 0) for s in steps],
            marker=marker,
            linestyle=":",
            label=f"{layer} p99",
        )
        right.plot(peers, [mean_sd(s.outbound)[0] for s in steps], marker=marker, label=layer)
    left.set_xlabel("peers")
    left.set_ylabel("one-way delay (ms)")
    left.set_title("one-way delay")
    left.legend()
    right.set_xlabel("peers")
    right.set_ylabel("bytes/s to the receiver host")
    right.set_title("throughput")
    right.legend()
    figure.tight_layout()
    save(figure, path, dpi=100)


def write_report(run: NetworkRun, options: BenchOptions, out: Path) -> tuple[Path, Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "results.json"
    raw.write_text(json.dumps(_jsonable(run, options), indent=2))
    report = out / "report.md"
    report.write_text(markdown(run, options))
    figure = out / "network.png"
    plot(run, figure)
    return raw, report, figure


def _jsonable(run: NetworkRun, options: BenchOptions) -> dict[str, Any]:
    settings = {k: v for k, v in asdict(options).items() if k != "peering"}
    return {
        "kind": "network",
        "options": settings,
        "steps": [asdict(step) for step in run.steps],
        "failure": run.failure,
    }
