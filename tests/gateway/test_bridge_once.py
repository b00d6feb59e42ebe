"""Bridges through the gateway in this process, with a real hub, signaling server and relay:
rules that share a subscribe subject deliver each hub message once; a peer id that
would widen a subscription gets none."""

from __future__ import annotations

import logging
import tomllib

import pytest
from gwpeers import join, peering, take
from gwprocs import Process
from rtcprocs import Turn

from earlgate.client import HubClient
from earlgate.gateway.peering import PeerOptions
from earlgate.gateway.router import PeerJoined
from earlgate.gateway.routes import parse_routes
from earlgate.gateway.service import Gateway, GatewayOptions
from hubproc import start_hub

SHARED_SUBJECT = """
[[bridge]]
peer = "tw-*"
subscribe = "commands/{peer}"

[[bridge]]
peer = ["tw-1", "tw-2"]
publish = "sensors/{peer}"
subscribe = "commands/{peer}"
"""


async def test_two_bridges_on_one_subject_deliver_each_message_once(
    signal_server: Process, relay: Turn
) -> None:
    hub = start_hub()
    try:
        options = GatewayOptions(
            "tw-gw",
            peering(signal_server, relay),
            parse_routes(tomllib.loads(SHARED_SUBJECT)),
            hub=hub.ws_url,
        )
        async with Gateway(options) as gateway, HubClient(hub.ws_url) as client:
            # Retained: the peer gets it as soon as the gateway subscribes for it.
            await client.publish("commands/tw-1", {"n": 0}, retain=True, ack=True)
            peer, conn = await join(
                peering(signal_server, relay), "tw-1", "tw-gw", serialization="json", reliable=True
            )
            try:
                first = await take(conn, 1)
                assert [m["data"] for m in first] == [{"n": 0}]
                for n in (1, 2, 3):
                    await client.publish("commands/tw-1", {"n": n}, ack=True)
                received = list(first)
                while received[-1]["data"] != {"n": 3}:
                    received.extend(await take(conn, 1))
                assert [m["data"]["n"] for m in received] == [0, 1, 2, 3]
                routes = gateway.statistics()["routes"]
                assert routes["bridge#1"]["in"] == 4 and routes["bridge#1"]["out"] == 4
                assert routes.get("bridge#2", {"in": 0})["in"] == 0
            finally:
                await peer.destroy()
    finally:
        hub.stop()


async def test_a_peer_whose_id_would_widen_a_subscription_gets_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    routes = parse_routes(tomllib.loads('[[bridge]]\npeer = "th-*"\nsubscribe = "c/{peer}"\n'))
    options = GatewayOptions(
        "rf-gw", PeerOptions("http://127.0.0.1:9/"), routes, hub="ws://127.0.0.1:9/ws"
    )
    gateway = Gateway(options)  # not started: joining needs no network when nothing is bridged
    with caplog.at_level(logging.WARNING, logger="earlgate.gateway"):
        await gateway._handle(PeerJoined("th-1/#"))
    [record] = caplog.records
    assert record.getMessage().startswith("bridge#1: no bridge for th-1/#: peer id 'th-1/#'")
    assert gateway.statistics()["routes"]["bridge#1"]["refused"] == 1
    assert not gateway._bridges
