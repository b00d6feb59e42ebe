"""Property-based tests: any routes document gives Routes or a RoutesError, and the
router answers any sequence of events with actions, never another exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earlgate.gateway.router import (
    PeerMessage,
    Publish,
    Router,
    RouterError,
    Subscribe,
    Unsubscribe,
    action_to_json,
    event_from_json,
)
from earlgate.gateway.routes import (
    KINDS,
    PEER,
    SUBJECT_CHARS,
    Routes,
    RoutesError,
    loads_routes,
    parse_routes,
)
from earlgate.wire.subjects import check_pattern, check_subject

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
# Peer ids that the rules below match, ids that would reshape a subject, and any.
peer_ids = st.sampled_from(["a", "b", "a-1", "ab", "a/b", "a/#", "a+", "$a", ""]) | st.text(
    alphabet="ab-*?[]/+#${}", max_size=6
)
templates = st.builds(
    "/".join, st.lists(st.sampled_from(["x", "{peer}", "+", "#", "$y", "", "a{peer}"]), max_size=4)
)
rule_values = st.one_of(
    peer_ids, st.lists(peer_ids, max_size=3), templates, st.floats(), st.integers(), json_values
)
rules = st.dictionaries(
    st.sampled_from(["from", "to", "window", "peer", "publish", "subscribe", "via"]),
    rule_values,
    max_size=4,
)
documents = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from([*KINDS, "fly"]), st.lists(rules, max_size=3) | json_values),
)

# Documents the loader takes, so that the router has rules to apply.
globs = st.lists(st.sampled_from(["*", "a*", "b", "a-?", "[ab]*", "a/b"]), min_size=1, max_size=2)
valid_documents = st.fixed_dictionaries(
    {
        "forward": st.lists(st.fixed_dictionaries({"from": globs, "to": globs}), max_size=2),
        "mux": st.lists(
            st.fixed_dictionaries({"from": globs, "to": st.sampled_from(["a", "sink"])}),
            max_size=2,
        ),
        "demux": st.lists(
            st.fixed_dictionaries({"from": globs, "to": st.lists(st.sampled_from(["a", "b"]))}),
            min_size=1,
            max_size=2,
        ),
        "bridge": st.lists(
            st.fixed_dictionaries(
                {
                    "peer": globs,
                    "publish": st.sampled_from(["s/{peer}", "s/x", "{peer}", "a{peer}b/c"]),
                    "subscribe": st.sampled_from(["c/{peer}", "c/{peer}/#", "+/{peer}", "#"]),
                }
            ),
            max_size=3,
        ),
    }
)


def load(document: object) -> Routes | None:
    try:
        return parse_routes(document)
    except RoutesError:
        return None


@pytest.mark.fuzz
@given(documents)
def test_any_document_is_routes_or_a_routes_error(document: object) -> None:
    load(document)


@pytest.mark.fuzz
@given(
    st.one_of(
        st.text(max_size=200),
        documents.map(json.dumps),
        st.integers(0, 1200).map(lambda n: "forward = " + "[" * n + "]" * n),
        st.integers(0, 1200).map(lambda n: "mux = " + "{a = " * n + "1" + "}" * n),
    )
)
def test_any_text_is_routes_or_a_routes_error(text: str) -> None:
    try:
        loads_routes(text)
    except RoutesError:
        pass


# Aggregate parts, nearly right. Past 2**1024 an int has no float: such a
# timestamp must be refused like any other bad one.
parts = st.fixed_dictionaries(
    {
        "src": peer_ids,
        "seq": st.integers(-1, 3),
        "ts": st.integers(-(2**1100), 2**1100) | st.floats() | json_values,
        "data": json_values,
    },
    optional={"dst": peer_ids | st.none()},
)
events = st.one_of(
    st.builds(lambda p: {"type": "joined", "peer": p}, peer_ids),
    st.builds(lambda p: {"type": "left", "peer": p}, peer_ids),
    st.builds(lambda p, d: {"type": "message", "peer": p, "data": d}, peer_ids, json_values),
    st.builds(
        lambda p, parts: {"type": "message", "peer": p, "data": {"mux": 1, "parts": parts}},
        peer_ids,
        st.lists(parts, max_size=3),
    ),
    st.builds(
        lambda p, s, m: {"type": "hub", "peer": p, "subject": s, "message": m},
        peer_ids,
        templates,
        json_values,
    ),
    json_values,
)


@pytest.mark.fuzz
@given(valid_documents, st.lists(events, min_size=1, max_size=10))
def test_the_router_answers_any_events_with_actions(document: object, steps: list[Any]) -> None:
    """Any JSON as an event is an event or a RouterError; no peer id reshapes a subject."""
    routes = parse_routes(document)
    router = Router(routes)
    subscribe_of = {bridge.name: bridge.subscribe or "" for bridge in routes.bridges}
    publish_of = {bridge.name: bridge.publish or "" for bridge in routes.bridges}
    subscribed: set[tuple[str, str]] = set()
    for step in steps:
        try:
            event = event_from_json(step)
        except RouterError:
            continue
        for action in router.handle(event):
            action_to_json(action)
            if isinstance(action, Subscribe):
                check_pattern(action.subject)  # a peer id never makes a bad subscription
                template = subscribe_of[action.route]
                assert PEER not in template or SUBJECT_CHARS.isdisjoint(action.peer)
                assert (action.peer, action.subject) not in subscribed
                subscribed.add((action.peer, action.subject))
            elif isinstance(action, Unsubscribe):
                subscribed.remove((action.peer, action.subject))
            elif isinstance(action, Publish):
                check_subject(action.subject)
                source = event.peer if isinstance(event, PeerMessage) else ""
                assert PEER not in publish_of[action.route] or SUBJECT_CHARS.isdisjoint(source)
