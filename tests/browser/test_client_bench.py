"""``earlgate bench browser`` at a low rate for a few seconds: it runs and messages arrive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from browserproc import chromium_missing
from earlgate.cli import main


def test_the_browser_bench_runs_and_reports(tmp_path: Path) -> None:
    assert chromium_missing() is None
    argv = ["bench", "browser", "--subjects", "25", "--duration", "2", "--warmup", "0.5"]
    argv += ["--soak", "1", "--memory-every", "0.5", "--publishers", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    raw = json.loads((tmp_path / "raw.json").read_text())
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
    assert step["subjects"] == 25
    assert "messages/s" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "browser.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--subjects", "0", "--subjects"),
        ("--rate", "0", "--rate"),
        ("--publishers", "0", "--publishers"),
    ],
)
def test_bad_browser_bench_options_are_usage_errors(
    option: str, value: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "browser", option, value])
    assert exit_.value.code == 2
    assert named in capsys.readouterr().err
