"""Retained values: found through the subject tree, bounded in count and bytes."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earlgate.broker.history import HistoryStore
from earlgate.broker.memory import MemoryBroker
from earlgate.broker.retained import NODES_PER_TURN, RetainedStore
from earlgate.hub.config import HubConfig, SlowConsumerPolicy
from earlgate.hub.core import Hub
from earlgate.hub.server import HubServer
from earlgate.hub.session import Session
from earlgate.metrics.exposition import render
from earlgate.wire.subjects import matches

levels = st.sampled_from(["a", "b", "c", "dd"])
subjects = st.lists(levels, min_size=1, max_size=4).map("/".join)
patterns = st.lists(st.sampled_from(["a", "b", "c", "+"]), min_size=1, max_size=4).flatmap(
    lambda ps: st.sampled_from(["/".join(ps), "/".join([*ps, "#"]), "#"])
)


@pytest.mark.fuzz
@given(st.lists(subjects, max_size=30), st.lists(subjects, max_size=10), patterns)
def test_find_is_exactly_what_matches(stored: list[str], removed: list[str], pattern: str) -> None:
    store = RetainedStore()
    for subject in stored:
        store.set(subject, subject.encode())
    for subject in removed:
        store.remove(subject)
    found = asyncio.run(store.find(pattern))
    alive = set(stored) - set(removed)
    assert sorted(found) == sorted(s.encode() for s in alive if matches(pattern, s))
    assert store.bytes == sum(len(s) for s in alive) and len(store) == len(alive)


def test_a_pattern_that_matches_nothing_costs_a_few_nodes() -> None:
    store = RetainedStore()
    for n in range(30_000):
        store.set(f"earl/dev-{n}/temp", b"{}")
    assert asyncio.run(store.find("nothing/+/temp")) == []
    assert store.last_visited <= 2
    assert len(asyncio.run(store.find("earl/dev-7/+"))) == 1
    assert store.last_visited <= 4


async def test_a_wide_lookup_yields_to_the_event_loop() -> None:
    store = RetainedStore()
    for n in range(5 * NODES_PER_TURN):
        store.set(f"earl/dev-{n}/temp", b"{}")
    ticks = 0

    def tick() -> None:
        nonlocal ticks
        ticks += 1
        if not lookup.done():
            asyncio.get_running_loop().call_soon(tick)

    lookup = asyncio.ensure_future(store.find("#"))
    asyncio.get_running_loop().call_soon(tick)
    assert len(await lookup) == 5 * NODES_PER_TURN
    assert ticks >= 5  # other callbacks ran while the lookup went on


async def test_many_last_subscribes_on_patterns_scan_nothing() -> None:
    broker = MemoryBroker()
    hub = Hub(broker)
    for n in range(30_000):
        broker.publish(f"earl/dev-{n}/temp", b'{"type":"publish"}', retain=True, on_done=None)
    session = Session(
        lambda raw: None,
        lambda c, r: None,
        send_buffer=1 << 20,
        policy=SlowConsumerPolicy.DROP_OLDEST,
    )
    hub.open_session(session)
    visited = 0
    for n in range(300):
        frame = {"type": "subscribe", "subject": f"none-{n}/+/temp", "last": True, "id": n}
        hub.handle_frame(session, json.dumps(frame).encode())
        await asyncio.sleep(0)
        visited += broker.retained_store.last_visited
    assert visited <= 600


def test_retained_bytes_are_bounded() -> None:
    store = RetainedStore(max_subjects=100_000, max_bytes=1024 * 1024)
    value = b"x" * 60_000
    for n in range(3000):
        store.set(f"s/{n}", value)
    assert store.bytes <= 1024 * 1024 and len(store) == 17
    assert store.evicted == {"subjects": 0, "bytes": 3000 - 17}
    assert store.get("s/2999") == value and store.get("s/0") is None
    store.set("big", b"y" * (2 * 1024 * 1024))  # larger than the whole bound: not kept
    assert store.get("big") is None and store.evicted["bytes"] == 3000 - 16


def test_retained_count_bound_evicts_least_recently_set() -> None:
    store = RetainedStore(max_subjects=2)
    store.set("a", b"1")
    store.set("b", b"2")
    store.set("a", b"3")  # a is now the most recent
    store.set("c", b"4")
    assert store.get("b") is None and store.get("a") == b"3" and store.evicted["subjects"] == 1


def test_durable_history_bytes_are_bounded() -> None:
    store = HistoryStore("e", retention=1000, max_bytes=1024 * 1024)
    value = b"x" * 60_000
    for n in range(3000):
        store.append(f"d/{n % 10}", value)
    assert store.bytes <= 1024 * 1024
    assert store.evicted_for_bytes >= 3000 - 17
    # A replay from before the evicted messages says so.
    replay = store.replay("d/9", 0, "e")
    assert replay.recovered is False and replay.messages
    assert replay.messages[-1][0] == store.last_offset


async def test_store_bounds_are_counted_on_metrics() -> None:
    config = HubConfig(port=0, max_retained_bytes=65536, durable=["d/#"], durable_max_bytes=65536)
    server = HubServer(config)
    await server.start()
    try:
        for n in range(10):
            server.broker.publish(
                f"d/{n}",
                b'{"type":"publish","x":"' + b"y" * 20_000 + b'"}',
                retain=True,
                on_done=None,
            )
        page = render(server.registry).decode()
    finally:
        await server.stop()
    assert "earlgate_retained_evicted_for_bytes_total 7.0" in page
    assert "earlgate_durable_evicted_for_bytes_total 7.0" in page
    assert "earlgate_retained_bytes " in page and "earlgate_durable_bytes " in page
