"""The routing test vectors (vectors/router.json), run against the Python router.

Each vector is ``{"name", "routes", "events", "expected"}``: ``routes`` is a
routes document (the TOML file's tables as JSON), ``events`` the router's
events in their JSON form, and ``expected[i]`` the actions, in order, that
``events[i]`` must produce. A vector with ``"error"`` instead names a routes
document the loader must refuse, the text a part of the error. Any other
implementation of the gateway (the browser's) runs the same file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from earlgate.gateway.router import Router, action_to_json, event_from_json
from earlgate.gateway.routes import RoutesError, parse_routes

VECTORS = json.loads((Path(__file__).parent / "vectors" / "router.json").read_text())


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(vector: dict[str, Any]) -> None:
    if "error" in vector:
        with pytest.raises(RoutesError) as caught:
            parse_routes(vector["routes"])
        assert vector["error"] in str(caught.value)
        return
    router = Router(parse_routes(vector["routes"]))
    assert len(vector["events"]) == len(vector["expected"]), "one list of actions per event"
    for index, (event, expected) in enumerate(
        zip(vector["events"], vector["expected"], strict=True)
    ):
        actions = [action_to_json(a) for a in router.handle(event_from_json(event))]
        assert actions == expected, f"event #{index}: {event}"


def test_the_vectors_cover_every_event_and_action() -> None:
    events = {e["type"] for v in VECTORS for e in v.get("events", [])}
    actions = {a["type"] for v in VECTORS for step in v.get("expected", []) for a in step}
    assert events == {"joined", "left", "message", "hub"}
    assert actions == {"subscribe", "unsubscribe", "send", "publish", "mux", "drop", "refuse"}
