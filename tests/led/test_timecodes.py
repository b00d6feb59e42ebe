"""Time codes: the table, and rounding a request to it (strict within 12.5%)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earlgate.led.timecodes import TIME_CODES_MS, code_ms, round_time


def test_table_is_the_datasheets() -> None:
    assert TIME_CODES_MS == (
        0, 64, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 5760, 8128, 16320,
    )  # fmt: skip
    assert code_ms(6) == 512
    with pytest.raises(ValueError):
        code_ms(16)


@pytest.mark.parametrize(
    ("requested", "code", "ms", "exact"),
    [
        (0, 0, 0, True),
        (20, 0, 0, False),  # 100% off: unreachable
        (32, 0, 0, False),  # tie between 0 and 64 goes to the shorter
        (60, 1, 64, True),
        (64, 1, 64, True),
        (100, 2, 128, False),  # 28% off
        (120, 2, 128, True),
        (160, 2, 128, False),  # tie 128/192, 20% either way
        (250, 4, 256, True),
        (300, 4, 256, False),  # 14.7%
        (350, 5, 384, True),  # 9.7%
        (500, 6, 512, True),
        (512, 6, 512, True),
        (640, 6, 512, False),  # tie 512/768
        (700, 7, 768, True),
        (1000, 8, 1024, True),
        (1024, 8, 1024, True),
        (1400, 9, 1536, True),  # 9.7%
        (2000, 10, 2048, True),
        (3000, 11, 3072, True),
        (4000, 12, 4096, True),
        (5000, 13, 5760, False),  # 15.2%
        (5500, 13, 5760, True),
        (8000, 14, 8128, True),
        (10000, 14, 8128, False),
        (16000, 15, 16320, True),
        (18000, 15, 16320, True),  # 9.3%
        (20000, 15, 16320, False),
    ],
)
def test_rounding_table(requested: int, code: int, ms: int, exact: bool) -> None:
    rounded = round_time(requested)
    assert (rounded.code, rounded.ms, rounded.exact) == (code, ms, exact)


def test_every_code_is_exact() -> None:
    for code, ms in enumerate(TIME_CODES_MS):
        rounded = round_time(ms)
        assert rounded.code == code and rounded.exact and rounded.error == 0


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_bad_times_are_refused(bad: float) -> None:
    with pytest.raises(ValueError):
        round_time(bad)


@given(st.floats(min_value=0, max_value=40000, allow_nan=False))
def test_rounding_is_nearest_and_exactness_is_the_tolerance(ms: float) -> None:
    rounded = round_time(ms)
    best = min(abs(t - ms) for t in TIME_CODES_MS)
    assert abs(rounded.ms - ms) == best
    assert rounded.exact == (best <= ms / 8)
