"""bench connections: the open-file limit it raises, checks and reports."""

from __future__ import annotations

import resource

import pytest

from earlgate.bench.connections import ConnectionCosts, descriptors_for, markdown


def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = descriptors_for(100)
    assert limit >= min(hard, 200_000) or hard == resource.RLIM_INFINITY
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == limit


def test_more_connections_than_descriptors_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="connections need .* open files per process"):
        descriptors_for(10**9)


def test_the_report_gives_the_limit() -> None:
    row = ConnectionCosts("earlgate", 18000, 9.1, 0.2, 0.1, 0.05, 8.0, open_file_limit=20000)
    text = markdown([row], "earlgate bench connections -n 18000", "machine", "today")
    assert "Open-file limit (soft, raised to the hard one): 20000." in text
    assert "| earlgate | 18000 | 9.10 | 0.200 | 0.10 | 0.050 | 8.0 |" in text
