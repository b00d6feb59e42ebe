"""The hub's engine: frames in, deliveries out, no sockets.

The I/O layer feeds :meth:`Hub.handle_frame` with each complete frame of a
session and gives every session a ``write`` function; the broker calls
:meth:`Hub.deliver` for every message to fan out. Everything a client can get
wrong is answered here with PROTOCOL.md's error codes, and nothing a client
sends can raise out of ``handle_frame``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from earlgate.broker.base import Broker
from earlgate.hub import frames
from earlgate.hub.auth import AuthError, TokenVerifier
from earlgate.hub.config import HubConfig
from earlgate.hub.metrics import HubMetrics
from earlgate.hub.resume import Resume, parse_resume, replay_pattern
from earlgate.hub.session import Session
from earlgate.wire import codes
from earlgate.wire.codes import FrameError, FrameId
from earlgate.wire.subjects import (
    SubjectError,
    SubjectIndex,
    check_pattern,
    check_subject,
    is_wildcard,
)

logger = logging.getLogger(__name__)

_PUBLISH_TYPES = (codes.PUBLISH, codes.PUBLISHER)
# Valid published subjects remembered so that each is checked once; subjects
# are at most 256 bytes, so the cache holds at most about 30 MB.
SUBJECT_CACHE_ENTRIES = 100_000


class Hub:
    """Subscriptions of all local sessions, and the publish/subscribe logic."""

    def __init__(
        self,
        broker: Broker,
        config: HubConfig | None = None,
        metrics: HubMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        verifier: TokenVerifier | None = None,
    ) -> None:
        self.broker = broker
        self.verifier = verifier
        self.config = config or HubConfig()
        self.metrics = metrics or HubMetrics()
        self.clock = clock
        self.index: SubjectIndex[Session] = SubjectIndex()
        self.sessions: set[Session] = set()
        self.shedding = False  # set by the server while the loop lags too much
        self._pattern_refs: Counter[str] = Counter()
        self._subject_ok: set[str] = set()  # valid subjects seen (each at most 256 bytes)
        self._tasks: set[asyncio.Task[None]] = set()
        self.local_only = 0  # publishes delivered on this hub only, while the broker was down
        broker.attach(self)

    # -- sessions ---------------------------------------------------------

    def open_session(self, session: Session) -> None:
        self.sessions.add(session)
        metrics = self.metrics
        metrics.connections_open += 1
        metrics.connections_opened += 1

    def close_session(self, session: Session) -> None:
        if session not in self.sessions:
            return
        self.sessions.discard(session)
        session.closed = True
        for pattern in list(session.subscriptions):
            self._unsubscribe(session, pattern)
        metrics = self.metrics
        metrics.connections_open -= 1
        metrics.connections_closed += 1

    # -- frames from clients ---------------------------------------------

    def handle_frame(self, session: Session, payload: bytes) -> None:
        """Act on one complete frame from ``session``; errors become error frames."""
        started = time.perf_counter_ns()
        metrics = self.metrics
        metrics.messages_in += 1
        metrics.bytes_in += len(payload)
        try:
            message = frames.parse_frame(payload)
            kind = message["type"]
            if kind in _PUBLISH_TYPES:
                self._publish(session, message, payload)
                metrics.window_service_time.record(time.perf_counter_ns() - started)
            elif kind == codes.SUBSCRIBE:
                self._subscribe(session, message)
            elif kind == codes.UNSUBSCRIBE:
                self._unsubscribe_frame(session, message)
            elif kind == codes.AUTH:
                self._auth(session, message)
            else:  # ping
                session.send(frames.pong_frame(message.get("id")))
        except FrameError as exc:
            self.refuse(session, exc)
        except Exception:  # a bug must not take the connection or the hub down
            logger.exception("internal error handling a frame from %r", session)
            self.refuse(session, FrameError(codes.BAD_FRAME, "internal error handling frame"))

    def refuse(self, session: Session, error: FrameError) -> None:
        self.metrics.error(error.code)
        session.send(frames.error_frame(error.code, error.reason, error.frame_id))

    def _valid_subject(self, subject: Any, frame_id: FrameId | None) -> str:
        """Check a published subject, remembering valid ones for the next frames."""
        if not isinstance(subject, str):
            if subject is None:
                raise FrameError(codes.BAD_FRAME, "publish needs a 'subject'", frame_id)
            raise FrameError(codes.BAD_FRAME, "field 'subject' must be a string", frame_id)
        if subject in self._subject_ok:
            return subject
        try:
            check_subject(subject)
        except SubjectError as exc:
            # Invalid subjects are not remembered: they may be as long as a
            # frame, and a client can make up any number of them.
            raise FrameError(codes.BAD_SUBJECT, str(exc), frame_id) from None
        if len(self._subject_ok) >= SUBJECT_CACHE_ENTRIES:
            self._subject_ok.clear()
        self._subject_ok.add(subject)
        return subject

    def _publish(self, session: Session, message: dict[str, Any], payload: bytes) -> None:
        frame_id = message.get("id")
        subject = self._valid_subject(message.get("subject"), frame_id)
        retain = frames.check_publish_fields(message)
        if session.grants is not None and not session.grants.may_publish(subject):
            raise FrameError(codes.FORBIDDEN, f"not allowed to publish to {subject!r}", frame_id)
        payload = frames.without_hub_fields(message, payload)
        if session.bucket is not None and not session.bucket.take(self.clock()):
            raise FrameError(codes.RATE_LIMITED, "publish rate limit exceeded", frame_id)
        if self.shedding:
            raise FrameError(codes.OVERLOADED, "hub is overloaded, try again later", frame_id)
        if not self.broker.healthy():
            # Redis unreachable: a publish without an id (at-most-once, nobody
            # waits for an answer) still reaches this hub's own subscribers. One
            # with an id, or on a durable subject, is refused: whatever is acked
            # or given an offset has gone through the broker.
            if frame_id is not None or self.broker.is_durable(subject):
                raise FrameError(codes.UNAVAILABLE, "broker is unreachable", frame_id)
            self.local_only += 1
            self.deliver(subject, bytes(payload), None)
            return
        if frame_id is None:
            self.broker.publish(subject, bytes(payload), retain=retain, on_done=None)
            return

        def done(code: str | None, reason: str) -> None:
            if session.closed:
                return
            if code is None:
                session.send(frames.ack_frame(frame_id))
            else:
                self.refuse(session, FrameError(code, reason, frame_id))

        self.broker.publish(subject, bytes(payload), retain=retain, on_done=done)

    async def publish_http(self, payload: bytes) -> tuple[int, dict[str, Any]]:
        """``POST /publish``: one publish frame as the body; returns (status, JSON).

        Answers once the broker has given its verdict, like a WebSocket
        publish's ack: 200 means accepted (and stored, on a durable subject).
        """
        try:
            message = frames.parse_frame(payload)
            if message["type"] not in _PUBLISH_TYPES:
                raise FrameError(codes.BAD_FRAME, "POST /publish takes a publish frame")
            frame_id = message.get("id")
            subject = self._valid_subject(message.get("subject"), frame_id)
            retain = frames.check_publish_fields(message)
            payload = frames.without_hub_fields(message, payload)
            if not self.broker.healthy():
                raise FrameError(codes.UNAVAILABLE, "broker is unreachable", frame_id)
        except FrameError as exc:
            self.metrics.error(exc.code)
            status = 503 if exc.code == codes.UNAVAILABLE else 400
            return status, {"type": "error", "code": exc.code, "reason": exc.reason}
        self.metrics.messages_in += 1
        self.metrics.bytes_in += len(payload)
        verdict: asyncio.Future[tuple[str | None, str]] = asyncio.get_running_loop().create_future()

        def done(code: str | None, reason: str) -> None:
            if not verdict.done():
                verdict.set_result((code, reason))

        self.broker.publish(subject, bytes(payload), retain=retain, on_done=done)
        try:
            code, reason = await asyncio.wait_for(verdict, self.config.publish_timeout)
        except TimeoutError:
            code = codes.UNAVAILABLE
            reason = f"broker gave no verdict within {self.config.publish_timeout:g} s"
        if code is not None:
            self.metrics.error(code)
            status = 503 if code == codes.UNAVAILABLE else 400
            return status, {"type": "error", "code": code, "reason": reason}
        answer: dict[str, Any] = {"type": "ack"}
        if frame_id is not None:
            answer["id"] = frame_id
        return 200, answer

    def _subscribe(self, session: Session, message: dict[str, Any]) -> None:
        frame_id = message.get("id")
        raw_pattern = message.get("subject")
        if raw_pattern is None:
            raise FrameError(codes.BAD_FRAME, "subscribe needs a 'subject'", frame_id)
        try:
            pattern = check_pattern(raw_pattern)
        except SubjectError as exc:
            code = codes.BAD_FRAME if not isinstance(raw_pattern, str) else codes.BAD_SUBJECT
            raise FrameError(code, str(exc), frame_id) from None
        last, since, epoch = frames.check_subscribe_fields(message)
        resume: Resume | None = None
        if "resume" in message:
            if since is not None:
                raise FrameError(codes.BAD_FRAME, "use 'resume' or 'since', not both", frame_id)
            limit = self.config.max_resume_subjects
            resume = parse_resume(message["resume"], pattern, limit, frame_id)
        if since is not None and is_wildcard(pattern):
            raise FrameError(
                codes.BAD_FRAME,
                "'since' needs a single subject; resume a pattern with 'resume'",
                frame_id,
            )
        if session.grants is not None and not session.grants.may_subscribe(pattern):
            raise FrameError(codes.FORBIDDEN, f"not allowed to subscribe to {pattern!r}", frame_id)
        if pattern not in session.subscriptions:
            if len(session.subscriptions) >= self.config.max_subscriptions:
                raise FrameError(
                    codes.RATE_LIMITED,
                    f"subscription limit of {self.config.max_subscriptions} per connection reached",
                    frame_id,
                )
            session.subscriptions.add(pattern)
            self.index.add(pattern, session)
            self.metrics.subscriptions += 1
            self._pattern_refs[pattern] += 1
            if self._pattern_refs[pattern] == 1:
                self.broker.interest(pattern)
        if not last and since is None and resume is None and self.broker.is_subscribed(pattern):
            if frame_id is not None:
                session.send(frames.ack_frame(frame_id))
            return
        session.begin_replay()
        task = asyncio.get_running_loop().create_task(
            self._replay(session, pattern, frame_id, last, since, epoch, resume)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replay(
        self,
        session: Session,
        pattern: str,
        frame_id: FrameId | None,
        last: bool,
        since: int | None,
        epoch: str | None,
        resume: Resume | None = None,
    ) -> None:
        """Answer a subscribe with ``last``/``since``/``resume``: ack, stored messages, then live.

        Also a plain subscribe while the broker is still subscribing across hubs:
        its ack waits until messages from other hubs flow, so none is missed.
        """
        try:
            # Live messages must flow before stored ones are read: no gap.
            await self.broker.wait_subscribed(pattern)
            if resume is not None:
                limit = self.config.max_resume_subjects
                sent = await replay_pattern(self.broker, session, pattern, frame_id, resume, limit)
                self.metrics.messages_out += sent
            elif not last and since is None:
                if frame_id is not None and not session.closed:
                    session.send(frames.ack_frame(frame_id))
            elif since is not None:
                if self.broker.is_durable(pattern):
                    replay = await self.broker.history(pattern, since, epoch)
                    recovered: bool | None = replay.recovered
                    stored = replay.messages
                else:
                    recovered, stored = False, []
                if frame_id is not None and not session.closed:
                    session.send(frames.ack_frame(frame_id, recovered))
                for offset, raw in stored:
                    session.send(raw)
                    session.replayed(pattern, offset)
                self.metrics.messages_out += len(stored)
            else:
                retained = await self.broker.retained(pattern)
                if frame_id is not None and not session.closed:
                    session.send(frames.ack_frame(frame_id))
                for raw in retained:
                    session.send(raw)
                self.metrics.messages_out += len(retained)
        except FrameError as exc:  # a resume the hub will not do: no subscription either
            self._unsubscribe(session, pattern)
            if not session.closed:
                self.refuse(session, exc)
        except Exception as exc:  # the broker failed: tell the client, keep the session
            logger.warning("replay for %r failed: %s", pattern, exc)
            if not session.closed:
                self.refuse(
                    session,
                    FrameError(codes.UNAVAILABLE, f"stored messages unavailable: {exc}", frame_id),
                )
        finally:
            dropped = session.end_replay()
            if dropped:
                self.metrics.drop("slow_consumer", dropped)

    def _auth(self, session: Session, message: dict[str, Any]) -> None:
        """Replace a connection's token before the old one expires.

        Subscriptions the new token does not allow are dropped and listed in
        the ack's ``revoked``; a bad token is refused and changes nothing.
        """
        frame_id = message.get("id")
        token = message.get("token")
        if self.verifier is None:
            raise FrameError(codes.BAD_FRAME, "this hub does not use tokens", frame_id)
        if not isinstance(token, str) or not token:
            raise FrameError(codes.BAD_FRAME, "auth needs a 'token' string", frame_id)
        try:
            grants = self.verifier.verify(token)
        except AuthError as exc:
            raise FrameError(codes.FORBIDDEN, str(exc), frame_id) from None
        revoked = sorted(p for p in session.subscriptions if not grants.may_subscribe(p))
        for pattern in revoked:
            self._unsubscribe(session, pattern)
        session.grants = grants
        if session.on_grants is not None:
            session.on_grants()
        if frame_id is not None:
            session.send(frames.ack_frame(frame_id, revoked=revoked))

    def _unsubscribe_frame(self, session: Session, message: dict[str, Any]) -> None:
        frame_id = message.get("id")
        pattern = message.get("subject")
        if not isinstance(pattern, str):
            raise FrameError(codes.BAD_FRAME, "unsubscribe needs a 'subject' string", frame_id)
        self._unsubscribe(session, pattern)
        if frame_id is not None:
            session.send(frames.ack_frame(frame_id))

    def _unsubscribe(self, session: Session, pattern: str) -> None:
        if pattern not in session.subscriptions:
            return
        session.subscriptions.discard(pattern)
        self.index.remove(pattern, session)
        self.metrics.subscriptions -= 1
        refs = self._pattern_refs
        refs[pattern] -= 1
        if refs[pattern] <= 0:
            del refs[pattern]
            self.broker.disinterest(pattern)

    # -- deliveries from the broker --------------------------------------

    def deliver(self, subject: str, raw: bytes, offset: int | None) -> None:
        """Fan ``raw`` out to every local session subscribed to a matching pattern."""
        targets = self.index.match(subject)
        if not targets:
            return
        dropped = 0
        for session in targets:
            dropped += session.deliver(subject, raw, offset)
        metrics = self.metrics
        metrics.messages_out += len(targets)
        metrics.bytes_out += len(raw) * len(targets)
        if dropped:
            metrics.drop("slow_consumer", dropped)

    def statistics(self) -> dict[str, Any]:
        return {
            "sessions": len(self.sessions),
            "patterns": len(self._pattern_refs),
            "local_only": self.local_only,
            "broker": self.broker.statistics(),
        }
