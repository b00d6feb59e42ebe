"""Application-layer forwarding through a real ``earlgate gateway`` process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gwpeers import join, peering, scrape, take
from gwprocs import Process, start_gateway, write
from rtcprocs import Turn

ROUTES = """
[[forward]]
from = "fw-a"
to = ["fw-b", "fw-c"]

[[forward]]
from = ["fw-b", "fw-c"]
to = "fw-a"
"""


async def test_forward_one_to_many_and_back(
    signal_server: Process, relay: Turn, tmp_path: Path
) -> None:
    gateway = start_gateway(
        signal_server.url, relay, "fw-gw", "--routes", str(write(tmp_path / "r.toml", ROUTES))
    )
    options = peering(signal_server, relay)
    try:
        joined = await asyncio.gather(
            *(join(options, f"fw-{n}", "fw-gw", serialization="json", reliable=True) for n in "abc")
        )
        (a, to_a), (b, to_b), (c, to_c) = joined
        messages = [{"seq": n, "v": [0.1 * n, 0.0, 9.8]} for n in range(20)]
        for message in messages:
            to_a.send(message)
        assert await take(to_b, 20) == messages
        assert await take(to_c, 20) == messages
        to_b.send({"from": "b"})
        to_c.send({"from": "c"})
        assert sorted(m["from"] for m in await take(to_a, 2)) == ["b", "c"]
        assert gateway.metrics_url is not None
        samples = scrape(gateway.metrics_url)
        assert (
            samples['earlgate_gateway_route_messages_in_total{kind="forward",route="forward#1"}']
            == 20
        )
        assert (
            samples['earlgate_gateway_route_messages_out_total{kind="forward",route="forward#1"}']
            == 40
        )
        assert (
            samples['earlgate_gateway_route_messages_out_total{kind="forward",route="forward#2"}']
            == 2
        )
        assert samples["earlgate_gateway_peers"] == 3
        assert (
            samples[
                'earlgate_gateway_route_latency_seconds_count{kind="forward",route="forward#1"}'
            ]
            == 40
        )
        await asyncio.gather(*(p.destroy() for p in (a, b, c)))
    finally:
        assert gateway.stop() == 0, gateway.text
