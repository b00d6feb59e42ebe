"""``earlgate bench signal`` end to end with tiny numbers: it runs and reports."""

from __future__ import annotations

import json
from pathlib import Path

from earlgate.cli import main


def test_bench_signal_writes_raw_results_and_report(
    tmp_path: Path, peer_server_installed: None
) -> None:
    out = tmp_path / "signal"
    args = ["--pairs", "1", "--window", "1", "--duration", "0.3", "--peers", "3"]
    status = main(
        ["bench", "signal", *args, "--servers", "earlgate,node-peer-server", "--out", str(out)]
    )
    assert status == 0
    rows = json.loads((out / "raw.json").read_text())["rows"]
    assert [row["server"] for row in rows] == ["earlgate", "node-peer-server"]
    assert all(row["relayed"] > 0 and row["peers"] == 3 for row in rows)
    report = (out / "report.md").read_text()
    assert "| earlgate | 1 × 1 |" in report
    assert "the Node PeerServer's messages per CPU-second" in report
