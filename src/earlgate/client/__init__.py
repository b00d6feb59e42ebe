"""The asyncio client library for the hub.

Pure core: :mod:`~earlgate.client.state` (subscriptions, frame ids awaiting an
answer, the outgoing queue), :mod:`~earlgate.client.resume` (a subscription's
queue and resume positions), :mod:`~earlgate.client.errors`. I/O:
:mod:`~earlgate.client.hub_client` (picows, reconnect, futures and timeouts) and
:mod:`~earlgate.client.subscription` (waiting for messages).
"""

from __future__ import annotations

from earlgate.client.hub_client import (
    ClosedError,
    HubClient,
    HubClientError,
    HubError,
    QueueFullError,
    Subscription,
)

__all__ = [
    "ClosedError",
    "HubClient",
    "HubClientError",
    "HubError",
    "QueueFullError",
    "Subscription",
]
