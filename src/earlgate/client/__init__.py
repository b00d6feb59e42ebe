"""The asyncio client library for the hub."""

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
