"""bumble's in-process radio link, with the connection interval modelled.

bumble's :class:`~bumble.link.LocalLink` hands every ACL packet from one
controller to the other on the next turn of the event loop: a radio with no
latency at all. A real LE connection exchanges packets only at *connection
events*, one every connection interval (Core spec Vol 6, Part B, 4.5.1:
"connection events occur at regular intervals", 7.5 ms to 4 s). The model:

* each connection has an anchor: its events are at ``anchor + k * interval``;
  the anchor's phase is drawn at random (seeded) when the connection sends
  its first packet, as a real central places its connection events where
  its own schedule has room;
* a packet (an L2CAP fragment carrying a notification, a write request, a
  write response...) waits for the connection's next event strictly after
  the moment it was sent, and is delivered then, in the order it was sent;
* there is no limit to the packets per event and no loss (a link that stays
  up loses nothing, as LE's acknowledged link layer guarantees).

So a notification waits between 0 and one interval, and a write with
response takes one to two intervals before its response is back. Advertising
and link-layer control PDUs are not delayed. Figures measured over this link
are the model's, not a radio's.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import defaultdict
from typing import Any

from bumble import core, hci
from bumble.controller import Controller
from bumble.link import LocalLink

__all__ = ["DEFAULT_INTERVAL_S", "IntervalLink"]

DEFAULT_INTERVAL_S = 0.030
MIN_INTERVAL_S = 0.0075  # Core spec: connInterval 7.5 ms to 4.0 s
MAX_INTERVAL_S = 4.0


class IntervalLink(LocalLink):
    """A :class:`LocalLink` delivering ACL data at connection-event boundaries.

    Args:
        interval_s: the connection interval in seconds, 7.5 ms to 4 s; 0 turns
            the model off (bumble's own immediate delivery).
    """

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S, seed: int = 0) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if interval_s and not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:
            raise ValueError(f"a connection interval is 7.5 ms to 4 s, got {interval_s * 1e3} ms")
        self.interval_s = interval_s
        self._rng = random.Random(seed)
        self.packets = 0
        self.events = 0
        self._anchors: dict[frozenset[str], float] = {}
        self._queues: dict[tuple[str, str], list[Any]] = defaultdict(list)

    def next_event(self, pair: frozenset[str], now: float) -> float:
        """The time of the connection's next event strictly after ``now``."""
        anchor = self._anchors.get(pair)
        if anchor is None:
            anchor = self._anchors[pair] = now - self._rng.uniform(0, self.interval_s)
        k = math.floor((now - anchor) / self.interval_s + 1e-9) + 1
        return anchor + k * self.interval_s

    def forget(self, a: str, b: str) -> None:
        """Drop a connection's anchor (a new connection gets a new one)."""
        self._anchors.pop(frozenset((a, b)), None)

    def send_acl_data(
        self,
        sender_controller: Controller,
        destination_address: hci.Address,
        transport: core.PhysicalTransport,
        data: bytes,
    ) -> None:
        if not self.interval_s or transport != core.PhysicalTransport.LE:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        self.packets += 1
        loop = asyncio.get_running_loop()
        key = (str(sender_controller.random_address), str(destination_address))
        queue = self._queues[key]
        queue.append((sender_controller, destination_address, transport, data))
        if len(queue) == 1:
            at = self.next_event(frozenset(key), loop.time())
            loop.call_at(at, self._event, key)

    def _event(self, key: tuple[str, str]) -> None:
        queue = self._queues.pop(key, [])
        self.events += 1
        for sender, destination, transport, data in queue:
            LocalLink.send_acl_data(self, sender, destination, transport, data)
