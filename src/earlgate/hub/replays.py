"""Answers to subscribes that wait on the broker: what the I/O layer read for a :class:`Replay`.

Part of :class:`~earlgate.hub.core.Hub` (a base class of it), pure like the
rest of the core: each method takes what the I/O layer read from the broker
for a :class:`~earlgate.hub.actions.Replay` and returns the actions that answer
the subscribe, in order; :meth:`HubReplays.replay_over` ends every replay.
"""

from __future__ import annotations

import logging

from earlgate.broker.base import Broker, Position
from earlgate.broker.base import Replay as Stored
from earlgate.hub import frames
from earlgate.hub.actions import NO_ACTIONS, Actions, Replay, Send
from earlgate.hub.config import HubConfig
from earlgate.hub.metrics import HubMetrics
from earlgate.hub.resume import ResumeRead, resume_answer, resume_reads
from earlgate.hub.session import Session
from earlgate.wire import codes
from earlgate.wire.codes import FrameError

logger = logging.getLogger("earlgate.hub.core")

SLOW_CONSUMER = "slow_consumer"  # the reason of frames dropped by the slow-consumer policy


class HubReplays:
    """The replay half of the hub core: see the module docstring."""

    broker: Broker
    config: HubConfig
    metrics: HubMetrics

    def refuse(self, session: Session, error: FrameError) -> Actions:
        raise NotImplementedError

    def _unsubscribe(self, session: Session, pattern: str) -> None:
        raise NotImplementedError

    # -- replays: what the I/O layer read for a Replay -------------------

    def subscribed(self, replay: Replay) -> Actions:
        """:attr:`ReplayKind.ACK`: the subscription is live; ack it (``since`` on a
        subject that is not durable: nothing is stored, ``recovered`` false)."""
        session, frame_id = replay.session, replay.frame_id
        if frame_id is None or session.closed:
            return NO_ACTIONS
        recovered = False if replay.since is not None else None
        return (Send(session, frames.ack_frame(frame_id, recovered)),)

    def history_read(self, replay: Replay, stored: Stored) -> Actions:
        """:attr:`ReplayKind.HISTORY`: ack with ``recovered``, then the stored messages."""
        session, frame_id = replay.session, replay.frame_id
        actions: list[Send] = []
        if frame_id is not None and not session.closed:
            actions.append(Send(session, frames.ack_frame(frame_id, stored.recovered)))
        for offset, raw in stored.messages:
            actions.append(Send(session, raw))
            session.replayed(replay.pattern, offset)
        self.metrics.messages_out += len(stored.messages)
        return tuple(actions)

    def retained_read(self, replay: Replay, retained: list[bytes]) -> Actions:
        """:attr:`ReplayKind.RETAINED`: ack, then the retained values."""
        session, frame_id = replay.session, replay.frame_id
        actions: list[Send] = []
        if frame_id is not None and not session.closed:
            actions.append(Send(session, frames.ack_frame(frame_id)))
        actions.extend(Send(session, raw) for raw in retained)
        self.metrics.messages_out += len(retained)
        return tuple(actions)

    def positions_read(self, replay: Replay, current: dict[str, Position]) -> list[ResumeRead]:
        """:attr:`ReplayKind.RESUME`, first step: which histories to read next.

        Raises :class:`FrameError` when the pattern covers too many durable subjects.
        """
        assert replay.resume is not None
        limit = self.config.max_resume_subjects
        return resume_reads(
            replay.pattern, current, replay.resume, limit, self.broker.is_durable, replay.frame_id
        )

    def resume_read(
        self,
        replay: Replay,
        current: dict[str, Position],
        histories: list[tuple[ResumeRead, Stored]],
    ) -> Actions:
        """:attr:`ReplayKind.RESUME`, last step: the ack with positions, then the stored
        messages."""
        assert replay.resume is not None
        session, frame_id = replay.session, replay.frame_id
        ack, stored = resume_answer(frame_id, replay.resume, current, histories)
        actions: list[Send] = []
        if ack is not None and not session.closed:
            actions.append(Send(session, ack))
        for subject, offset, raw in stored:
            actions.append(Send(session, raw))
            session.replayed(subject, offset)
        self.metrics.messages_out += len(stored)
        return tuple(actions)

    def replay_failed(self, replay: Replay, error: Exception) -> Actions:
        """Reading for ``replay`` failed: a resume the hub will not do (a
        :class:`FrameError`: no subscription either), or the broker's error
        (the client is told, the session and subscription stay)."""
        session = replay.session
        if isinstance(error, FrameError):
            self._unsubscribe(session, replay.pattern)
            return NO_ACTIONS if session.closed else self.refuse(session, error)
        logger.warning("replay for %r failed: %s", replay.pattern, error)
        if session.closed:
            return NO_ACTIONS
        reason = f"stored messages unavailable: {error}"
        return self.refuse(session, FrameError(codes.UNAVAILABLE, reason, replay.frame_id))

    def replay_over(self, replay: Replay) -> None:
        """The replay's actions are carried out (or it failed, or was cancelled):
        release the live messages held back meanwhile, minus those replayed."""
        dropped = replay.session.end_replay()
        if dropped:
            self.metrics.drop(SLOW_CONSUMER, dropped)
