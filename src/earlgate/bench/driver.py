"""What every bench does the same way: cores, the measured loop, progress, tables, labels.

A bench is a list of things to measure (targets, cases, servers), one
measurement each, a report and raw results. The pieces here are the same for
all of them, so a figure means the same in every report:

- :func:`pinning` / :func:`pin_load_here`: the server's core and the load's;
- :func:`measure_each`: the loop over targets or cases, skipping one that
  cannot start (:class:`~earlgate.bench.targets.TargetError`) with a note;
- :func:`steady_load`: the load generator under a progress bar, with a
  snapshot of the servers' CPU when the steady seconds begin and at the end;
- :func:`progress`: the rich progress bar the benches show;
- :class:`Provenance`, :func:`markdown_table` and :func:`mean_sd`: the head
  line, the tables and the "mean ± sd" of every report (pure);
- :func:`role_of` and :func:`role_labels`: server processes named by what they
  are (``hub-1``, ``haproxy``), never by PID, so a column of a report holds
  one role in every step (pure).

The child-process handle (start pinned, CPU seconds, RSS, stop) is
:class:`~earlgate.bench.targets.Child`; results folders and BENCHMARKS.md
sections are :mod:`earlgate.bench.results`.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn

from earlgate.bench.results import machine_description, utc_now
from earlgate.bench.targets import TargetError

if TYPE_CHECKING:
    from earlgate.bench.loadgen import LoadResult

__all__ = [
    "Provenance",
    "markdown_table",
    "mean_sd",
    "measure_each",
    "pin_load_here",
    "pinning",
    "progress",
    "role_labels",
    "role_of",
    "steady_load",
]

T = TypeVar("T")
Row = TypeVar("Row")

NUMBERED_ROLES = ("hub",)  # numbered from 1 even when alone in their deployment's list


def pinning() -> tuple[list[int] | None, list[int] | None]:
    """Cores for the server and for the load generator (None: no pinning possible)."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None, None
    if len(cores) < 2:
        return None, None
    return [cores[0]], cores[1:]


def pin_load_here() -> tuple[list[int] | None, list[int] | None]:
    """:func:`pinning`, with this process (the load generator) moved to the load's cores."""
    server_cpus, load_cpus = pinning()
    if load_cpus:
        os.sched_setaffinity(0, load_cpus)
    return server_cpus, load_cpus


def measure_each(
    names: Iterable[str],
    measure: Callable[[str], Row],
    *,
    what: str = "",
    say: Callable[[str], None] = print,
    done: Callable[[Row], None] | None = None,
) -> list[Row]:
    """``measure(name)`` for each name in turn; one that cannot start is skipped.

    ``what`` prefixes the name in the skip note (``"case "``); ``done`` sees
    each row as soon as it is measured.
    """
    rows: list[Row] = []
    for name in names:
        try:
            row = measure(name)
        except TargetError as exc:
            say(f"skipped {what}{name}: {exc}")
            continue
        rows.append(row)
        if done is not None:
            done(row)
    return rows


def progress(
    console: Console, title: str, *, remaining: bool = True, transient: bool = True
) -> Progress:
    """``title``, a bar, the task's ``status`` field and (``remaining``) the time left."""
    columns: list[ProgressColumn] = [
        TextColumn(title),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
    ]
    if remaining:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console, transient=transient)


async def steady_load(
    url: str,
    publishers: int,
    period: float,
    duration: float,
    console: Console,
    title: str,
    snapshot: Callable[[], T],
    *,
    arrival: str = "slots",
    seed: int = 0,
) -> tuple[LoadResult, T | None, T]:
    """Run the load generator against ``url`` under a progress bar.

    ``arrival`` and ``seed`` pace the publishers (:mod:`earlgate.bench.arrival`;
    the original ``slots`` unless the caller reports another).
    Returns the load's result, ``snapshot()`` taken when the first second is
    over (the steady seconds start; None if the load never got there, so
    connection set-up is not counted) and ``snapshot()`` after the last one.
    """
    from earlgate.bench.loadgen import run_load

    before: list[T] = []
    with progress(console, f"[bold]{title}[/bold] {publishers}×{1 / period:g} Hz") as bar:
        task = bar.add_task("run", total=duration, status="connecting")

        def on_second(sample: dict[str, Any]) -> None:
            if sample["second"] == 1:
                before.append(snapshot())
            bar.update(
                task,
                advance=1,
                status=f"{sample['received']} msg/s p99 {sample['latency_ms']['p99']:.1f} ms",
            )

        result = await run_load(
            url, publishers, period, duration, on_second=on_second, arrival=arrival, seed=seed
        )
        after = snapshot()
    return result, (before[0] if before else None), after


@dataclass(frozen=True)
class Provenance:
    """On what, when and by which command a report's figures were measured."""

    machine: str
    when: str
    command: str

    @classmethod
    def now(cls, command: str) -> Provenance:
        return cls(machine_description(), utc_now(), command)

    def line(self) -> str:
        """The first line of every report."""
        return f"Machine: {self.machine}. Date: {self.when}. Command: `{self.command}`."

    def raw(self) -> dict[str, str]:
        """The keys every ``raw.json`` starts with."""
        return {"machine": self.machine, "date": self.when}


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation of ``values``; (0, 0) for none."""
    if not values:
        return 0.0, 0.0
    return statistics.fmean(values), statistics.pstdev(values)


def markdown_table(
    head: Sequence[str], rows: Iterable[Sequence[str]], *, right: bool = False
) -> list[str]:
    """The lines of a Markdown table (``right``: numbers aligned right)."""
    rule = "---:|" if right else "---|"
    return [_row(head), "|" + rule * len(head), *(_row(cells) for cells in rows)]


def _row(cells: Sequence[str]) -> str:
    """``| a | b |``; an empty cell is one space wide (``| | b |``)."""
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def role_of(name: str, command: Sequence[str]) -> str:
    """What a server process is, from its name and command line.

    ``redis-server``, ``haproxy``, ``node``, ``hub`` (an ``earlgate hub``) or
    ``supervisor`` (``earlgate cluster up`` itself, or anything else of ours).
    """
    if "redis-server" in name:
        return "redis-server"
    if "haproxy" in name:
        return "haproxy"
    if name == "node":
        return "node"
    if "hub" in command:
        return "hub"
    return "supervisor"


def role_labels(roles: Sequence[str], numbered: Sequence[str] = NUMBERED_ROLES) -> list[str]:
    """One label per process, in order: its role, numbered where the role repeats.

    Roles in ``numbered`` are always numbered (``hub-1``, ``hub-2``); any other
    keeps its plain name for its first process (``haproxy``, then ``haproxy-2``).
    The same deployment gets the same labels in every step, whatever its PIDs.
    """
    seen: dict[str, int] = {}
    labels = []
    for role in roles:
        seen[role] = seen.get(role, 0) + 1
        count = seen[role]
        if role in numbered or count > 1:
            labels.append(f"{role}-{count}")
        else:
            labels.append(role)
    return labels
