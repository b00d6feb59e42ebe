"""One subscription of a :class:`~earlgate.client.HubClient`: iterate it to get messages.

The bookkeeping (the bounded queue, where each durable subject stands, the
counters) is :class:`~earlgate.client.resume.SubscriptionState`, driven by the
client's state machine; this subclass adds waiting for the next message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from earlgate.client.resume import SubscriptionState

if TYPE_CHECKING:
    from earlgate.client.hub_client import HubClient


class Subscription(SubscriptionState):
    """Messages of one pattern; iterate it with ``async for``.

    ``recovered`` is the hub's answer to the last resume: ``False`` means
    messages were missed (history lost or too old) and state must be reloaded.
    """

    def __init__(
        self,
        client: HubClient,
        pattern: str,
        last: bool,
        since: int | None,
        maxsize: int,
        resume: bool = False,
    ) -> None:
        super().__init__(pattern, last, since, maxsize, resume)
        self.client = client
        self._ready = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Subscription {self.pattern!r} offset={self.offset}>"

    def _wake(self) -> None:
        """A message was queued, or the subscription closed."""
        self._ready.set()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while not self._queue:
            if self.closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    async def get(self) -> dict[str, Any]:
        """The next message (wrap in ``asyncio.timeout`` to bound the wait)."""
        return await self.__anext__()

    async def close(self) -> None:
        await self.client.unsubscribe(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
