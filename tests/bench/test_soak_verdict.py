"""The soak bench's verdict: memory against the reference sample, errors, deliveries."""

from __future__ import annotations

from earlgate.bench.soak import SoakResult, SoakSample, SoakSettings


def result_with(*rss: float, **fields: object) -> SoakResult:
    result = SoakResult(SoakSettings(reference=120, sample_every=60, tolerance=0.05))
    for minute, value in enumerate(rss, start=1):
        result.samples.append(SoakSample(minute * 60.0, value, 100, 10.0, 8000))
    for name, value in fields.items():
        setattr(result, name, value)
    return result


def test_memory_is_compared_with_the_reference_minute() -> None:
    # The first minute (warming up) is not the reference: the second is.
    steady = result_with(50, 100, 101, 104)
    assert abs(steady.growth() - 0.04) < 1e-9 and steady.failures() == []
    growing = result_with(50, 100, 103, 106)
    assert growing.failures() == ["memory changed by +6.0 % since the reference sample"]


def test_errors_tracebacks_and_missing_deliveries_fail() -> None:
    bad = result_with(100, 100, hub_errors={"bad_frame": 2}, tracebacks=1, churn_errors=3)
    bad.sent, bad.expected, bad.received = 1000, 1000, 900
    assert len(bad.failures()) == 4
