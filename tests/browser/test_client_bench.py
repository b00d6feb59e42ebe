"""``earlgate bench browser`` at a low rate for a few seconds: it runs and messages arrive."""

from __future__ import annotations

import json
from pathlib import Path

from browserproc import chromium_missing
from earlgate.bench.browser import BrowserBenchOptions, run_browser_bench


def test_the_browser_bench_runs_and_reports(tmp_path: Path) -> None:
    assert chromium_missing() is None
    options = BrowserBenchOptions(
        subjects=[25],
        rate=4.0,
        duration=2.0,
        warmup=0.5,
        soak=1.0,
        memory_every=0.5,
        publishers=1,
        out=tmp_path,
    )
    raw = run_browser_bench(options)
    assert set(raw) >= {
        "variant",
        "steps",
        "max_kept_up_per_s",
        "memory",
        "heap_growth_mib",
        "final_heap_mib",
        "page_errors",
    }
    (step,) = raw["steps"]
    assert step["offered_per_s"] == 100
    assert step["received"] > 50
    assert set(step["latency_ms"]) == {"p50", "p99", "max"}
    assert 0 < step["latency_ms"]["p50"] < 1000
    assert len(raw["memory"]) >= 2 and raw["page_errors"] == []
    assert json.loads((tmp_path / "raw.json").read_text())["steps"][0]["subjects"] == 25
    assert "messages/s" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "browser.png").stat().st_size > 0
