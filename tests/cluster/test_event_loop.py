"""uvloop is the servers' default loop where it is installed; ``--no-uvloop`` opts out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psutil
import pytest

from earlgate.cli import build_parser, run_event_loop
from hubproc import HubProcess


def loop_module(**kwargs: bool) -> str:
    seen: list[str] = []

    async def record() -> None:
        seen.append(type(asyncio.get_running_loop()).__module__)

    run_event_loop(record(), **kwargs)
    return seen[0]


def test_run_event_loop_picks_uvloop_unless_told_not_to() -> None:
    assert loop_module().startswith("uvloop")
    assert loop_module(use_uvloop=True).startswith("uvloop")
    assert loop_module(use_uvloop=False).startswith("asyncio")


@pytest.mark.parametrize("command", [["hub"], ["signal"], ["cluster", "up"]])
def test_every_server_command_defaults_to_uvloop_and_takes_both_flags(command: list[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(command).uvloop is True
    assert parser.parse_args([*command, "--uvloop"]).uvloop is True
    assert parser.parse_args([*command, "--no-uvloop"]).uvloop is False


def runs_uvloop(hub: HubProcess) -> bool:
    """uvloop is imported only to run on it: its extension is mapped into the process or not."""
    maps = psutil.Process(hub.process.pid).memory_maps()
    return any("uvloop" in region.path for region in maps)


def test_the_hub_runs_on_uvloop_by_default(hub_factory: Callable[..., HubProcess]) -> None:
    assert runs_uvloop(hub_factory())
    assert not runs_uvloop(hub_factory("--no-uvloop"))
