"""The routes file against hostile input: peer ids that would reshape a bridge's
subjects, files nested too deeply to parse, numbers that are not durations."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from earlgate.cli import main
from earlgate.gateway.routes import RoutesError, load_routes, parse_routes

BRIDGE = {
    "bridge": [
        {"peer": "thermo-*", "publish": "sensors/{peer}", "subscribe": "commands/{peer}"},
        {"peer": "thermo-*", "subscribe": "broadcast/#"},
    ]
}


@pytest.mark.parametrize(
    "peer", ["thermo-2/#", "thermo-+", "thermo-#", "thermo-2/commands", "thermo-" + "x" * 300]
)
def test_a_peer_id_cannot_reshape_a_bridge_subject(peer: str) -> None:
    routes = parse_routes(BRIDGE)
    # Only the rule that does not put the id in a subject applies.
    assert routes.subscriptions(peer) == ["broadcast/#"]
    plan = routes.for_source(peer)
    assert plan.publish is None
    assert [(r.route, r.peer) for r in plan.refused] == [("bridge#1", peer)]
    assert "peer id" in plan.refused[0].reason


def test_a_plain_peer_id_fills_the_templates() -> None:
    routes = parse_routes(BRIDGE)
    assert routes.subscriptions("thermo-2") == ["commands/thermo-2", "broadcast/#"]
    plan = routes.for_source("thermo-2")
    assert plan.publish == "sensors/thermo-2" and plan.refused == ()


def nested_toml(depth: int, kind: str) -> str:
    if kind == "array":
        return "forward = " + "[" * depth + "]" * depth + "\n"
    return "forward = " + "{a = " * depth + "1" + "}" * depth + "\n"


@pytest.mark.parametrize("kind", ["array", "inline table"])
def test_a_file_nested_too_deeply_is_a_routes_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(nested_toml(500, kind))
    with pytest.raises(RoutesError, match=r"routes\.toml: not valid TOML: nested too deeply"):
        load_routes(path)
    path.write_text(nested_toml(50, kind))  # parses; then it is the wrong shape
    with pytest.raises(RoutesError, match="'forward' must be an array of tables|#1: expected"):
        load_routes(path)


def test_the_cli_exits_2_on_a_file_nested_too_deeply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(nested_toml(500, "array"))
    with pytest.raises(SystemExit) as info:
        main(["gateway", "--id", "gw", "--routes", str(path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "nested too deeply" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "window",
    [math.inf, 10**400, math.nan, -1, True, "1"],
    ids=["inf", "10**400", "nan", "negative", "bool", "text"],
)
def test_a_mux_window_must_be_finite_seconds(window: object) -> None:
    data = {"mux": [{"from": "a", "to": "b", "window": window}]}
    with pytest.raises(RoutesError, match=r"\[\[mux\]\] #1.window: expected seconds > 0"):
        parse_routes(data)


@pytest.mark.parametrize("document", [[], "forward", 3, None, [{"forward": []}]])
def test_a_document_that_is_not_a_table_is_a_routes_error(document: object) -> None:
    with pytest.raises(RoutesError, match="expected a table"):
        parse_routes(document)
