"""The rtc bench's options, step results and their statistics (pure).

The energy figures are a **model**, not a measurement: the thesis's Nexus 4
drew 1195 mW idle and about 3 W more per fully busy core (Tables 3.8/3.9:
+500 mW at 17% CPU), from an 8 Wh battery; :func:`cpu_figures` applies it to
our CPU figures to estimate battery hours.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from earlgate.gateway.peering import PeerOptions
from earlgate.metrics.percentile import percentile

__all__ = [
    "GATEWAYS",
    "KINDS",
    "PHONE_BATTERY_WH",
    "PHONE_IDLE_MW",
    "PHONE_MW_PER_CORE",
    "BenchOptions",
    "Placement",
    "Series",
    "StepResult",
    "capacity",
    "counter_sum",
    "cpu_figures",
    "delay_stats",
    "histogram_stats",
]

KINDS = ("forward", "mux", "demux", "mesh")
# Who forwards: ``earlgate gateway`` in a child process, or the /gateway page in Chromium.
GATEWAYS = ("python", "browser")
# The thesis's phone (Table 3.2, 3.7.2.1.3): the model's constants.
PHONE_IDLE_MW = 1195.0
PHONE_MW_PER_CORE = 3000.0
PHONE_BATTERY_WH = 8.0


@dataclass
class BenchOptions:
    kind: str
    peering: PeerOptions
    peers_from: int = 5
    peers_to: int = 50
    step: int = 5
    step_duration: float = 300.0
    rate: float = 4.0
    size: int = 100
    connect_timeout: float = 60.0
    load_processes: int = 1  # processes per side (senders, receivers) of the load
    gateways: tuple[str, ...] = ("python",)  # each one a series of its own, side by side
    two_way: bool = False  # forward: each step also with every receiver answering
    browser_peers: int | None = None  # mesh with the browser: pages per step (None: all)
    gateway_cpu: int | None = None  # pin the gateway (all of Chromium's processes) to this CPU
    failure: str | None = None  # set when a step could not run; the ramp stops there
    # Per series (its label): why its ramp stopped early.
    failures: dict[str, str] = field(default_factory=dict)

    def steps(self) -> list[int]:
        return list(range(self.peers_from, self.peers_to + 1, self.step))

    def series(self) -> list[Series]:
        """The series each step is run as: each gateway, one-way then (``two_way``) two-way."""
        ways = (False, True) if self.two_way else (False,)
        return [Series(gateway, way) for gateway in self.gateways for way in ways]


@dataclass(frozen=True)
class Series:
    """One line of the report: who is the gateway, and whether receivers answer."""

    gateway: str = "python"
    two_way: bool = False

    @property
    def label(self) -> str:
        return f"{self.gateway} {'two-way' if self.two_way else 'one-way'}"


@dataclass
class StepResult:
    peers: int
    duration_s: float
    sent: int = 0  # messages (parts, for demux) the senders sent
    received: int = 0  # messages (parts, for mux) the receivers got
    bytes_in_per_s: float = 0.0  # into the gateway (what the senders sent)
    bytes_out_per_s: float = 0.0  # out of it (what the receivers got)
    delay_ms: dict[str, float] = field(default_factory=dict)
    processing_ms: dict[str, float] = field(default_factory=dict)
    cpu_percent: float = 0.0  # of one core, the gateway process (mesh: this process)
    load_cpu_percent: float = 0.0  # of one core, all the load side's processes together
    cpu_s_per_message: float = 0.0
    model_mw: float = 0.0
    model_battery_h: float = 0.0
    gateway: str = "python"  # which gateway forwarded (a GATEWAYS name)
    two_way: bool = False
    forwarded: int = 0  # messages the gateway handed on, by its own counters
    # two-way: answers the receivers sent back, answers the senders got, and their delays
    answered: int = 0
    answers: int = 0
    round_trip_ms: dict[str, float] = field(default_factory=dict)
    back_delay_ms: dict[str, float] = field(default_factory=dict)
    browser_peers: int = 0  # mesh: how many of the peers were browser pages

    @property
    def series(self) -> Series:
        return Series(self.gateway, self.two_way)

    def delivered_all(self) -> bool:
        """Every message (and, two-way, every answer) arrived."""
        return self.received == self.sent and self.answers == self.answered


@dataclass(frozen=True)
class Placement:
    """Where a step's processes run, and the signaling URL each of them uses.

    A prefix is a command the process is started under (``taskset -c 1``,
    ``ip netns exec NS``); an empty URL means the bench's ``--signal``.
    """

    gateway_prefix: tuple[str, ...] = ()
    sender_prefix: tuple[str, ...] = ()
    receiver_prefix: tuple[str, ...] = ()
    gateway_signal: str = ""
    sender_signal: str = ""
    receiver_signal: str = ""


def delay_stats(delays_ms: list[float]) -> dict[str, float]:
    if not delays_ms:
        return {"count": 0}
    ordered = sorted(delays_ms)
    return {
        "count": len(ordered),
        "mean": round(statistics.fmean(ordered), 3),
        "sd": round(statistics.pstdev(ordered), 3),
        "median": round(statistics.median(ordered), 3),
        "p99": round(percentile(ordered, 0.99), 3),
        "max": round(ordered[-1], 3),
    }


def counter_sum(metrics: str, name: str) -> float:
    """The sum over all labels of counter ``name`` in Prometheus ``metrics`` text."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith((f"{name}{{", f"{name} ")):
            total += float(line.split()[-1])
    return total


def histogram_stats(metrics: str, name: str) -> dict[str, float]:
    """Mean, median and p99 (ms) of a Prometheus histogram in ``metrics`` text."""
    buckets: list[tuple[float, float]] = []
    total = count = 0.0
    for line in metrics.splitlines():
        if line.startswith(f"{name}_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((math.inf if bound == "+Inf" else float(bound), float(line.split()[-1])))
        elif line.startswith(f"{name}_sum"):
            total = float(line.split()[-1])
        elif line.startswith(f"{name}_count"):
            count = float(line.split()[-1])
    if not count:
        return {"count": 0}

    def quantile(q: float) -> float:
        rank, low, below = q * count, 0.0, 0.0
        for bound, cumulative in buckets:
            if cumulative >= rank:
                if math.isinf(bound) or cumulative == below:
                    return low
                return low + (bound - low) * (rank - below) / (cumulative - below)
            low, below = bound, cumulative
        return low

    return {
        "count": count,
        "mean": round(total / count * 1e3, 4),
        "median": round(quantile(0.5) * 1e3, 4),
        "p99": round(quantile(0.99) * 1e3, 4),
    }


def capacity(results: list[StepResult], bound_ms: float) -> int:
    """The most peers of a step that delivered everything with p99 one-way < ``bound_ms``.

    0 when no step did. Steps count in order: past the first that failed, none.
    """
    best = 0
    for result in sorted(results, key=lambda r: r.peers):
        p99 = result.delay_ms.get("p99", math.inf) if result.delay_ms.get("count") else math.inf
        if not (result.sent > 0 and result.delivered_all() and p99 < bound_ms):
            break
        best = result.peers
    return best


def cpu_figures(result: StepResult, cpu_s: float, elapsed: float, messages: int) -> None:
    busy = cpu_s / elapsed if elapsed > 0 else 0.0
    result.cpu_percent = round(100.0 * busy, 2)
    result.cpu_s_per_message = cpu_s / messages
    # The model: the thesis phone's idle draw plus its draw per busy core.
    result.model_mw = round(PHONE_IDLE_MW + PHONE_MW_PER_CORE * busy, 1)
    result.model_battery_h = round(PHONE_BATTERY_WH * 1000.0 / result.model_mw, 2)
