"""The routes file: parsing, every mistake named, and what applies to a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from earlgate.gateway.routes import RoutesError, load_routes, parse_routes

EXAMPLE = """
[[forward]]
from = "arm-1"
to = ["arm-2", "arm-3"]

[[forward]]
from = "arm-*"
to = "arm-1"

[[mux]]
from = ["sensor-*", "arm-1"]
to = "cloud"
window = 0.5

[[demux]]
from = "cloud"
to = "spare"

[[bridge]]
peer = "thermo-*"
publish = "sensors/{peer}"
subscribe = "commands/{peer}/#"
"""


def test_example_routes(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(EXAMPLE)
    routes = load_routes(path)
    arm1 = routes.for_source("arm-1")
    assert arm1.forward_to == ("arm-2", "arm-3")  # never back to itself
    assert [m.to for m in arm1.mux_into] == ["cloud"] and arm1.mux_into[0].window == 0.5
    assert routes.for_source("arm-7").forward_to == ("arm-1",)
    assert routes.for_source("sensor-3").mux_into[0].to == "cloud"
    cloud = routes.for_source("cloud")
    assert cloud.demux is not None and cloud.demux.to == ("spare",)
    assert routes.for_source("thermo-2").publish == "sensors/thermo-2"
    assert routes.subscriptions("thermo-2") == ["commands/thermo-2/#"]
    assert routes.for_source("stranger") == routes.for_source("nobody")


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("[[fly]]\nfrom='a'", "unknown table(s) fly"),
        ("forward = 3", "'forward' must be an array of tables"),
        ("[[forward]]\nto='b'", "[[forward]] #1.from: missing"),
        ("[[forward]]\nfrom='a'", "[[forward]] #1.to: name at least one destination"),
        ("[[forward]]\nfrom='a'\nto=[1]", "[[forward]] #1.to: expected a peer id"),
        ("[[forward]]\nfrom='a'\nto='b'\nvia='c'", "unknown key(s) via"),
        ("[[mux]]\nfrom='a'\nto=['b','c']", "[[mux]] #1.to: expected one peer id"),
        ("[[mux]]\nfrom='a'\nto='b'\nwindow=0", "[[mux]] #1.window: expected seconds > 0"),
        ("[[bridge]]\npeer='a'", "needs 'publish', 'subscribe' or both"),
        ("[[bridge]]\npeer='a'\npublish='x/+/y'", "[[bridge]] #1.publish"),
        ("[[bridge]]\npeer='a'\nsubscribe='x/#/y'", "[[bridge]] #1.subscribe"),
    ],
)
def test_mistakes_are_named(text: str, fault: str) -> None:
    import tomllib

    with pytest.raises(RoutesError) as caught:
        parse_routes(tomllib.loads(text))
    assert fault in str(caught.value)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(RoutesError, match="cannot read"):
        load_routes(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[forward]\n")
    with pytest.raises(RoutesError, match="bad.toml: not valid TOML"):
        load_routes(bad)
