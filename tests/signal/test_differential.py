"""Our server against the real Node PeerServer (npm ``peer`` 1.x), same inputs.

Each scenario runs against both servers, started with the same settings, and
returns what the clients observed; the two transcripts must be equal. The
numbered tests are the cases of PEERJS.md, "Server: WebSocket"; the others are
its forwarding, queueing, expiry, liveness and HTTP behaviours.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from signalpeers import RawPeer, opened
from websockets.exceptions import ConnectionClosed, InvalidStatus

from earlgate.testing.signalprocs import ServerProcess, SignalSettings

STANDARD = SignalSettings(expire_timeout=1.0)
LIMITED = SignalSettings(concurrent_limit=2)
DISCOVERY = SignalSettings(alive_timeout=1.0, allow_discovery=True)

Scenario = Callable[[ServerProcess], Awaitable[Any]]
Pairs = Callable[[SignalSettings], tuple[ServerProcess, ServerProcess]]


async def both(pairs: Pairs, settings: SignalSettings, scenario: Scenario) -> Any:
    """Run ``scenario`` against both servers; assert equal transcripts; return ours."""
    ours, theirs = pairs(settings)
    mine, reference = await asyncio.gather(scenario(ours), scenario(theirs))
    assert mine == reference, f"earlgate: {mine!r}\nNode PeerServer: {reference!r}"
    return mine


@pytest.mark.parametrize(
    "query",
    [
        {"id": "p1", "token": "t", "key": None},
        {"id": "p1", "token": None, "key": "peerjs"},
        {"id": None, "token": "t", "key": "peerjs"},
        {"id": "", "token": "t", "key": "peerjs"},
    ],
)
async def test_1_missing_id_token_or_key(server_pairs: Pairs, query: dict[str, Any]) -> None:
    async def scenario(server: ServerProcess) -> Any:
        peer = await RawPeer.open(server.ws_url(query["id"], query["token"], query["key"]))
        return await peer.frames(2)

    seen = await both(server_pairs, STANDARD, scenario)
    assert seen[0]["type"] == "ERROR"


async def test_2_wrong_key(server_pairs: Pairs) -> None:
    async def scenario(server: ServerProcess) -> Any:
        peer = await RawPeer.open(server.ws_url("k1", "t", key="nope"))
        return await peer.frames(2)

    seen = await both(server_pairs, STANDARD, scenario)
    assert seen[0]["payload"]["msg"] == "Invalid key provided"


async def test_3_id_taken(server_pairs: Pairs) -> None:
    async def scenario(server: ServerProcess) -> Any:
        first = await opened(server.ws_url("taken3", "t1"))
        second = await RawPeer.open(server.ws_url("taken3", "t2"))
        seen = [await second.frames(2), await first.quiet()]
        await first.close()
        return seen

    seen = await both(server_pairs, STANDARD, scenario)
    assert seen[0][0]["type"] == "ID-TAKEN"


async def test_4_same_token_replaces_the_socket(server_pairs: Pairs) -> None:
    async def scenario(server: ServerProcess) -> Any:
        old = await opened(server.ws_url("re4", "tok"))
        new = await RawPeer.open(server.ws_url("re4", "tok"))
        seen = [await new.quiet()]  # no OPEN
        other = await opened(server.ws_url("re4-other", "x"))
        await other.send({"type": "OFFER", "dst": "re4", "payload": {"n": 1}})
        seen.append(await new.next())
        await new.send({"type": "ANSWER", "dst": "re4-other", "payload": {"n": 2}})
        seen.append(await other.next())
        for peer in (old, new, other):
            await peer.close()
        return seen

    seen = await both(server_pairs, STANDARD, scenario)
    assert seen[0] == "silence" and seen[1]["src"] == "re4-other"


async def test_5_concurrent_limit(server_pairs: Pairs) -> None:
    async def scenario(server: ServerProcess) -> Any:
        a = await opened(server.ws_url("lim-a", "t"))
        b = await opened(server.ws_url("lim-b", "t"))
        c = await RawPeer.open(server.ws_url("lim-c", "t"))
        seen = await c.frames(2)
        again = await RawPeer.open(server.ws_url("lim-a", "t"))  # reconnect: not a new peer
        seen.append(await again.quiet())
        for peer in (a, b, again):
            await peer.close()
        return seen

    seen = await both(server_pairs, LIMITED, scenario)
    assert seen[0]["payload"]["msg"] == "Server has reached its concurrent user limit"


async def test_6_open_then_queued_messages_in_order(server_pairs: Pairs) -> None:
    async def scenario(server: ServerProcess) -> Any:
        a = await opened(server.ws_url("q6-a", "t"))
        await a.send({"type": "OFFER", "dst": "q6-b", "payload": {"sdp": "o"}})
        for n in range(3):
            await a.send({"type": "CANDIDATE", "dst": "q6-b", "payload": {"n": n}})
        await a.send({"type": "LEAVE", "dst": "q6-b"})  # dropped, not queued
        await asyncio.sleep(0.2)
        b = await RawPeer.open(server.ws_url("q6-b", "t"))
        seen = [await b.frames(5), await b.quiet()]
        await a.close()
        await b.close()
        return seen

    seen = await both(server_pairs, STANDARD, scenario)
    assert seen[0][0] == {"type": "OPEN"} and [f["payload"] for f in seen[0][2:]] == [
        {"n": 0},
        {"n": 1},
        {"n": 2},
    ]


async def test_forwarding_overwrites_src(server_pairs: Pairs) -> None:
    async def scenario(server: ServerProcess) -> Any:
        a = await opened(server.ws_url("fw-a", "t"))
        b = await opened(server.ws_url("fw-b", "t"))
        sent: list[dict[str, Any]] = [
            {"type": "OFFER", "src": "mallory", "dst": "fw-b", "payload": {"sdp": "x"}, "x": 1},
            {"type": "ANSWER", "dst": "fw-b", "payload": None},
            {"type": "CANDIDATE", "dst": "fw-b"},
            {"type": "LEAVE", "dst": "fw-b", "payload": [1, "two", 3.5, True]},
            {"type": "EXPIRE", "dst": "fw-b", "payload": {"nested": {"deep": "ü✓"}}},
        ]
        for frame in sent:
            await a.send(frame)
        seen = [await b.frames(len(sent)), await a.quiet()]
        # a binary frame holding JSON is a message too
        await b.send(b'{"type":"OFFER","dst":"fw-a","payload":7}')
        seen.append(await a.next())
        await a.close()
        await b.close()
        return seen

    seen = await both(server_pairs, STANDARD, scenario)
    assert all(frame["src"] == "fw-a" for frame in seen[0])


async def test_invalid_messages_are_dropped(server_pairs: Pairs) -> None:
    async def scenario(server: ServerProcess) -> Any:
        a = await opened(server.ws_url("inv-a", "t"))
        b = await opened(server.ws_url("inv-b", "t"))
        for frame in (
            "[1,2]",
            '{"dst":"inv-b"}',
            '{"type":"HELLO","dst":"inv-b"}',
            '{"type":"OPEN","dst":"inv-b"}',
            '{"type":"OFFER"}',
            '{"type":"OFFER","dst":""}',
        ):
            await a.send(frame)
        seen = [await a.quiet(), await b.quiet()]
        await a.send({"type": "OFFER", "dst": "inv-b", "payload": "still here"})
        seen.append(await b.next())
        await a.close()
        await b.close()
        return seen

    seen = await both(server_pairs, STANDARD, scenario)
    assert seen[:2] == ["silence", "silence"] and seen[2]["payload"] == "still here"


async def test_non_json_affects_no_other_peer(server_pairs: Pairs) -> None:
    async def scenario(server: ServerProcess) -> Any:
        a = await opened(server.ws_url("nj-a", "t"))
        b = await opened(server.ws_url("nj-b", "t"))
        c = await opened(server.ws_url("nj-c", "t"))
        for frame in ("not json", "null", '"OFFER"', b"\xff\xfe"):
            await a.send(frame)
        seen = [await b.quiet()]
        await c.send({"type": "OFFER", "dst": "nj-b", "payload": "from c"})
        seen.append(await b.next())
        a.abort()  # PeerServer no longer reads it: it would never answer a close
        for peer in (b, c):
            await peer.close()
        return seen

    seen = await both(server_pairs, STANDARD, scenario)
    assert seen == ["silence", {"type": "OFFER", "src": "nj-c", "dst": "nj-b", "payload": "from c"}]


async def test_non_json_sender_keeps_working_here(
    server_pairs: Pairs, signal_factory: Callable[..., ServerProcess]
) -> None:
    # Deliberate difference: after a frame that is not a JSON object (its
    # handler throws), PeerServer stops reading that client's socket; we drop
    # the frame and go on.
    server = signal_factory(STANDARD)
    a = await opened(server.ws_url("nj-a", "t"))
    b = await opened(server.ws_url("nj-b", "t"))
    await a.send("not json")
    await a.send({"type": "OFFER", "dst": "nj-b", "payload": 1})
    assert await b.next() == {"type": "OFFER", "src": "nj-a", "dst": "nj-b", "payload": 1}
    await a.close()
    await b.close()


async def test_queue_expires_with_one_expire_per_sender(server_pairs: Pairs) -> None:
    async def scenario(server: ServerProcess) -> Any:
        a = await opened(server.ws_url("ex-a", "t"))
        e = await opened(server.ws_url("ex-e", "t"))
        await a.send({"type": "OFFER", "dst": "ex-c", "payload": 1})
        await a.send({"type": "CANDIDATE", "dst": "ex-c", "payload": 2})
        await e.send({"type": "OFFER", "dst": "ex-c", "payload": 3})
        seen = [await a.next(3.0), await e.next(3.0), await a.quiet(), await e.quiet()]
        late = await RawPeer.open(server.ws_url("ex-c", "t"))  # nothing left for it
        seen += [await late.next(), await late.quiet()]
        for peer in (a, e, late):
            await peer.close()
        return seen

    seen = await both(server_pairs, STANDARD, scenario)
    assert seen[0] == {"type": "EXPIRE", "src": "ex-c", "dst": "ex-a"}


async def test_leave_without_dst_frees_the_id(server_pairs: Pairs) -> None:
    async def scenario(server: ServerProcess) -> Any:
        a = await opened(server.ws_url("lv-a", "t1"))
        await a.send({"type": "LEAVE"})
        await asyncio.sleep(0.2)
        again = await RawPeer.open(server.ws_url("lv-a", "t2"))
        seen = [await again.next()]
        await a.close()
        await again.close()
        return seen

    assert await both(server_pairs, STANDARD, scenario) == [{"type": "OPEN"}]


async def test_only_heartbeat_keeps_a_peer(server_pairs: Pairs) -> None:
    async def scenario(server: ServerProcess) -> Any:
        alive = await opened(server.ws_url("hb-alive", "t"))
        silent = await opened(server.ws_url("hb-silent", "t"))
        chatty = await opened(server.ws_url("hb-chatty", "t"))
        for _ in range(7):  # 2.1 s, over twice the alive timeout
            await alive.send({"type": "HEARTBEAT"})
            with contextlib.suppress(ConnectionClosed):  # once dropped
                await chatty.send({"type": "OFFER", "dst": "hb-alive", "payload": 0})
            await asyncio.sleep(0.3)
        seen = [await silent.next(1.0), await chatty.next(1.0)]
        peers = await asyncio.to_thread(get, server, "/peerjs/peers")
        seen.append(peers[1])
        await alive.close()
        return seen

    seen = await both(server_pairs, DISCOVERY, scenario)
    assert seen == [("closed", 1005), ("closed", 1005), b'["hb-alive"]']


def get(server: ServerProcess, path: str, **headers: str) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(server.http_url + path, headers=headers)
    if headers.get("Access-Control-Request-Method"):
        request.method = "OPTIONS"
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read(), {k.lower(): v for k, v in answer.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, error.read(), {k.lower(): v for k, v in error.headers.items()}


UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


async def test_http_routes(server_pairs: Pairs) -> None:
    async def scenario(server: ServerProcess) -> Any:
        info = await asyncio.to_thread(get, server, "/?ts=1&version=1.5.5")
        fresh = await asyncio.to_thread(get, server, "/anykey/id?ts=2")
        peers = await asyncio.to_thread(get, server, "/peerjs/peers")
        origin = "http://example.test"
        cors = await asyncio.to_thread(get, server, "/peerjs/id", Origin=origin)
        preflight = await asyncio.to_thread(
            get, server, "/peerjs/id", Origin=origin, **{"Access-Control-Request-Method": "GET"}
        )
        allowed = cors[2].get("access-control-allow-origin")
        return [
            (info[0], info[1], info[2]["content-type"].split(";")[0]),
            (fresh[0], bool(UUID.match(fresh[1].decode())), fresh[2]["content-type"][:9]),
            peers[0],
            allowed in ("*", origin),
            preflight[0],
            preflight[2].get("access-control-allow-origin") in ("*", origin),
        ]

    seen = await both(server_pairs, STANDARD, scenario)
    assert seen[0][0] == 200 and seen[2] == 401 and seen[4] == 204


async def test_websocket_on_another_path_is_refused(server_pairs: Pairs) -> None:
    async def scenario(server: ServerProcess) -> Any:
        url = server.ws_url("x", "t").replace("/peerjs?", "/elsewhere?")
        with pytest.raises(InvalidStatus) as refused:
            await RawPeer.open(url)
        return refused.value.response.status_code

    assert await both(server_pairs, STANDARD, scenario) == 400
