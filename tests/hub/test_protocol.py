"""Every row of PROTOCOL.md against a real hub process, with an independent client."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wsclient import WsClient

pytestmark = pytest.mark.asyncio


def http(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


async def test_ws_and_root_alias_both_work(shared_hub):
    for path in ("/ws", "/"):
        url = f"ws://127.0.0.1:{shared_hub.port}{path}"
        async with await WsClient.open(url) as client:
            assert await client.request({"type": "ping", "id": 1}) == {"type": "pong", "id": 1}


async def test_unknown_ws_path_is_404(shared_hub):
    with pytest.raises(InvalidStatus, match="404"):
        await WsClient.open(f"ws://127.0.0.1:{shared_hub.port}/nope")


async def test_subscribe_publish_with_wildcards_and_ack(shared_hub):
    async with (
        await WsClient.open(shared_hub.ws_url) as sub,
        await WsClient.open(shared_hub.ws_url) as pub,
    ):
        assert await sub.request({"type": "subscribe", "subject": "w/+/accel", "id": 1}) == {
            "type": "ack",
            "id": 1,
        }
        assert (await sub.request({"type": "subscribe", "subject": "w/#", "id": "b"}))["id"] == "b"
        frame = {
            "type": "publish",
            "subject": "w/arm-07/accel",
            "published": 1764000000000,
            "data": {"x": 0.1, "y": 0.0, "z": 9.8},
            "extra": [1, 2],
        }
        await pub.send(frame)
        # Delivered once although two patterns match, with every field unchanged.
        assert await sub.recv() == frame
        await sub.nothing()
        await pub.send({"type": "publish", "subject": "w/arm-07/gyro", "data": 1})
        assert (await sub.recv())["subject"] == "w/arm-07/gyro"  # only via w/#
        await pub.send({"type": "publish", "subject": "w", "data": 2})
        assert (await sub.recv())["subject"] == "w"  # '#' matches zero levels


async def test_thesis_publisher_frame_is_a_synonym(shared_hub):
    async with (
        await WsClient.open(shared_hub.ws_url) as sub,
        await WsClient.open(shared_hub.ws_url) as pub,
    ):
        await sub.request({"type": "subscribe", "subject": "subject00001", "id": 1})
        frame = {"type": "publisher", "subject": "subject00001", "published": 1376118068325}
        await pub.send(frame)
        assert await sub.recv() == frame


async def test_publish_ack_and_unsubscribe(shared_hub):
    async with (
        await WsClient.open(shared_hub.ws_url) as sub,
        await WsClient.open(shared_hub.ws_url) as pub,
    ):
        await sub.request({"type": "subscribe", "subject": "u/x", "id": 1})
        assert await pub.request({"type": "publish", "subject": "u/x", "id": 9}) == {
            "type": "ack",
            "id": 9,
        }
        assert (await sub.recv())["id"] == 9
        assert await sub.request({"type": "unsubscribe", "subject": "u/x", "id": 2}) == {
            "type": "ack",
            "id": 2,
        }
        await pub.request({"type": "publish", "subject": "u/x", "id": 10})
        await sub.nothing()


async def test_retained_last_value(shared_hub):
    async with await WsClient.open(shared_hub.ws_url) as pub:
        await pub.request({"type": "publish", "subject": "r/a", "data": 1, "retain": True, "id": 1})
        await pub.request({"type": "publish", "subject": "r/a", "data": 2, "retain": True, "id": 2})
        await pub.request({"type": "publish", "subject": "r/b", "data": 3, "id": 3})
    async with await WsClient.open(shared_hub.ws_url) as sub:
        await sub.send({"type": "subscribe", "subject": "r/+", "id": 5, "last": True})
        assert await sub.recv() == {"type": "ack", "id": 5}
        retained = await sub.recv()
        assert retained["data"] == 2 and retained["subject"] == "r/a"
        await sub.nothing()
        # Without last: nothing retained is sent.
        await sub.request({"type": "subscribe", "subject": "r/a", "id": 6})
        await sub.nothing()


async def test_a_retained_publish_without_data_deletes_the_value(shared_hub):
    async with (
        await WsClient.open(shared_hub.ws_url) as pub,
        await WsClient.open(shared_hub.ws_url) as live,
    ):
        await pub.request(
            {"type": "publish", "subject": "rd/a", "data": 1, "retain": True, "id": 1}
        )
        await pub.request(
            {"type": "publish", "subject": "rd/b", "data": 2, "retain": True, "id": 2}
        )
        await live.request({"type": "subscribe", "subject": "rd/+", "id": 3})
        # no data (absent, or null) with retain: delivered as usual, and the value is gone
        await pub.request({"type": "publish", "subject": "rd/a", "retain": True, "id": 4})
        await pub.request(
            {"type": "publish", "subject": "rd/b", "data": None, "retain": True, "id": 5}
        )
        got = [await live.recv(), await live.recv()]
        assert [(m["subject"], m.get("data")) for m in got] == [("rd/a", None), ("rd/b", None)]
        status, _, body = http(
            f"{shared_hub.http_url}/publish",
            json.dumps({"type": "publish", "subject": "rd/c", "data": 3, "retain": True}).encode(),
        )
        assert status == 200
        status, _, body = http(
            f"{shared_hub.http_url}/publish",
            json.dumps({"type": "publish", "subject": "rd/c", "retain": True}).encode(),
        )
        assert status == 200, body
    async with await WsClient.open(shared_hub.ws_url) as sub:
        await sub.send({"type": "subscribe", "subject": "rd/#", "id": 6, "last": True})
        assert await sub.recv() == {"type": "ack", "id": 6}
        await sub.nothing()


async def test_errors_keep_the_connection(shared_hub):
    cases = [
        ("not json", "bad_json"),
        (b"\xff\xfe", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ({"subject": "a"}, "bad_frame"),
        ({"type": "dance", "id": 4}, "bad_frame"),
        ({"type": "publish", "subject": 5}, "bad_frame"),
        ({"type": "publish"}, "bad_frame"),
        ({"type": "publish", "subject": "a", "published": "soon"}, "bad_frame"),
        ({"type": "publish", "subject": "a", "retain": "yes"}, "bad_frame"),
        ({"type": "subscribe", "subject": "a", "last": 1}, "bad_frame"),
        ({"type": "subscribe", "subject": "a", "since": -1}, "bad_frame"),
        ({"type": "subscribe", "subject": "a/+", "since": 3}, "bad_frame"),
        ({"type": "ping", "id": [1]}, "bad_frame"),
        ({"type": "publish", "subject": "earl/+/accel"}, "bad_subject"),
        ({"type": "publish", "subject": "a/#"}, "bad_subject"),
        ({"type": "publish", "subject": "a//b"}, "bad_subject"),
        ({"type": "publish", "subject": "$hub/x"}, "bad_subject"),
        ({"type": "publish", "subject": "a\u0000b"}, "bad_subject"),
        ({"type": "publish", "subject": "x" * 257}, "bad_subject"),
        ({"type": "publish", "subject": ""}, "bad_subject"),
        ({"type": "subscribe", "subject": "a/#/b"}, "bad_subject"),
        ({"type": "subscribe", "subject": "a/b+"}, "bad_subject"),
    ]
    async with await WsClient.open(shared_hub.ws_url) as client:
        for frame, code in cases:
            await client.send(frame)
            answer = await client.recv()
            assert answer["type"] == "error", frame
            assert answer["code"] == code, (frame, answer)
            assert answer["reason"]
        # The error carries the frame's id, and the connection still works.
        answer = await client.request({"type": "publish", "subject": "a/+", "id": "z"})
        assert answer["id"] == "z"
        assert await client.request({"type": "ping", "id": 2}) == {"type": "pong", "id": 2}


async def test_binary_frame_holding_json_is_accepted(shared_hub):
    async with (
        await WsClient.open(shared_hub.ws_url) as sub,
        await WsClient.open(shared_hub.ws_url) as pub,
    ):
        await sub.request({"type": "subscribe", "subject": "bin/x", "id": 1})
        await pub.send(json.dumps({"type": "publish", "subject": "bin/x", "data": "é"}).encode())
        assert (await sub.recv())["data"] == "é"


async def test_too_large_frame_closes_with_1009(shared_hub):
    async with await WsClient.open(shared_hub.ws_url) as client:
        await client.send(json.dumps({"type": "publish", "subject": "big", "data": "x" * 70000}))
        answer = await client.recv()
        assert answer["code"] == "too_large"
        with pytest.raises(ConnectionClosed) as closed:
            await client.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_fragmented_message_is_reassembled(shared_hub):
    async with (
        await WsClient.open(shared_hub.ws_url) as sub,
        await WsClient.open(shared_hub.ws_url) as pub,
    ):
        await sub.request({"type": "subscribe", "subject": "frag", "id": 1})
        text = json.dumps({"type": "publish", "subject": "frag", "data": "y" * 3000})
        await pub.ws.send(text[i : i + 1000] for i in range(0, len(text), 1000))
        assert (await sub.recv())["data"] == "y" * 3000


async def test_durable_since_replays_without_gap_or_duplicate(shared_hub):
    async with (
        await WsClient.open(shared_hub.ws_url) as pub,
        await WsClient.open(shared_hub.ws_url) as sub,
    ):
        await sub.request({"type": "subscribe", "subject": "durable/d1", "id": 1})
        for i in range(5):
            await pub.request({"type": "publish", "subject": "durable/d1", "data": i, "id": i})
        live = [await sub.recv() for _ in range(5)]
        offsets = [m["_offset"] for m in live]
        assert offsets == sorted(offsets) and len(set(offsets)) == 5
        epoch = live[0]["_epoch"]
    async with await WsClient.open(shared_hub.ws_url) as late:
        await late.send(
            {
                "type": "subscribe",
                "subject": "durable/d1",
                "id": 2,
                "since": offsets[1],
                "epoch": epoch,
            }
        )
        assert await late.recv() == {"type": "ack", "id": 2, "recovered": True}
        replay = [await late.recv() for _ in range(3)]
        assert [m["data"] for m in replay] == [2, 3, 4]
        await late.nothing()
        # A different epoch: the hub says history was lost and sends what it has.
        await late.send(
            {"type": "subscribe", "subject": "durable/d1", "id": 3, "since": 2, "epoch": "other"}
        )
        assert await late.recv() == {"type": "ack", "id": 3, "recovered": False}


async def test_since_while_publishing_has_no_gap_no_duplicate(shared_hub):
    async with (
        await WsClient.open(shared_hub.ws_url) as pub,
        await WsClient.open(shared_hub.ws_url) as sub,
    ):
        for i in range(10):
            await pub.send({"type": "publish", "subject": "durable/race", "data": i})
        await pub.request({"type": "ping", "id": 0})

        async def keep_publishing() -> None:
            for i in range(10, 60):
                await pub.send({"type": "publish", "subject": "durable/race", "data": i})

        task = asyncio.create_task(keep_publishing())
        await sub.send({"type": "subscribe", "subject": "durable/race", "id": 1, "since": 0})
        await task
        assert (await sub.recv())["recovered"] is True
        got = [(await sub.recv())["data"] for _ in range(60)]
        assert got == list(range(60))
        await sub.nothing()


async def test_retention_overflow_reports_not_recovered(shared_hub):
    async with await WsClient.open(shared_hub.ws_url) as pub:
        for i in range(60):  # retention is 50
            await pub.send({"type": "publish", "subject": "durable/overflow", "data": i})
        await pub.request({"type": "ping", "id": 0})
        await pub.send({"type": "subscribe", "subject": "durable/overflow", "id": 1, "since": 0})
        assert (await pub.recv())["recovered"] is False
        replayed = [(await pub.recv())["data"] for _ in range(50)]
        assert replayed == list(range(10, 60))  # the 50 newest, in order


async def test_http_publish_healthz_stats_metrics(shared_hub):
    base = shared_hub.http_url
    async with await WsClient.open(shared_hub.ws_url) as sub:
        await sub.request({"type": "subscribe", "subject": "h/x", "id": 1})
        body = json.dumps({"type": "publish", "subject": "h/x", "data": 5, "id": "q"}).encode()
        status, _, answer = await asyncio.to_thread(http, f"{base}/publish", body)
        assert status == 200 and json.loads(answer) == {"type": "ack", "id": "q"}
        assert (await sub.recv())["data"] == 5
    status, _, answer = await asyncio.to_thread(
        http, f"{base}/publish", b'{"type":"publish","subject":"a/+"}'
    )
    assert status == 400 and json.loads(answer)["code"] == "bad_subject"
    status, _, answer = await asyncio.to_thread(http, f"{base}/publish", b"nope")
    assert status == 400 and json.loads(answer)["code"] == "bad_json"
    status, _, answer = await asyncio.to_thread(http, f"{base}/healthz")
    assert status == 200 and json.loads(answer)["status"] == "ok"
    status, _, answer = await asyncio.to_thread(http, f"{base}/stats")
    stats = json.loads(answer)
    assert stats["totals"]["messages_in"] >= 1 and "last_second" in stats
    status, headers, answer = await asyncio.to_thread(http, f"{base}/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    text = answer.decode()
    for name in (
        "earlgate_messages_in_total",
        "earlgate_messages_out_total",
        "earlgate_connections_open",
        "earlgate_message_service_seconds_bucket",
        "earlgate_event_loop_lag_seconds_count",
        "process_cpu_seconds_total",
    ):
        assert name in text, name
    status, _, _ = await asyncio.to_thread(http, f"{base}/nowhere")
    assert status == 404
    status, _, _ = await asyncio.to_thread(http, f"{base}/publish")  # GET
    assert status == 405


async def test_hub_on_uvloop(hub_factory):
    hub = hub_factory("--uvloop")
    async with (
        await WsClient.open(hub.ws_url) as sub,
        await WsClient.open(hub.ws_url) as pub,
    ):
        await sub.request({"type": "subscribe", "subject": "uv", "id": 1})
        await pub.send({"type": "publish", "subject": "uv", "data": 1})
        assert (await sub.recv())["data"] == 1
