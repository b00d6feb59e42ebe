"""The load side's plan, its slicing, and its refusal of bad plans."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from earlgate.bench.gateway.loadplan import LoadPlan, split
from earlgate.bench.gateway.loadside import Recorder


def test_plan_round_trips_through_json() -> None:
    plan = LoadPlan("send", "http://127.0.0.1:9000/", ["s-0", "s-1"], {"s-0": "gw", "s-1": "gw"})
    assert LoadPlan.from_json(plan.to_json()) == plan


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"role": "shout", "signal": "http://h:1/", "names": ["a"]}', "role"),
        ('{"role": "send", "signal": "http://h:1/", "names": []}', "at least one"),
        ('{"role": "send", "signal": "http://h:1/", "names": ["a"], "rate": 0}', "rate"),
        ('{"role": "send", "signal": "http://h:1/", "names": ["a"], "colour": 1}', "colour"),
        ("[1, 2]", "object"),
    ],
)
def test_bad_plans_are_named(text: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        LoadPlan.from_json(text)


@pytest.mark.parametrize(("content", "named"), [("{not json", "loadside"), (None, "No such file")])
def test_bad_plan_file_exits_2(content: str | None, named: str, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    if content is not None:
        plan.write_text(content)
    result = subprocess.run(
        [sys.executable, "-m", "earlgate.bench.gateway.loadside", str(plan)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and named in result.stderr


@pytest.mark.parametrize(("count", "processes"), [(10, 3), (1, 4), (7, 1), (250, 4)])
def test_split_is_contiguous_balanced_and_complete(count: int, processes: int) -> None:
    names = [f"p-{i}" for i in range(count)]
    slices = split(names, processes)
    assert [n for s in slices for n in s] == names
    assert all(slices) and len(slices) == min(count, processes)
    assert max(map(len, slices)) - min(map(len, slices)) <= 1


def test_recorder_counts_only_while_counting() -> None:
    recorder = Recorder()
    recorder.on_value({"ts": 1.0})
    recorder.counting = True
    recorder.on_value({"ts": 1.0})
    recorder.on_value({"mux": 1, "parts": [{"src": "a", "seq": 0, "ts": 2.0, "data": 1}]})
    recorder.on_value("not a reading")
    assert len(recorder.delays) == 2 and recorder.bytes > 0


def test_mesh_plans_name_their_indices() -> None:
    plan = LoadPlan("mesh", "http://h:1/", ["bm5-3", "bm5-4"], mesh_peers=5)
    assert plan.mesh_indices() == ("bm5", (3, 4))
    with pytest.raises(ValueError, match="bm5-5"):
        LoadPlan("mesh", "http://h:1/", ["bm5-5"], mesh_peers=5)
    with pytest.raises(ValueError, match="share a prefix"):
        LoadPlan("mesh", "http://h:1/", ["a-0", "b-1"], mesh_peers=5)
