"""The hub's engine: frames and broker results in, actions out, no sockets and no event loop.

The I/O layer (:mod:`~earlgate.hub.effects`, :mod:`~earlgate.hub.connection`)
feeds :meth:`Hub.handle_frame` with each complete frame of a session and
carries out the :mod:`~earlgate.hub.actions` each method returns, in order:
``Send`` and ``Close`` on the session, ``Publish`` to the broker with its
verdict fed back (:meth:`Hub.publish_done`), ``Replay`` as a coroutine that
reads the broker and feeds what it read back (:mod:`~earlgate.hub.replays`),
``ArmExpiry`` as a timer that calls :meth:`Hub.token_expired`.
Everything a client can get wrong is answered here with PROTOCOL.md's error
codes, and nothing a client sends can raise out of ``handle_frame``.

The hot path allocates no actions. The broker calls :meth:`Hub.deliver` for
every message, and fan-out writes through each session's send queue directly
(:meth:`Session.deliver`) rather than returning one ``Send`` per recipient; so
do ``Hub.replay_over``, which releases the live messages a session held
back during a replay, and a publish without an ``id``, which the core hands to
the broker's non-blocking :meth:`~earlgate.broker.base.Broker.publish` itself
(nobody waits for its verdict) and answers with an empty tuple. The core reads
time only from the clocks it is given.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from earlgate.broker.base import Broker
from earlgate.hub import frames
from earlgate.hub.actions import (
    NO_ACTIONS,
    Actions,
    ArmExpiry,
    Close,
    Publish,
    Replay,
    ReplayKind,
    Send,
)
from earlgate.hub.auth import AuthError, TokenVerifier
from earlgate.hub.config import HubConfig
from earlgate.hub.http_publish import HubHttpPublish
from earlgate.hub.metrics import HubMetrics
from earlgate.hub.replays import SLOW_CONSUMER, HubReplays
from earlgate.hub.resume import Resume, parse_resume
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
CLOSE_TOO_LARGE = 1009  # RFC 6455: message too big


class Hub(HubReplays, HubHttpPublish):
    """Subscriptions of all local sessions, and the publish/subscribe logic.

    The answers to subscribes that wait on the broker are in
    :class:`~earlgate.hub.replays.HubReplays`, ``POST /publish`` in
    :class:`~earlgate.hub.http_publish.HubHttpPublish`.

    Args:
        broker: where publishes go and deliveries come from.
        config: limits; the defaults when None.
        metrics: counters the server exposes; new ones when None.
        clock: monotonic seconds, for publish rate limits.
        timer_ns: nanoseconds, for the service time of publishes.
        verifier: checks tokens (``auth`` frames, ``POST /publish``); None: no tokens.
    """

    def __init__(
        self,
        broker: Broker,
        config: HubConfig | None = None,
        metrics: HubMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        verifier: TokenVerifier | None = None,
        timer_ns: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self.broker = broker
        self.verifier = verifier
        self.config = config or HubConfig()
        self.metrics = metrics or HubMetrics()
        self.clock = clock
        self.timer_ns = timer_ns
        self.index: SubjectIndex[Session] = SubjectIndex()
        self.sessions: set[Session] = set()
        self.shedding = False  # set by the server while the loop lags too much
        self._pattern_refs: Counter[str] = Counter()
        self._subject_ok: set[str] = set()  # valid subjects seen (each at most 256 bytes)
        self.local_only = 0  # publishes delivered on this hub only, while the broker was down
        broker.attach(self)

    # -- sessions ---------------------------------------------------------

    def open_session(self, session: Session) -> Actions:
        self.sessions.add(session)
        metrics = self.metrics
        metrics.connections_open += 1
        metrics.connections_opened += 1
        grants = session.grants
        if grants is not None and grants.expires is not None:
            return (ArmExpiry(session, grants.expires),)
        return NO_ACTIONS

    def close_session(self, session: Session) -> Actions:
        if session not in self.sessions:
            return NO_ACTIONS
        self.sessions.discard(session)
        session.closed = True
        for pattern in list(session.subscriptions):
            self._unsubscribe(session, pattern)
        metrics = self.metrics
        metrics.connections_open -= 1
        metrics.connections_closed += 1
        grants = session.grants
        if grants is not None and grants.expires is not None:
            return (ArmExpiry(session, None),)
        return NO_ACTIONS

    def token_expired(self, session: Session) -> Actions:
        """The session's token passed its ``exp`` without a fresh one: refuse and close."""
        if session not in self.sessions:
            return NO_ACTIONS
        reason = "token expired: send a fresh one in an 'auth' frame before 'exp'"
        refused = self.refuse(session, FrameError(codes.FORBIDDEN, reason))
        return (*refused, Close(session, codes.CLOSE_TOKEN_EXPIRED, "token expired"))

    def frame_too_large(self, session: Session, size: int) -> Actions:
        # PROTOCOL.md: "too_large (frame over the hub's limit ...; the hub closes with status 1009)"
        limit = self.config.max_frame
        reason = f"frame of {size} bytes is over the limit of {limit} bytes"
        refused = self.refuse(session, FrameError(codes.TOO_LARGE, reason))
        return (*refused, Close(session, CLOSE_TOO_LARGE, "frame too large"))

    # -- frames from clients ---------------------------------------------

    def handle_frame(self, session: Session, payload: bytes) -> Actions:
        """Act on one complete frame from ``session``; errors become error frames."""
        started = self.timer_ns()
        metrics = self.metrics
        metrics.messages_in += 1
        metrics.bytes_in += len(payload)
        try:
            message = frames.parse_frame(payload)
            kind = message["type"]
            if kind in _PUBLISH_TYPES:
                actions = self._publish(session, message, payload)
                metrics.window_service_time.record(self.timer_ns() - started)
                return actions
            if kind == codes.SUBSCRIBE:
                return self._subscribe(session, message)
            if kind == codes.UNSUBSCRIBE:
                return self._unsubscribe_frame(session, message)
            if kind == codes.AUTH:
                return self._auth(session, message)
            return (Send(session, frames.pong_frame(message.get("id"))),)  # ping
        except FrameError as exc:
            return self.refuse(session, exc)
        except Exception:  # a bug must not take the connection or the hub down
            logger.exception("internal error handling a frame from %r", session)
            return self.internal_error(session)

    def refuse(self, session: Session, error: FrameError) -> Actions:
        self.metrics.error(error.code)
        return (Send(session, frames.error_frame(error.code, error.reason, error.frame_id)),)

    def internal_error(self, session: Session) -> Actions:
        """What a session is told when handling its frame failed on a bug."""
        return self.refuse(session, FrameError(codes.BAD_FRAME, "internal error handling frame"))

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

    def _publish(self, session: Session, message: dict[str, Any], payload: bytes) -> Actions:
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
            return NO_ACTIONS
        if retain and message.get("data") is None:
            retain = self._unretain(subject)
        if frame_id is None:
            self.broker.publish(subject, bytes(payload), retain=retain, on_done=None)
            return NO_ACTIONS
        return (Publish(session, subject, bytes(payload), retain, frame_id),)

    def _unretain(self, subject: str) -> bool:
        """A retained publish without data deletes the retained value; it is delivered, not kept."""
        self.broker.unretain(subject)
        self.metrics.retained_deleted += 1
        return False

    def publish_done(self, publish: Publish, code: str | None, reason: str) -> Actions:
        """The broker's verdict on a WebSocket :class:`Publish`: ack it or refuse it."""
        session, frame_id = publish.session, publish.frame_id
        if session is None or session.closed:
            return NO_ACTIONS
        if code is not None:
            return self.refuse(session, FrameError(code, reason, frame_id))
        if frame_id is None:
            return NO_ACTIONS
        return (Send(session, frames.ack_frame(frame_id)),)

    # -- subscriptions ----------------------------------------------------

    def _subscribe(self, session: Session, message: dict[str, Any]) -> Actions:
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
                return (Send(session, frames.ack_frame(frame_id)),)
            return NO_ACTIONS
        # Answered once live messages flow (no gap); they are held back meanwhile.
        if resume is not None:
            kind = ReplayKind.RESUME
        elif since is not None:
            kind = ReplayKind.HISTORY if self.broker.is_durable(pattern) else ReplayKind.ACK
        elif last:
            kind = ReplayKind.RETAINED
        else:  # a plain subscribe while the broker is still subscribing across hubs
            kind = ReplayKind.ACK
        session.begin_replay()
        return (Replay(session, pattern, frame_id, kind, since, epoch, resume),)

    # -- auth and unsubscribe --------------------------------------------

    def _auth(self, session: Session, message: dict[str, Any]) -> Actions:
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
        rearm = ArmExpiry(session, grants.expires)
        if frame_id is None:
            return (rearm,)
        return rearm, Send(session, frames.ack_frame(frame_id, revoked=revoked))

    def _unsubscribe_frame(self, session: Session, message: dict[str, Any]) -> Actions:
        frame_id = message.get("id")
        pattern = message.get("subject")
        if not isinstance(pattern, str):
            raise FrameError(codes.BAD_FRAME, "unsubscribe needs a 'subject' string", frame_id)
        self._unsubscribe(session, pattern)
        if frame_id is not None:
            return (Send(session, frames.ack_frame(frame_id)),)
        return NO_ACTIONS

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
        """Fan ``raw`` out to every local session subscribed to a matching pattern.

        Writes through each session directly: no action per recipient.
        """
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
            metrics.drop(SLOW_CONSUMER, dropped)

    def statistics(self) -> dict[str, Any]:
        return {
            "sessions": len(self.sessions),
            "patterns": len(self._pattern_refs),
            "local_only": self.local_only,
            "broker": self.broker.statistics(),
        }
