"""Kept MQTT sessions on Redis and Redis Cluster: :mod:`~earlgate.broker.sessionstore`'s scripts.

Mixed into both Redis brokers. Each call is one ``EVAL`` on the client id's
slot (record and owner share a hash tag); ``take`` also publishes the notice
on the control channel, which every hub subscribes to (the single Redis on
its subscription connection, the cluster on one primary's: a classic
``PUBLISH`` reaches the whole cluster).
"""

from __future__ import annotations

import logging
from typing import Any

from earlgate.broker.base import Broker, BrokerError
from earlgate.broker.sessionstore import DROP, SAVE, TAKE, parse_taken, taken_message

logger = logging.getLogger("earlgate.broker")


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)


class RedisSessions(Broker):
    """The session store through a redis-py client (see the module docstring)."""

    def _session_client(self) -> Any:
        """The connected redis-py client; raises :class:`BrokerError` while down."""
        raise NotImplementedError

    def _session_keys(self, client_id: str) -> tuple[str, str]:
        raise NotImplementedError

    def _control_channel(self) -> bytes:
        raise NotImplementedError

    async def save_session(self, client_id: str, record: bytes, ttl: float, owner: str) -> bool:
        key, owner_key = self._session_keys(client_id)
        reply = await self._session_client().eval(SAVE, 2, key, owner_key, record, _ms(ttl), owner)
        return bool(reply)

    async def take_session(self, client_id: str, owner: str, hold: float) -> bytes | None:
        key, owner_key = self._session_keys(client_id)
        notice = taken_message(owner, client_id)
        reply = await self._session_client().eval(
            TAKE, 2, key, owner_key, owner, _ms(hold), self._control_channel(), notice
        )
        if reply is None:
            return None
        return reply if isinstance(reply, bytes) else str(reply).encode()

    async def drop_session(self, client_id: str, owner: str) -> None:
        key, owner_key = self._session_keys(client_id)
        await self._session_client().eval(DROP, 2, key, owner_key, owner)

    def _session_notice(self, data: Any) -> None:
        """A message on the control channel: tell the hub which session was taken."""
        notice = parse_taken(data) if isinstance(data, bytes) else None
        if notice is None:
            logger.warning("not a session notice on the control channel: %r", data)
            return
        if self._on_taken is not None:
            self._on_taken(*notice)


__all__ = ["BrokerError", "RedisSessions"]
