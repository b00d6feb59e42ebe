"""Where a benchmark writes, what it says it ran, on what and when: the same for every bench."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

import psutil


def results_dir(given: Path | None, name: str) -> Path:
    """``given``, or ``results/<name>-<local date and time>``."""
    return given or Path("results") / f"{name}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def command_line() -> str:
    """The ``earlgate …`` command line this process runs, quoted for a shell."""
    return "earlgate " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])


def utc_now() -> str:
    """The date reports carry, e.g. ``2026-11-29 19:40 UTC``."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} cores ({model or cpu}), {memory:.0f} GiB, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def update_benchmarks(section: str, body: str, path: Path = Path("BENCHMARKS.md")) -> None:
    """Replace the ``section`` block of BENCHMARKS.md (between its markers) with ``body``."""
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{body}{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + f"\n\n## {section}\n\n{block}\n"
    path.write_text(text)


def write_run(
    out: Path,
    section: str,
    title: str,
    raw: dict[str, Any],
    report: str,
    figure: str | None,
    update: bool,
) -> None:
    """``raw.json`` and ``report.md`` (linking ``figure``, drawn by the caller) in
    ``out``; with ``update``, the report also becomes BENCHMARKS.md's ``section``."""
    (out / "raw.json").write_text(json.dumps(raw, indent=1))
    picture = f"\n![plot]({figure})\n" if figure else ""
    (out / "report.md").write_text(f"# {title}\n\n{report}{picture}")
    print(f"raw results, report{' and plot' if figure else ''} in {out}/")
    if update:
        update_benchmarks(section, report)
        print("BENCHMARKS.md updated")
