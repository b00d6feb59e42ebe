"""Plots of the simulated ports' waveforms (``earlgate led plot``).

Uses matplotlib's object API with the Agg canvas, so it never opens a window
and never touches pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from earlgate.led.registers import NUM_PORTS, PORT_STATE_NAMES
from earlgate.led.simulator import SimulatedTCA6507

__all__ = ["plot_ports"]

_COLORS = {"red": "tab:red", "green": "tab:green", "blue": "tab:blue"}


def plot_ports(
    sim: SimulatedTCA6507,
    out: Path,
    *,
    t0: float,
    duration: float,
    step: float = 0.004,
    names: Mapping[int, str] | None = None,
    ports: Sequence[int] = range(NUM_PORTS),
) -> Path:
    """Draw each port's brightness from ``t0`` for ``duration`` s into a PNG.

    Args:
        sim: the simulated chip.
        out: the PNG to write.
        t0: clock time of the left edge (usually now).
        duration: seconds shown.
        step: sampling interval (4 ms: half the chip's 8 ms PWM period).
        names: port -> label such as ``"upper.red"``.
        ports: the ports to draw, one panel each.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = names or {}
    ports = list(ports)
    fig = Figure(figsize=(10, 1.2 * len(ports) + 0.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(ports), 1, sharex=True, squeeze=False)[:, 0]
    regs = sim.registers
    for ax, port in zip(axes, ports, strict=True):
        samples = sim.render(port, t0, t0 + duration, step)
        xs = [t - t0 for t, _ in samples]
        ys = [level for _, level in samples]
        label = labels.get(port, "unused")
        channel = label.rsplit(".", 1)[-1]
        ax.step(xs, ys, where="post", color=_COLORS.get(channel, "tab:gray"), linewidth=1.2)
        ax.set_ylim(-0.05, 1.05)
        ax.set_yticks([0, 0.5, 1])
        ax.set_ylabel(f"P{port}", rotation=0, ha="right", va="center")
        ax.text(
            1.0,
            0.5,
            f" {label}\n {PORT_STATE_NAMES[regs.ports[port]]}",
            transform=ax.transAxes,
            va="center",
            fontsize=8,
        )
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("time from now (s)")
    fig.suptitle("TCA6507 simulated outputs (PWM duty, 0-1)")
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out
