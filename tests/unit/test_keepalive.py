"""The keepalive sweep's decisions: ping after the interval, close after the timeout."""

from __future__ import annotations

import pytest

from earlgate.hub.keepalive import Keepalive, Verdict


def test_a_connection_is_pinged_only_after_the_interval_of_silence() -> None:
    keepalive = Keepalive(20.0, 10.0, now=0.0)
    assert keepalive.period == 1.25
    # Stamped 100.0 for a frame that came as late as 101.25: wait until 121.25.
    assert keepalive.verdict(100.0, None, 121.2) is Verdict.WAIT
    assert keepalive.verdict(100.0, None, 121.25) is Verdict.PING


def test_an_unanswered_ping_closes_after_the_timeout() -> None:
    keepalive = Keepalive(20.0, 10.0, now=0.0)
    assert keepalive.verdict(0.0, 130.0, 139.9) is Verdict.WAIT
    assert keepalive.verdict(0.0, 130.0, 140.0) is Verdict.CLOSE


def test_no_keepalive_without_a_positive_interval_and_timeout() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        Keepalive(0.0, 10.0, now=0.0)
