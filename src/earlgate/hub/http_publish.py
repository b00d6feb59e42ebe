"""``POST /publish`` in the hub core: the body is one publish frame, the answer an HTTP status.

The same checks as a WebSocket publish (token grants, the frame, the subject,
the broker's health), answered with PROTOCOL.md's error codes in a JSON body;
the I/O layer (:mod:`~earlgate.hub.http_routes`) hands the returned
:class:`~earlgate.hub.actions.Publish` to the broker and turns its verdict
into the answer with :meth:`HubHttpPublish.http_publish_done`.
"""

from __future__ import annotations

from typing import Any

import orjson

from earlgate.broker.base import Broker
from earlgate.hub import frames
from earlgate.hub.actions import Publish
from earlgate.hub.auth import AuthError, TokenVerifier
from earlgate.hub.config import HubConfig
from earlgate.hub.metrics import HubMetrics
from earlgate.wire import codes
from earlgate.wire.codes import FrameError, FrameId

__all__ = ["HttpAnswer", "HubHttpPublish"]

# An answer to ``POST /publish``: HTTP status and JSON body.
HttpAnswer = tuple[int, dict[str, Any]]

_PUBLISH_TYPES = (codes.PUBLISH, codes.PUBLISHER)


class HubHttpPublish:
    """The ``POST /publish`` half of the hub core (:class:`~earlgate.hub.core.Hub`)."""

    broker: Broker
    config: HubConfig
    metrics: HubMetrics
    verifier: TokenVerifier | None

    def _valid_subject(self, subject: Any, frame_id: FrameId | None) -> str:
        raise NotImplementedError

    def _unretain(self, subject: str) -> bool:
        raise NotImplementedError

    def publish_http(self, payload: bytes, authorization: str = "") -> HttpAnswer | Publish:
        """``POST /publish``: one publish frame as the body, and the request's
        ``Authorization`` header. Returns the answer, or the :class:`Publish` to
        hand to the broker, whose verdict :meth:`http_publish_done` turns into one.
        """
        if self.verifier is not None:
            if not authorization.lower().startswith("bearer "):
                return 401, {"error": "token required: Authorization: Bearer"}
            try:
                grants = self.verifier.verify(authorization[7:].strip())
            except AuthError as exc:
                return 401, {"error": str(exc)}
            subject = _subject_of(payload)
            if subject is not None and not grants.may_publish(subject):
                return 403, {
                    "type": "error",
                    "code": codes.FORBIDDEN,
                    "reason": f"not allowed: {subject}",
                }
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
            return self._http_error(exc.code, exc.reason)
        if retain and message.get("data") is None:
            retain = self._unretain(subject)
        self.metrics.messages_in += 1
        self.metrics.bytes_in += len(payload)
        return Publish(None, subject, bytes(payload), retain, frame_id)

    def http_publish_done(self, publish: Publish, code: str | None, reason: str) -> HttpAnswer:
        """The broker's verdict on a ``POST /publish``: 200 with an ack, or the error."""
        if code is not None:
            return self._http_error(code, reason)
        answer: dict[str, Any] = {"type": "ack"}
        if publish.frame_id is not None:
            answer["id"] = publish.frame_id
        return 200, answer

    def http_publish_timed_out(self, publish: Publish) -> HttpAnswer:
        """No verdict came within ``publish_timeout``."""
        timeout = self.config.publish_timeout
        reason = f"broker gave no verdict within {timeout:g} s"
        return self.http_publish_done(publish, codes.UNAVAILABLE, reason)

    def _http_error(self, code: str, reason: str) -> HttpAnswer:
        self.metrics.error(code)
        status = 503 if code == codes.UNAVAILABLE else 400
        return status, {"type": "error", "code": code, "reason": reason}


def _subject_of(body: bytes) -> str | None:
    """The ``subject`` of a JSON object body, if it has a string one (for authorization)."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    subject = message.get("subject") if isinstance(message, dict) else None
    return subject if isinstance(subject, str) else None
