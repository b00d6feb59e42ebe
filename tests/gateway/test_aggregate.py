"""The aggregate format and the mux/demux state machines, without sockets."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from earlgate.gateway.aggregate import AggregateError, Part, decode, encode, is_aggregate
from earlgate.gateway.mux import Demultiplexer, Multiplexer

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
parts = st.builds(
    Part,
    src=st.text(min_size=1, max_size=12),
    seq=st.integers(0, 2**31),
    ts=st.floats(0, 2e12, allow_nan=False),
    data=json_values,
    dst=st.none() | st.text(min_size=1, max_size=12),
)


@given(st.lists(parts, max_size=30))
def test_round_trip_through_json(batch: list[Part]) -> None:
    message = orjson.loads(orjson.dumps(encode(batch)))
    assert is_aggregate(message)
    assert decode(message) == batch


@pytest.mark.parametrize(
    ("message", "fault"),
    [
        ([], "expected an object"),
        ({"mux": 2, "parts": []}, "unsupported format version mux=2"),
        ({"mux": 1, "parts": {}}, "'parts' must be a list"),
        ({"mux": 1, "parts": [7]}, "parts[0]: expected an object"),
        ({"mux": 1, "parts": [{"src": "", "seq": 0, "ts": 1, "data": 1}]}, "parts[0].src"),
        ({"mux": 1, "parts": [{"src": "a", "seq": -1, "ts": 1, "data": 1}]}, "parts[0].seq"),
        ({"mux": 1, "parts": [{"src": "a", "seq": True, "ts": 1, "data": 1}]}, "parts[0].seq"),
        ({"mux": 1, "parts": [{"src": "a", "seq": 0, "ts": "x", "data": 1}]}, "parts[0].ts"),
        ({"mux": 1, "parts": [{"src": "a", "seq": 0, "ts": 1}]}, "parts[0].data: missing"),
        ({"mux": 1, "parts": [{"src": "a", "seq": 0, "ts": 1, "data": 1, "dst": 5}]}, ".dst"),
    ],
)
def test_malformed_aggregates_name_the_fault(message: object, fault: str) -> None:
    with pytest.raises(AggregateError, match=None) as caught:
        decode(message)
    assert fault in str(caught.value)


class Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def test_window_closes_after_its_time() -> None:
    clock = Clock()
    mux = Multiplexer(window=0.25, clock=clock, now_ms=lambda: 5.0)
    assert mux.deadline() is None and mux.poll() is None
    assert mux.add("a", {"v": 1}) is None
    clock.now += 0.1
    assert mux.add("b", {"v": 2}) is None
    assert mux.deadline() == pytest.approx(10.25)
    assert mux.poll() is None
    clock.now = 10.25
    batch = mux.poll()
    assert batch is not None and batch.parts == 2 and batch.held_s == pytest.approx(0.25)
    assert [(p.src, p.seq, p.ts) for p in decode(batch.message)] == [("a", 0, 5.0), ("b", 0, 5.0)]
    assert mux.deadline() is None and mux.buffered == 0
    mux.add("a", 3)
    rest = mux.flush()
    assert (
        rest is not None and decode(rest.message)[0].seq == 1
    )  # sequence numbers go on per source


def test_limits_close_a_window_early() -> None:
    mux = Multiplexer(window=10, max_parts=3, clock=Clock())
    assert mux.add("a", 1) is None and mux.add("a", 2) is None
    full = mux.add("a", 3)
    assert full is not None and full.parts == 3
    small = Multiplexer(window=10, max_bytes=10, clock=Clock())
    assert small.add("a", "12345") is None  # 7 bytes as JSON
    spilled = small.add("b", "123")  # 5 more would pass 10: the window closes first
    assert spilled is not None and [p.data for p in decode(spilled.message)] == ["12345"]
    assert small.buffered == 1


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        Multiplexer(window=0)
    with pytest.raises(ValueError, match="max_parts"):
        Multiplexer(max_parts=0)


@given(st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 100)), max_size=200))
def test_mux_then_demux_gives_back_every_message_in_order(messages) -> None:
    clock = Clock()
    mux = Multiplexer(window=0.25, max_parts=7, clock=clock)
    demux = Demultiplexer()
    out: list[tuple[str, int]] = []
    for index, (src, value) in enumerate(messages):
        batch = mux.add(src, value)
        if index % 5 == 4:
            clock.now += 0.3
            batch = batch or mux.poll()
        if batch is not None:
            out.extend((p.src, p.data) for p in demux.split(batch.message))
    last = mux.flush()
    if last is not None:
        out.extend((p.src, p.data) for p in demux.split(last.message))
    assert out == messages
    assert all(c.lost == 0 and c.duplicates == 0 for c in demux.sources.values())


def test_demux_counts_gaps_and_drops_repeats() -> None:
    demux = Demultiplexer()
    first = encode([Part("a", 0, 1.0, "x"), Part("a", 1, 1.0, "y")])
    assert [p.data for p in demux.split(first)] == ["x", "y"]
    assert demux.split(first) == []  # the same aggregate again
    assert demux.sources["a"].duplicates == 2
    later = encode([Part("a", 5, 1.0, "z"), Part("b", 40, 1.0, "joined late")])
    assert [p.data for p in demux.split(later)] == ["z", "joined late"]
    assert demux.sources["a"].lost == 3 and demux.sources["b"].lost == 0
