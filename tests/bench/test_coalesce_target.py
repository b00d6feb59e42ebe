"""The ``earlgate-coalesce`` bench target: the uvloop hub with its end-of-turn pauses on."""

from __future__ import annotations

from earlgate.bench.targets import COALESCE_TARGET_MS, TARGETS, read_stats, start_target


def test_the_coalesce_target_runs_a_hub_with_the_window_on() -> None:
    assert "earlgate-coalesce" in TARGETS
    running = start_target("earlgate-coalesce")
    try:
        assert running.stats_url is not None
        stats = read_stats(running.stats_url)
        assert stats["coalesce"] == {"window_ms": COALESCE_TARGET_MS, "pauses": 0, "paused_s": 0.0}
    finally:
        running.stop()


def test_the_uvloop_target_runs_without_it() -> None:
    running = start_target("earlgate-uvloop")
    try:
        assert running.stats_url is not None
        assert read_stats(running.stats_url)["coalesce"] is None
    finally:
        running.stop()
