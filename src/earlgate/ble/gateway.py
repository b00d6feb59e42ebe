"""The gateway's BLE side: Earl devices to hub subjects, hub commands to GATT writes.

The decisions are :class:`~earlgate.ble.routing.GatewayCore`'s; this module
carries them out over a :class:`~earlgate.ble.central.Central` and a hub
client. One task per device connects, subscribes and waits for the link to
drop, then reconnects after the core's backoff; one task publishes, in
order, everything the notifications produced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

from earlgate.ble import profile
from earlgate.ble.central import Central, CentralError, EarlLink
from earlgate.ble.routing import Action, GatewayCore, Publish, Reconnect, Write

__all__ = ["BleGateway", "Hub"]

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
RESCAN_S = 2.0


class Hub(Protocol):
    """What the gateway needs of a hub client (:class:`~earlgate.client.HubClient`)."""

    async def publish(
        self,
        subject: str,
        data: Any = None,
        *,
        retain: bool = False,
        published: float | None = None,
    ) -> None: ...

    async def subscribe(self, pattern: str) -> Any: ...


class BleGateway:
    """Runs the BLE side of the gateway until stopped.

    Args:
        hub: a connected hub client.
        central: the BLE central.
        devices: names or addresses to connect to.
        scan_prefix: also connect to every device whose name starts with it.
        clock: wall-clock seconds (``published`` times are ms since the epoch).
    """

    def __init__(
        self,
        hub: Hub,
        central: Central,
        devices: Sequence[str] = (),
        *,
        scan_prefix: str | None = None,
        clock: Callable[[], float] = time.time,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.hub = hub
        self.central = central
        self.targets = list(devices)
        self.scan_prefix = scan_prefix
        self.clock = clock
        self.connect_timeout = connect_timeout
        self.core = GatewayCore()
        self.links: dict[str, EarlLink] = {}
        self._actions: asyncio.Queue[Action] = asyncio.Queue()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._commands: dict[str, asyncio.Task[None]] = {}
        self._writes: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self.published = 0

    def _now_ms(self) -> float:
        return self.clock() * 1000.0

    def _feed(self, actions: list[Action]) -> None:
        for action in actions:
            self._actions.put_nowait(action)

    # -- running ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Connect to the devices and serve them until ``stop`` is set."""
        await self.central.start()
        worker = asyncio.create_task(self._work(), name="ble-gateway-publish")
        for target in self.targets:
            self._add(target)
        scanner = asyncio.create_task(self._scan()) if self.scan_prefix is not None else None
        try:
            await (stop or asyncio.Event()).wait()
        finally:
            self._stop.set()
            for task in [*self._tasks.values(), *self._commands.values(), *self._writes]:
                task.cancel()
            if scanner is not None:
                scanner.cancel()
            await asyncio.gather(
                *self._tasks.values(),
                *self._commands.values(),
                *self._writes,
                *([scanner] if scanner else []),
                return_exceptions=True,
            )
            for link in list(self.links.values()):
                with contextlib.suppress(Exception):
                    await link.disconnect()
            await self._drain()
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            await self.central.close()

    async def _drain(self) -> None:
        while not self._actions.empty():
            await self._do(self._actions.get_nowait())

    def _add(self, target: str) -> None:
        if target not in self._tasks:
            self._tasks[target] = asyncio.create_task(self._device(target), name=f"ble-{target}")

    async def _scan(self) -> None:
        assert self.scan_prefix is not None
        while True:
            for found in await self.central.scan(self.scan_prefix, RESCAN_S):
                if found.name not in self._tasks:
                    self._add(found.name)

    async def _work(self) -> None:
        while True:
            action = await self._actions.get()
            try:
                await self._do(action)
            except Exception:  # the hub client queues while disconnected; log the rest
                logger.exception("BLE gateway action failed: %r", action)

    async def _do(self, action: Action) -> None:
        if isinstance(action, Publish):
            await self.hub.publish(
                action.subject, action.data, retain=action.retain, published=action.published
            )
            self.published += 1
        elif isinstance(action, Write):
            task = asyncio.create_task(self._write(action))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def _write(self, action: Write) -> None:
        link = self.links.get(action.device)
        if link is None:
            self._feed(self.core.write_failed(action.device, action.command_id, "not connected"))
            return
        try:
            await link.write(profile.LED_UUID, action.data)
        except CentralError as exc:
            self._feed(self.core.write_failed(action.device, action.command_id, str(exc)))

    # -- one device --------------------------------------------------------------------

    async def _device(self, target: str) -> None:
        while not self._stop.is_set():
            actions = await self._session(target)
            delay = 0.0
            for action in actions:
                if isinstance(action, Reconnect):
                    delay = action.delay
                else:
                    self._actions.put_nowait(action)
            await asyncio.sleep(delay)

    async def _session(self, target: str) -> list[Action]:
        try:
            link = await self.central.connect(target, self.connect_timeout)
        except CentralError as exc:
            logger.info("BLE: %s", exc)
            return self.core.connect_failed(target, str(exc))
        name = target
        try:
            info = await link.read(profile.INFO_UUID)
            if name not in self._commands:  # subscribed before "connected" is published
                subscription = await self.hub.subscribe(f"earl/{name}/led")
                self._commands[name] = asyncio.create_task(self._listen(name, subscription))
            actions = self.core.connected(name, info, self._now_ms())
            if any(isinstance(a, Reconnect) for a in actions):
                self._feed([a for a in actions if not isinstance(a, Reconnect)])
                await link.disconnect()
                return [a for a in actions if isinstance(a, Reconnect)]
            self.links[name] = link
            # the status first: a command sent on seeing "connected" gets its answer
            await link.subscribe(
                profile.STATUS_UUID,
                lambda data: self._feed(self.core.status(name, data, self._now_ms())),
            )
            self._feed(actions)
            await link.subscribe(
                profile.READINGS_UUID,
                lambda data: self._feed(self.core.reading(name, data, self._now_ms())),
            )
            reason = await link.wait_disconnected()
        except (CentralError, Exception) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):
                await link.disconnect()
        self.links.pop(name, None)
        logger.info("BLE: %s dropped: %s", name, reason)
        return self.core.disconnected(name, reason, self._now_ms())

    async def _listen(self, name: str, subscription: AsyncIterator[dict[str, Any]]) -> None:
        async for frame in subscription:
            published = frame.get("published")
            when = float(published) if isinstance(published, int | float) else None
            self._feed(self.core.command(name, frame.get("data"), self._now_ms(), when))

    def statistics(self) -> dict[str, Any]:
        return {"published": self.published, **self.core.statistics()}
