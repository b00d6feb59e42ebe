"""``earlgate led …``: drive the ball-probe's TCA6507 LED module, or its simulator.

Every command takes ``--bus /dev/i2c-N`` (default ``/dev/i2c-1``) or
``--simulate``. The simulated chip lives in a JSON state file between
commands (see :mod:`earlgate.led.simstate`; ``--state-file`` overrides).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from earlgate.bench.led.tracking import DEFAULT_LEVELS
from earlgate.bench.results import results_dir
from earlgate.cli import UsageError
from earlgate.cli._led_serve import EXIT_FAILED
from earlgate.cli._led_serve import add_arguments as add_serve_arguments
from earlgate.led import (
    BALL_PROBE,
    TCA6507,
    I2CError,
    LedModule,
    LedResourceError,
    LedUsageError,
    SimulatedTCA6507,
    open_bus,
)
from earlgate.led.registers import ADDRESS
from earlgate.led.simstate import default_state_path, load_simulator, save_simulator

# Exit status besides 0, 1 (EXIT_FAILED: bus or hub failure) and 2 (usage).
EXIT_REFUSED = 3

LEDS = tuple(BALL_PROBE.leds)


def _address(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an address: {text!r}") from None
    if not 0x03 <= value <= 0x77:
        raise argparse.ArgumentTypeError("a 7-bit I²C address is 0x03-0x77")
    return value


def _level(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a level is an integer 0-15, not {text!r}") from None
    if not 0 <= value <= 15:
        raise argparse.ArgumentTypeError(f"a level is 0-15, not {value}")
    return value


def _ms(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time in ms: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError("a time must be >= 0 ms")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "led",
        help="drive the TCA6507 LED module (real I²C bus or simulator)",
        description="Drive the ball-probe LED module: a TI TCA6507 on I²C with two RGB "
        "LEDs (lower = P1-P3, upper = P4-P6). Levels are 0-15 per channel. Use --bus "
        "/dev/i2c-N for the real chip or --simulate for the simulator, whose state is "
        "kept in a JSON file between commands.",
    )
    commands = parser.add_subparsers(dest="led_command", metavar="COMMAND")
    commands.required = True

    target = argparse.ArgumentParser(add_help=False)
    where = target.add_argument_group("chip")
    choice = where.add_mutually_exclusive_group()
    choice.add_argument("--bus", metavar="/dev/i2c-N", help="I²C bus device (default /dev/i2c-1)")
    choice.add_argument("--simulate", action="store_true", help="use the simulated chip")
    where.add_argument(
        "--state-file",
        type=Path,
        metavar="FILE",
        help=f"simulator state (default {default_state_path()})",
    )
    where.add_argument(
        "--address", type=_address, default=ADDRESS, help="chip address (default 0x45)"
    )
    loose = argparse.ArgumentParser(add_help=False)
    loose.add_argument(
        "--approximate",
        action="store_true",
        help="apply the nearest feasible request instead of refusing (not strict)",
    )

    def add(name: str, help_text: str, func: Callable[..., int], *parents: Any) -> Any:
        p = commands.add_parser(
            name, help=help_text, description=help_text, parents=[target, *parents]
        )
        p.set_defaults(func=lambda args: _run(args, func))
        return p

    p = add("set", "show a steady colour on one LED", _cmd_set, loose)
    p.add_argument("led", choices=LEDS)
    p.add_argument("color", type=_level, nargs=3, metavar=("R", "G", "B"))

    p = add(
        "blink", "blink one LED (one bank: times rounded to the chip's codes)", _cmd_blink, loose
    )
    p.add_argument("led", choices=LEDS)
    p.add_argument("color", type=_level, nargs=3, metavar=("R", "G", "B"))
    p.add_argument("--on", type=_ms, required=True, metavar="MS", help="fully-on time")
    p.add_argument("--off", type=_ms, required=True, metavar="MS", help="fully-off times")
    p.add_argument("--fade", type=_ms, default=0.0, metavar="MS", help="fade-on/off times")
    p.add_argument("--once", action="store_true", help="one period, then off (one-shot)")

    p = add("off", "turn one LED, or all, off", _cmd_off)
    p.add_argument("led", nargs="?", choices=(*LEDS, "all"), default="all")

    p = add("up", "one brightness step up on one LED", _cmd_step, loose)
    p.add_argument("led", choices=LEDS)
    p.set_defaults(delta=+1)
    p = add("down", "one brightness step down on one LED", _cmd_step, loose)
    p.add_argument("led", choices=LEDS)
    p.set_defaults(delta=-1)

    p = add("test-ports", "light each port P0-P6 in turn, then restore", _cmd_test_ports)
    p.add_argument("--delay", type=float, default=0.5, help="seconds per port (default 0.5)")

    p = add("test-count", "ramp the master level 0-15 on all ports, then restore", _cmd_test_count)
    p.add_argument("--delay", type=float, default=0.1, help="seconds per step (default 0.1)")
    p.add_argument("--cycles", type=int, default=1)

    p = add("show", "print the registers, decoded, and what each LED shows", _cmd_show)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add(
        "serve",
        "apply JSON commands from a hub subject; publish the state, retained",
        _cmd_serve,
        loose,
    )
    add_serve_arguments(p)

    p = add(
        "plot", "plot each port's waveform (simulated, or modelled from the registers)", _cmd_plot
    )
    p.add_argument("--out", type=Path, default=Path("led.png"), help="PNG to write")
    p.add_argument("--duration", type=_positive, default=6.5, help="seconds shown")
    p.add_argument("--step", type=_positive, default=0.004, help="sampling step, s")


def add_loop_bench(benches: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``earlgate bench led-loop``: registered by the bench command's parser."""
    p = benches.add_parser(
        "led-loop",
        help="the thesis's servo loop: brightness pattern → hub → LED → light sensor → hub",
        description="Send a brightness pattern through a hub to the simulated LED module, "
        "read it back with the simulated light sensor through the hub, and measure the "
        "emitter→detector latency and the tracking error (report, raw record, plot).",
    )
    p.add_argument("--hub", help="hub URL (default: start an earlgate hub on a free port)")
    p.add_argument("--steps", type=int, default=20, help="brightness steps sent (default 20)")
    p.add_argument("--step", type=_positive, default=0.5, help="seconds per step (default 0.5)")
    p.add_argument("--sample", type=_positive, default=0.01, help="sensor period, s (default 0.01)")
    p.add_argument("--noise", type=float, default=0.01, help="sensor noise, full scale 1.0")
    p.add_argument("--seed", type=int, default=1, help="seeds the sensor noise")
    p.add_argument(
        "--levels",
        default=",".join(map(str, DEFAULT_LEVELS)),
        help="the pattern, comma-separated levels 0-15, repeated",
    )
    p.add_argument("--out", type=Path, help="results folder (default results/led-loop-DATE)")
    p.add_argument(
        "--update-benchmarks", action="store_true", help="write the figures into BENCHMARKS.md"
    )
    p.set_defaults(func=_cmd_led_loop)


def _cmd_led_loop(args: argparse.Namespace) -> int:
    from earlgate.bench.led.command import run_loop_bench
    from earlgate.client import HubClientError

    try:
        levels = [_level(text.strip()) for text in args.levels.split(",")]
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"--levels: {exc}") from None
    if args.steps < 1 or args.noise < 0:
        raise UsageError("need --steps >= 1 and --noise >= 0")
    out = results_dir(args.out, "led-loop")
    try:
        run_loop_bench(
            args.hub,
            out,
            levels=levels,
            steps=args.steps,
            step_s=args.step,
            sample_s=args.sample,
            noise=args.noise,
            seed=args.seed,
            update=args.update_benchmarks,
        )
    except HubClientError as exc:
        print(f"earlgate bench led-loop: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


# -- opening the chip ----------------------------------------------------------


@dataclass
class _Session:
    chip: TCA6507
    sim: SimulatedTCA6507 | None


@contextlib.contextmanager
def _session(args: argparse.Namespace) -> Iterator[_Session]:
    """The chip the command talks to; a simulator's state is saved afterwards."""
    if args.simulate:
        path: Path = args.state_file or default_state_path()
        try:
            sim = load_simulator(path)
        except ValueError as exc:
            raise UsageError(f"{exc}; delete it or pass another --state-file") from None
        sim.address = args.address
        chip = TCA6507(sim, args.address)
        chip.load()
        try:
            yield _Session(chip, sim)
        finally:
            save_simulator(sim, path)
        return
    if args.state_file is not None:
        raise UsageError("--state-file goes with --simulate")
    bus = open_bus(args.bus or "/dev/i2c-1")
    try:
        chip = TCA6507(bus, args.address)
        chip.load()
        yield _Session(chip, None)
    finally:
        bus.close()


def _run(args: argparse.Namespace, command: Callable[[argparse.Namespace, _Session], int]) -> int:
    try:
        with _session(args) as session:
            return command(args, session)
    except LedUsageError as exc:
        raise UsageError(str(exc)) from None
    except LedResourceError as exc:
        print(f"earlgate led: refused, nothing changed: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except I2CError as exc:
        print(f"earlgate led: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _module(args: argparse.Namespace, session: _Session) -> LedModule:
    return LedModule(session.chip, strict=not getattr(args, "approximate", False))


# -- the commands ----------------------------------------------------------------


def _cmd_set(args: argparse.Namespace, session: _Session) -> int:
    state = _module(args, session).set_color(args.led, args.color)
    print(f"{args.led}: {state.describe()}")
    return 0


def _cmd_blink(args: argparse.Namespace, session: _Session) -> int:
    state = _module(args, session).blink(
        args.led, args.color, args.on, args.off, args.fade, once=args.once
    )
    print(f"{args.led}: {state.describe()}")
    return 0


def _cmd_off(args: argparse.Namespace, session: _Session) -> int:
    leds = _module(args, session)
    leds.off(args.led)
    for name, state in leds.states().items():
        print(f"{name}: {state.describe()}")
    return 0


def _cmd_step(args: argparse.Namespace, session: _Session) -> int:
    leds = _module(args, session)
    step = leds.brightness_up if args.delta > 0 else leds.brightness_down
    print(f"{args.led}: {step(args.led).describe()}")
    return 0


def _no_wait_if_simulated(session: _Session) -> None:
    if session.sim is not None:
        session.chip._sleep = lambda seconds: None


def _cmd_test_ports(args: argparse.Namespace, session: _Session) -> int:
    _no_wait_if_simulated(session)
    names = BALL_PROBE.port_names()
    for port in session.chip.test_ports(delay=args.delay):
        print(f"P{port} ({names.get(port, 'unused')}): on, off")
    return 0


def _cmd_test_count(args: argparse.Namespace, session: _Session) -> int:
    _no_wait_if_simulated(session)
    shown = session.chip.test_count(delay=args.delay, cycles=args.cycles)
    print("master level: " + " ".join(map(str, shown)))
    return 0


def _show_data(session: _Session) -> dict[str, Any]:
    regs = session.chip.registers
    states = LedModule(session.chip).states()
    return {
        "registers": regs.encode().hex(" "),
        "ports": list(regs.ports),
        "leds": {name: state.as_dict() for name, state in states.items()},
    }


def _cmd_show(args: argparse.Namespace, session: _Session) -> int:
    if args.json:
        print(json.dumps(_show_data(session)))
        return 0
    for line in session.chip.registers.describe():
        print(line)
    for name, state in LedModule(session.chip).states().items():
        print(f"{name}: {state.describe()}")
    return 0


def _cmd_serve(args: argparse.Namespace, session: _Session) -> int:
    from earlgate.cli._led_serve import serve

    on_change = None
    if session.sim is not None:
        sim, path = session.sim, args.state_file or default_state_path()

        def on_change() -> None:
            save_simulator(sim, path)

    return serve(args, _module(args, session), on_change)


def _cmd_plot(args: argparse.Namespace, session: _Session) -> int:
    from earlgate.led.plot import plot_ports

    sim = session.sim
    if sim is None:
        # Model the real chip: its registers in a simulator, patterns starting now.
        sim = SimulatedTCA6507(clock=time.time, address=session.chip.device.address)
        TCA6507(sim, sim.address).write_all(session.chip.registers)
    out = plot_ports(
        sim,
        args.out,
        t0=sim.clock(),
        duration=args.duration,
        step=args.step,
        names=BALL_PROBE.port_names(),
    )
    print(f"wrote {out}")
    return 0
