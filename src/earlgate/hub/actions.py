"""What the hub core asks its I/O layer to do: the actions its methods return.

:class:`~earlgate.hub.core.Hub` methods return a tuple of actions, carried out
in order by :class:`~earlgate.hub.effects.Effects`. An action that waits on the
broker (:class:`Publish` with a verdict, :class:`Replay`) is answered by feeding
what came back into the core again (``Hub.publish_done``, ``Hub.history_read``
...), which returns the next actions.

Actions are named tuples: immutable, without a ``__dict__``, and about five
times cheaper to make than frozen dataclasses, which matters for the one made
per publish with an ``id``.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from earlgate.hub.resume import Resume
from earlgate.hub.session import Session
from earlgate.wire.codes import FrameId


class Send(NamedTuple):
    """Write ``raw`` (one frame) to ``session`` through its send queue."""

    session: Session
    raw: bytes


class Close(NamedTuple):
    """Close ``session``'s connection with WebSocket status ``code``."""

    session: Session
    code: int
    reason: str


class Publish(NamedTuple):
    """Hand ``raw`` to the broker and feed its verdict back to the core.

    ``session`` is the WebSocket publisher (``Hub.publish_done`` answers it with
    an ack or an error), or None for ``POST /publish`` (``Hub.http_publish_done``
    makes the HTTP answer).
    """

    session: Session | None
    subject: str
    raw: bytes
    retain: bool
    frame_id: FrameId | None


class ReplayKind(Enum):
    """What a :class:`Replay` reads from the broker once live messages flow."""

    ACK = "ack"  # nothing: ack a subscribe the broker was still setting up
    HISTORY = "history"  # the stored messages after ``since`` (``Hub.history_read``)
    RETAINED = "retained"  # the retained values (``Hub.retained_read``)
    RESUME = "resume"  # positions, then histories (``Hub.positions_read``, ``Hub.resume_read``)


class Replay(NamedTuple):
    """Answer a subscribe once the broker's subscription is live (no gap).

    The session holds live messages back until ``Hub.replay_over`` is called,
    whatever the outcome.
    """

    session: Session
    pattern: str
    frame_id: FrameId | None
    kind: ReplayKind
    since: int | None = None
    epoch: str | None = None
    resume: Resume | None = None


class ArmExpiry(NamedTuple):
    """(Re)arm the timer that ends ``session`` when its token expires at ``at``
    (seconds since the epoch; None: disarm). When it fires, call ``Hub.token_expired``."""

    session: Session
    at: float | None


Action = Send | Close | Publish | Replay | ArmExpiry
Actions = tuple[Action, ...]
NO_ACTIONS: Actions = ()
