"""Carries out the hub core's actions on the event loop.

:class:`Effects` is the only place where the hub's protocol work meets
asyncio: it writes and closes sessions, hands publishes with an ``id`` to the
broker and feeds the verdict back to the core, runs each replay as a task
that awaits the broker and feeds what it read back, keeps the token expiry
timers, and awaits the broker's verdict for ``POST /publish``. Fan-out does
not pass through here: the broker calls :meth:`Hub.deliver`, which writes to
the sessions directly (see :mod:`earlgate.hub.core`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from earlgate.hub.actions import Actions, ArmExpiry, Close, Publish, Replay, ReplayKind, Send
from earlgate.hub.core import Hub
from earlgate.hub.session import Session

logger = logging.getLogger(__name__)


class Effects:
    """Performs :mod:`~earlgate.hub.actions` for one :class:`Hub`.

    Args:
        hub: the core whose actions these are, and which gets the results.
        wall_clock: seconds since the epoch, the time base of tokens' ``exp``.
    """

    def __init__(self, hub: Hub, wall_clock: Callable[[], float] = time.time) -> None:
        self.hub = hub
        self.broker = hub.broker
        self.wall_clock = wall_clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._expiry: dict[Session, asyncio.TimerHandle] = {}

    def perform(self, actions: Actions) -> None:
        """Carry out ``actions`` in order."""
        for action in actions:
            if isinstance(action, Send):
                action.session.send(action.raw)
            elif isinstance(action, Close):
                action.session.close(action.code, action.reason)
            elif isinstance(action, Publish):
                self._publish(action)
            elif isinstance(action, Replay):
                task = asyncio.get_running_loop().create_task(self._replay(action))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                self._arm(action)

    # -- publishes --------------------------------------------------------

    def _publish(self, publish: Publish) -> None:
        hub = self.hub

        def done(code: str | None, reason: str) -> None:
            self.perform(hub.publish_done(publish, code, reason))

        try:
            self.broker.publish(publish.subject, publish.raw, retain=publish.retain, on_done=done)
        except Exception:  # a bug must not take the connection or the hub down
            logger.exception("internal error publishing for %r", publish.session)
            if publish.session is not None:
                self.perform(hub.internal_error(publish.session))

    async def publish_http(
        self, body: bytes, authorization: str = ""
    ) -> tuple[int, dict[str, Any]]:
        """``POST /publish``: answers once the broker has given its verdict, like a
        WebSocket publish's ack (200: accepted, and stored on a durable subject)."""
        hub = self.hub
        outcome = hub.publish_http(body, authorization)
        if not isinstance(outcome, Publish):
            return outcome
        verdict: asyncio.Future[tuple[str | None, str]] = asyncio.get_running_loop().create_future()

        def done(code: str | None, reason: str) -> None:
            if not verdict.done():
                verdict.set_result((code, reason))

        self.broker.publish(outcome.subject, outcome.raw, retain=outcome.retain, on_done=done)
        try:
            code, reason = await asyncio.wait_for(verdict, hub.config.publish_timeout)
        except TimeoutError:
            return hub.http_publish_timed_out(outcome)
        return hub.http_publish_done(outcome, code, reason)

    # -- replays ----------------------------------------------------------

    async def _replay(self, replay: Replay) -> None:
        """Read what ``replay`` needs once live messages flow, and let the core answer."""
        hub, broker, pattern = self.hub, self.broker, replay.pattern
        try:
            try:
                # Live messages must flow before stored ones are read: no gap.
                await broker.wait_subscribed(pattern)
                kind = replay.kind
                if kind is ReplayKind.ACK:
                    actions = hub.subscribed(replay)
                elif kind is ReplayKind.HISTORY:
                    assert replay.since is not None
                    stored = await broker.history(pattern, replay.since, replay.epoch)
                    actions = hub.history_read(replay, stored)
                elif kind is ReplayKind.RETAINED:
                    actions = hub.retained_read(replay, await broker.retained(pattern))
                else:
                    current = await broker.positions(pattern, hub.config.max_resume_subjects)
                    histories = [
                        (read, await broker.history(*read))
                        for read in hub.positions_read(replay, current)
                    ]
                    actions = hub.resume_read(replay, current, histories)
            except Exception as exc:
                actions = hub.replay_failed(replay, exc)
            self.perform(actions)
        finally:
            hub.replay_over(replay)

    # -- token expiry -----------------------------------------------------

    def _arm(self, arm: ArmExpiry) -> None:
        session = arm.session
        timer = self._expiry.pop(session, None)
        if timer is not None:
            timer.cancel()
        if arm.at is not None:
            delay = max(arm.at - self.wall_clock(), 0.0)
            loop = asyncio.get_running_loop()
            self._expiry[session] = loop.call_later(delay, self._expired, session)

    def _expired(self, session: Session) -> None:
        self._expiry.pop(session, None)
        self.perform(self.hub.token_expired(session))
