"""MQTT against a real hub process: mosquitto_pub/mosquitto_sub, raw sockets, WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from earlgate.client import HubClient
from earlgate.hub.auth import make_token
from earlgate.mqtt import packets as p
from earlgate.mqtt import reasons as r
from hubproc import HubProcess, start_hub
from polling import wait_for

from .clients import RawClient, needs_mosquitto, pub, sub, subscriptions

SECRET = "mqtt-test-secret-" + "x" * 20


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    process = start_hub("--mqtt-session-expiry-max", "60", mqtt=True)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def auth_hub() -> Iterator[HubProcess]:
    process = start_hub("--auth-secret", SECRET, mqtt=True)
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def _close_raw_clients() -> Iterator[None]:
    yield
    while RawClient.opened:
        RawClient.opened.pop().close()


def _port(hub: HubProcess) -> int:
    assert hub.mqtt_port is not None
    return hub.mqtt_port


@needs_mosquitto
@pytest.mark.parametrize("version", [p.V311, p.V5])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_and_subscribe_at_each_qos(hub: HubProcess, version: int, qos: int) -> None:
    topic = f"q/{version}/{qos}"
    listener = sub(hub.http_url, _port(hub), topic, count=2, version=version, qos=2)
    pub(_port(hub), topic, "hello", version=version, qos=qos)
    pub(_port(hub), topic, '{"t": 21.50}', version=version, qos=qos)
    assert listener.lines() == [f"0 {qos} {topic} hello", f'0 {qos} {topic} {{"t": 21.50}}']


@needs_mosquitto
def test_granted_qos_caps_the_delivery(hub: HubProcess) -> None:
    listener = sub(hub.http_url, _port(hub), "cap/t", count=1, qos=1)
    pub(_port(hub), "cap/t", "x", qos=2)
    assert listener.lines() == ["0 1 cap/t x"]


@needs_mosquitto
def test_wildcards(hub: HubProcess) -> None:
    listener = sub(hub.http_url, _port(hub), "w/+/temp", "w2/#", count=3)
    for topic in ("w/a/temp", "w/a/b/temp", "w2", "w2/x/y", "w/b/hum"):
        pub(_port(hub), topic, topic)
    assert listener.lines() == ["0 0 w/a/temp w/a/temp", "0 0 w2 w2", "0 0 w2/x/y w2/x/y"]


@needs_mosquitto
@pytest.mark.parametrize("version", [p.V311, p.V5])
def test_retained_set_replaced_and_deleted(hub: HubProcess, version: int) -> None:
    topic = f"ret/{version}"
    pub(_port(hub), topic, "one", version=version, qos=1, retain=True)
    pub(_port(hub), topic, "two", version=version, qos=1, retain=True)
    late = sub(hub.http_url, _port(hub), f"ret/{version}/#", topic, count=1, version=version, qos=1)
    assert late.lines() == [f"1 1 {topic} two"]
    pub(_port(hub), topic, None, version=version, retain=True)  # empty: deletes
    after = sub(hub.http_url, _port(hub), topic, count=1, version=version,
                extra=("-W", "1"), wait=False)  # fmt: skip
    out, _ = after.process.communicate(timeout=10)  # -W: gives up after 1 s
    assert out == ""


@needs_mosquitto
async def test_mqtt_to_websocket_and_back(hub: HubProcess, tmp_path: Path) -> None:
    binary = tmp_path / "payload.bin"
    binary.write_bytes(b"\xff\x00\x01")
    async with HubClient(hub.ws_url) as client:
        ws_sub = await client.subscribe("x/#", last=True)
        pub(_port(hub), "x/mqtt", '{"from": "mqtt"}', qos=1)
        pub(_port(hub), "x/text", "plain words")
        pub(_port(hub), "x/bin", None, file=str(binary))
        got = [await asyncio.wait_for(ws_sub.get(), 5) for _ in range(3)]
        assert got[0]["data"] == {"from": "mqtt"} and got[0]["mqtt"] == {"qos": 1}
        assert got[0]["subject"] == "x/mqtt" and got[1]["data"] == "plain words"
        assert got[2]["data"] == "/wAB" and got[2]["mqtt"] == {"encoding": "base64"}
        listener = sub(hub.http_url, _port(hub), "y/#", count=3, qos=1, extra=("-N",))
        await client.publish("y/obj", {"a": [1, 2]})
        await client.publish("y/acked", "ON", ack=True)
        await client.publish("y/b64", "AQI=", mqtt={"encoding": "base64"})
        out = listener.process.communicate(timeout=10)[0]
        assert out.encode("utf-8", "surrogateescape") == (
            b'0 0 y/obj {"a":[1,2]}0 1 y/acked ON0 0 y/b64 \x01\x02'
        )


@needs_mosquitto
async def test_websocket_retained_value_reaches_mqtt(hub: HubProcess) -> None:
    async with HubClient(hub.ws_url) as client:
        await client.publish("wsr/a", {"v": 1}, retain=True, ack=True)
    assert sub(hub.http_url, _port(hub), "wsr/a", count=1).lines() == ['1 0 wsr/a {"v":1}']


@needs_mosquitto
@pytest.mark.parametrize("version", [p.V311, p.V5])
def test_refused_subscription_under_auth(auth_hub: HubProcess, version: int) -> None:
    token = make_token(SECRET, publish=["ok/#"], subscribe=["ok/#"])
    credentials = ("-u", "device", "-P", token)
    assert _raw_suback(auth_hub, token, version) == [1, 0x80 if version == p.V311 else 0x87]
    listener = sub(auth_hub.http_url, _port(auth_hub), "ok/t", count=1, version=version,
                   qos=1, extra=credentials)  # fmt: skip
    pub(_port(auth_hub), "nope/t", "refused", version=version, qos=1, extra=credentials)
    pub(_port(auth_hub), "ok/t", "allowed", version=version, qos=1, extra=credentials)
    assert listener.lines() == ["0 1 ok/t allowed"]  # the refused publish reached nobody


def _raw_suback(hub: HubProcess, token: str, version: int) -> list[int]:
    client = RawClient(_port(hub), version)
    try:
        client.send(p.Connect(version, f"raw-{version}", True, 0, "u", token.encode()))
        ack = client.recv()
        assert isinstance(ack, p.ConnAck) and ack.reason == 0
        request = [p.SubscriptionRequest("ok/a", 1), p.SubscriptionRequest("secret/#", 1)]
        client.send(p.Subscribe(1, request))
        suback = client.recv()
        assert isinstance(suback, p.SubAck)
        return suback.reasons
    finally:
        client.close()


def test_bad_tokens_get_their_connack(auth_hub: HubProcess) -> None:
    for version, password, code in [(p.V311, None, 5), (p.V311, b"x", 4), (p.V5, b"x", 0x86)]:
        client = RawClient(_port(auth_hub), version)
        client.send(p.Connect(version, "bad", True, 0, "u" if password else None, password))
        ack = client.recv()
        assert isinstance(ack, p.ConnAck) and ack.reason == code
        assert client.closed()


def test_refused_publish_v5_is_answered_0x87(auth_hub: HubProcess) -> None:
    token = make_token(SECRET, publish=["ok/#"], subscribe=["ok/#"])
    client = RawClient(_port(auth_hub), p.V5)
    client.send(p.Connect(p.V5, "pub5", True, 0, None, token.encode()))
    assert isinstance(client.recv(), p.ConnAck)
    client.send(p.Publish("nope/x", b"1", 1, False, False, 7))
    ack = client.recv()
    assert isinstance(ack, p.PubAck) and ack.reason == r.NOT_AUTHORIZED
    client.send(p.Publish("ok/x", b"1", 1, False, False, 8))
    assert client.recv() == p.PubAck(8)
    client.close()
    metrics = _metrics(auth_hub)
    assert "earlgate_mqtt_refused_publishes_total" in metrics


def test_keep_alive_expiry(hub: HubProcess) -> None:
    client = RawClient(_port(hub), p.V5)
    started = time.monotonic()
    assert isinstance(client.connect("sleepy", keep_alive=1), p.ConnAck)
    disconnect = client.recv()  # nothing sent: closed after 1.5 s
    took = time.monotonic() - started
    assert isinstance(disconnect, p.Disconnect) and disconnect.reason == r.KEEP_ALIVE_TIMEOUT
    assert 1.4 < took < 4 and client.closed()


@needs_mosquitto
@pytest.mark.parametrize("version", [p.V311, p.V5])
def test_will_of_a_killed_client(hub: HubProcess, version: int) -> None:
    topic = f"will/{version}"
    watcher = sub(hub.http_url, _port(hub), topic, count=1, version=version, qos=1)
    will = ("--will-topic", topic, "--will-payload", "gone", "--will-qos", "1", "-i", f"w{version}")
    doomed = sub(hub.http_url, _port(hub), "will/other", count=1, version=version, extra=will)
    doomed.kill()  # SIGKILL: no DISCONNECT
    assert watcher.lines() == [f"0 1 {topic} gone"]


def test_malformed_bytes_get_the_right_disconnect_and_others_go_on(hub: HubProcess) -> None:
    bystander = RawClient(_port(hub), p.V5)
    assert isinstance(bystander.connect("bystander"), p.ConnAck)
    bystander.send(p.Subscribe(1, [p.SubscriptionRequest("mal/t", 0)]))
    assert isinstance(bystander.recv(), p.SubAck)
    cases = [
        (b"\x30\xff\xff\xff\xff\x01", r.MALFORMED_PACKET),  # remaining length of five bytes
        (b"\xc1\x00", r.MALFORMED_PACKET),  # PINGREQ with reserved flags
        (b"\x30\x05\x00\x03a\xc3(", r.MALFORMED_PACKET),  # a topic that is not UTF-8
        (b"\x36\x05\x00\x01a\x00\x01", r.MALFORMED_PACKET),  # QoS 3
        (b"\x30\x80\x80\x10", r.PACKET_TOO_LARGE),  # 256 KiB announced, over 64 KiB
    ]
    for raw, reason in cases:
        client = RawClient(_port(hub), p.V5)
        assert isinstance(client.connect("bad"), p.ConnAck)
        client.send(raw)
        disconnect = client.recv()
        assert isinstance(disconnect, p.Disconnect) and disconnect.reason == reason, raw
        assert disconnect.properties.reason_string and client.closed()
    v311 = RawClient(_port(hub), p.V311)
    v311.send(b"\x10\x0c\x00\x04MQTT\x06\x02\x00\x3c\x00\x00")  # protocol level 6
    assert v311.recv() == p.ConnAck(False, 1) and v311.closed()
    garbage = RawClient(_port(hub), p.V311)
    garbage.send(b"GET / HTTP/1.1\r\n\r\n")
    assert garbage.closed()
    sender = RawClient(_port(hub), p.V311)
    assert isinstance(sender.connect("sender"), p.ConnAck)
    sender.send(p.Publish("mal/t", b"still here"))
    delivered = bystander.recv()
    assert isinstance(delivered, p.Publish) and delivered.payload == b"still here"


def test_persistent_session_gets_what_was_published_while_away(hub: HubProcess) -> None:
    away = RawClient(_port(hub), p.V311)
    away.send(p.Connect(p.V311, "sleeper", False, 0))
    assert away.recv() == p.ConnAck(False, 0)
    away.send(p.Subscribe(1, [p.SubscriptionRequest("away/t", 1)]))
    assert away.recv() == p.SubAck(1, [1])
    away.send(p.Publish("away/t", b"first", 1, False, False, 1))
    assert away.recv() == p.PubAck(1)
    first = away.recv()  # not acknowledged: sent again after the resume
    assert isinstance(first, p.Publish) and first.payload == b"first"
    away.close()
    wait_for("the session is away", lambda: _gauge(hub, "earlgate_mqtt_connections") == 0 or None)
    sender = RawClient(_port(hub), p.V311)
    assert isinstance(sender.connect("sender2"), p.ConnAck)
    sender.send(p.Publish("away/t", b"meanwhile", 1, False, False, 5))
    assert sender.recv() == p.PubAck(5)
    back = RawClient(_port(hub), p.V311)
    back.send(p.Connect(p.V311, "sleeper", False, 0))
    assert back.recv() == p.ConnAck(True, 0)
    again, meanwhile = back.recv(), back.recv()
    assert isinstance(again, p.Publish) and again.dup and again.packet_id == first.packet_id
    assert isinstance(meanwhile, p.Publish) and meanwhile.payload == b"meanwhile"
    for client in (sender, back):
        client.close()


def test_mqtt_over_websocket_on_the_hub_port(hub: HubProcess) -> None:
    import paho.mqtt.client as mqtt

    received: list[tuple[str, bytes, bool]] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, transport="websockets",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.ws_set_options(path="/mqtt")
    client.on_message = lambda _c, _u, m: received.append((m.topic, m.payload, m.retain))
    client.connect("127.0.0.1", hub.port)
    client.loop_start()
    try:
        before = subscriptions(hub.http_url)
        client.subscribe("wsm/#", qos=1)
        wait_for("paho subscribed", lambda: subscriptions(hub.http_url) > before or None)
        client.publish("wsm/a", b"\x00\x01binary", qos=1).wait_for_publish(5)
        wait_for("paho got its message", lambda: received or None)
        assert received == [("wsm/a", b"\x00\x01binary", False)]
    finally:
        client.loop_stop()
        client.disconnect()
    status, _ = _http(f"http://127.0.0.1:{hub.port}/mqtt")
    assert status in (400, 404, 426)


def test_metrics(hub: HubProcess) -> None:
    client = RawClient(_port(hub), p.V5)
    assert isinstance(client.connect("metered"), p.ConnAck)
    text = _metrics(hub)
    assert _gauge(hub, "earlgate_mqtt_connections") >= 1
    for name in ('earlgate_mqtt_packets_in_total{type="CONNECT"}',
                 'earlgate_mqtt_packets_out_total{type="CONNACK"}', "earlgate_mqtt_inflight_out",
                 "earlgate_mqtt_queued", "earlgate_mqtt_inflight_in"):  # fmt: skip
        assert name in text, name
    client.close()


def _http(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _metrics(hub: HubProcess) -> str:
    return _http(f"{hub.http_url}/metrics")[1].decode()


def _gauge(hub: HubProcess, name: str) -> float:
    for line in _metrics(hub).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not on /metrics")


def test_stats_lists_the_mqtt_sessions(hub: HubProcess) -> None:
    client = RawClient(_port(hub), p.V5)
    assert isinstance(client.connect("stats-listed"), p.ConnAck)
    client.send(p.Subscribe(1, [p.SubscriptionRequest("st/#", 1)]))
    assert client.recv() == p.SubAck(1, [1])
    stats = json.loads(_http(f"{hub.http_url}/stats")[1])
    entry = next(e for e in stats["mqtt"]["listed"] if e["client_id"] == "stats-listed")
    assert (entry["version"], entry["transport"], entry["state"]) == ("5", "tcp", "connected")
    assert entry["filters"] == [{"filter": "st/#", "qos": 1}]
    assert stats["connections"]["mqtt_tcp"] >= 1
    mqtt = stats["mqtt"]
    assert mqtt["sessions"] == mqtt["connected"] + mqtt["kept"] >= 1
    one = json.loads(_http(f"{hub.http_url}/stats?mqtt_sessions=1")[1])["mqtt"]
    assert one["limit"] == 1 and len(one["listed"]) == 1
    status, body = _http(f"{hub.http_url}/stats?mqtt_sessions=many")
    assert status == 400 and b"mqtt_sessions must be a whole number from 0 to 1000" in body
    client.close()
