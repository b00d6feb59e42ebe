"""``earlgate bench datachannel``: the plan, the report, and one tiny case end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from earlgate.bench.datachannel import Case, markdown, plan, summarize
from earlgate.cli import main


def test_plan_groups_every_combination_by_loop() -> None:
    cases = plan()
    assert len(cases) == 16 == len(set(cases))
    assert [c.loop for c in cases] == ["asyncio"] * 8 + ["uvloop"] * 8
    assert {c.size for c in cases} == {100, 16384}
    assert len({c.label for c in cases if c.loop == "uvloop"}) == 8


def test_unreliable_is_unordered_without_retransmissions() -> None:
    unreliable = Case("asyncio", "raw", "unreliable", 100)
    assert unreliable.channel_options() == {
        "reliable": False,
        "ordered": False,
        "max_retransmits": 0,
    }
    assert Case("asyncio", "raw", "reliable", 100).channel_options() == {"reliable": True}
    payload = Case("uvloop", "binary", "reliable", 16384).payload()
    assert len(payload.encode()) == len(payload) == 16384


def test_summary_rates_loss_and_report() -> None:
    sender = {"sent": 1000, "send_s": 2.0, "cpu_s": 1.5, "cpu_window_s": 2.0}
    receiver = {
        "received": 900,
        "bytes": 90_000,
        "window_s": 2.5,
        "cpu_s": 1.0,
        "cpu_window_s": 2.0,
    }
    row = summarize(Case("uvloop", "raw", "unreliable", 100), 2.0, sender, receiver, 0.25)
    assert (row.messages_per_s, row.mb_per_s, row.sent_per_s) == (360.0, 0.036, 500.0)
    assert (row.sender_cpu_percent, row.receiver_cpu_percent, row.turn_cpu_percent) == (
        75.0,
        50.0,
        25.0,
    )
    assert row.loss_ratio == pytest.approx(0.1)
    reliable = summarize(Case("uvloop", "raw", "reliable", 100), 2.0, sender, receiver, 0.25)
    report = markdown([row, reliable], "earlgate bench datachannel", "test machine", "now")
    assert "| uvloop | raw | unreliable | 100 B | 360 | 0.04 | 75 | 50 | 25 | 10.00% |" in report
    assert "| uvloop | raw | reliable | 100 B | 360 | 0.04 | 75 | 50 | 25 | – |" in report
    assert "short of messages" in report and "uvloop/raw-reliable-100" in report
    assert "TURN relay" in report


def test_unknown_loop_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bench", "datachannel", "--loops", "trio"])
    assert exited.value.code == 2
    assert "--loops: unknown trio" in capsys.readouterr().err


def test_one_tiny_case_through_signal_and_a_turn_relay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "results"
    args = ["--loops", "asyncio", "--serializations", "raw", "--modes", "reliable"]
    args += ["--sizes", "100", "--duration", "1", "--out", str(out), "--update-benchmarks"]
    assert main(["bench", "datachannel", *args]) == 0
    raw = json.loads((out / "raw.json").read_text())
    [row] = raw["rows"]
    assert (row["loop"], row["serialization"], row["mode"], row["size"]) == (
        "asyncio",
        "raw",
        "reliable",
        100,
    )
    # Reliable: every message sent arrives, each of 100 bytes.
    assert row["sent"] > 100
    assert row["received"] == row["sent"]
    assert row["received_bytes"] == 100 * row["sent"]
    assert row["loss_ratio"] == 0
    assert row["messages_per_s"] > 0 and row["mb_per_s"] > 0
    assert row["sender_cpu_percent"] > 0 and row["receiver_cpu_percent"] > 0
    report = (out / "report.md").read_text()
    assert "| asyncio | raw | reliable | 100 B |" in report
    assert (out / "datachannel.png").read_bytes().startswith(b"\x89PNG")
    benchmarks = (tmp_path / "BENCHMARKS.md").read_text()
    assert "<!-- datachannel:start -->" in benchmarks
    assert "| asyncio | raw | reliable | 100 B |" in benchmarks
