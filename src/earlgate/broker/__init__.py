"""Brokers carry published messages to the hubs that have subscribers for them."""

from __future__ import annotations

from earlgate.broker.base import Broker, BrokerError, BrokerSink, Replay
from earlgate.broker.memory import MemoryBroker

__all__ = ["Broker", "BrokerError", "BrokerSink", "MemoryBroker", "Replay"]
