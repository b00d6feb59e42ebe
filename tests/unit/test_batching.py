"""Batched frames: one frame per connection per loop turn, cut at the byte bound."""

from __future__ import annotations

import asyncio

import orjson

from earlgate.server.batching import BatchFlusher, LineBatch, wants_batches


def test_only_batch_1_asks_for_batches() -> None:
    assert wants_batches({"batch": ["1"]})
    assert not wants_batches({})
    assert not wants_batches({"batch": ["0"]})
    assert not wants_batches({"batch": ["maybe"]})


async def test_a_turn_of_messages_leaves_as_one_frame_of_lines() -> None:
    sent: list[bytes] = []
    flusher = BatchFlusher()
    batch = LineBatch(sent.append, flusher, max_bytes=1000)
    frames = [
        orjson.dumps({"type": "publish", "subject": f"s/{n}", "data": "a\nb"}) for n in range(3)
    ]
    for raw in frames:
        batch.add(raw)
    assert sent == []
    await asyncio.sleep(0)
    assert len(sent) == 1
    assert [orjson.loads(line) for line in sent[0].split(b"\n")] == [
        orjson.loads(f) for f in frames
    ]
    batch.add(frames[0])
    await asyncio.sleep(0)
    assert sent[1] == frames[0]  # one message alone is a plain frame
    assert (flusher.frames, flusher.messages) == (2, 4)


async def test_a_batch_is_cut_before_it_passes_max_bytes() -> None:
    sent: list[bytes] = []
    batch = LineBatch(sent.append, BatchFlusher(), max_bytes=25)
    for n in range(5):
        batch.add(b"x" * 10 + str(n).encode())
    await asyncio.sleep(0)
    assert sent == [b"xxxxxxxxxx0\nxxxxxxxxxx1", b"xxxxxxxxxx2\nxxxxxxxxxx3", b"xxxxxxxxxx4"]
    assert all(len(frame) <= 25 for frame in sent)


async def test_flush_sends_at_once_and_the_turn_end_sends_nothing_twice() -> None:
    sent: list[bytes] = []
    batch = LineBatch(sent.append, BatchFlusher(), max_bytes=1000)
    batch.add(b"1")
    batch.add(b"2")
    batch.flush()  # e.g. before a close frame
    assert sent == [b"1\n2"]
    await asyncio.sleep(0)
    assert sent == [b"1\n2"]
