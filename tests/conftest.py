"""Fixtures shared by the suites: real hub processes on free loopback ports."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator

import pytest
from hypothesis import settings

# Property-based tests take their example counts from a profile: "ci" keeps the
# suite fast, "fuzz" (``make fuzz``) runs the long campaign.
settings.register_profile("ci", max_examples=100, deadline=None)
settings.register_profile("fuzz", max_examples=20_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Test helpers (tests/wsclient.py, tests/hubproc.py, ...) are imported by module name.
sys.path.insert(0, os.path.dirname(__file__))

from hubproc import HubProcess, start_hub  # noqa: E402


@pytest.fixture
def hub_factory() -> Iterator[Callable[..., HubProcess]]:
    started: list[HubProcess] = []

    def factory(*args: str) -> HubProcess:
        hub = start_hub(*args)
        started.append(hub)
        return hub

    yield factory
    for hub in started:
        hub.stop()


@pytest.fixture(scope="module")
def shared_hub() -> Iterator[HubProcess]:
    """One hub for a module's tests that do not change hub-wide state."""
    hub = start_hub("--durable", "durable/#", "--retention", "50")
    yield hub
    hub.stop()
