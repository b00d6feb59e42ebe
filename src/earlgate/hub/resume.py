"""Resume on patterns: a subscription to a wildcard over durable subjects, without gap or duplicate.

docs/hub.md, "Resume on patterns". A durable subject's offsets are its own (a
Redis stream per subject) or store-wide (the in-memory store), so one number
cannot say where a client stands on a pattern: it keeps one position per
subject, ``{subject: [offset, epoch]}``, from the ``_offset`` and ``_epoch``
of what it received.

- ``"resume": true`` starts a resumable subscription: the ack's ``positions``
  hold where every matching durable subject stands now, live messages follow.
- ``"resume": {subject: [offset, epoch], ...}`` resumes one: the ack says
  ``recovered`` and holds the positions the replay starts from (a subject the
  client did not list, first published while it was away, starts at 0), then
  the stored messages after them, subject by subject, then live ones.

Work per resume: one lookup of the matching durable subjects (a scan of the
store's subjects, or one ``SCAN`` of Redis) and one history read per subject,
bounded by ``--max-resume-subjects``; the parsing below is pure.
"""

from __future__ import annotations

from typing import Any

from earlgate.broker.base import Broker, Position
from earlgate.hub import frames
from earlgate.hub.session import Session
from earlgate.wire import codes
from earlgate.wire.codes import FrameError, FrameId
from earlgate.wire.subjects import SubjectError, check_subject, matches

# What the client sent: True to start, or its positions (epoch None: unknown).
Resume = bool | dict[str, tuple[int, str | None]]


def parse_resume(value: Any, pattern: str, limit: int, frame_id: FrameId | None) -> Resume:
    """Check a subscribe frame's ``resume`` field; raise :class:`FrameError` naming the problem."""
    if value is True:
        return True
    if not isinstance(value, dict):
        raise FrameError(
            codes.BAD_FRAME, "field 'resume' must be true or an object of positions", frame_id
        )
    if len(value) > limit:
        raise FrameError(
            codes.BAD_FRAME,
            f"'resume' lists {len(value)} subjects, over the limit of {limit}",
            frame_id,
        )
    positions: dict[str, tuple[int, str | None]] = {}
    for subject, position in value.items():
        try:
            check_subject(subject)
        except SubjectError as exc:
            raise FrameError(codes.BAD_SUBJECT, f"'resume': {exc}", frame_id) from None
        if not matches(pattern, subject):
            raise FrameError(
                codes.BAD_FRAME,
                f"'resume' subject {subject!r} does not match {pattern!r}",
                frame_id,
            )
        if (
            not isinstance(position, list)
            or len(position) != 2
            or isinstance(position[0], bool)
            or not isinstance(position[0], int)
            or position[0] < 0
            or not isinstance(position[1], str | None)
        ):
            raise FrameError(
                codes.BAD_FRAME,
                f"'resume' position of {subject!r} must be [offset >= 0, epoch]",
                frame_id,
            )
        positions[subject] = (position[0], position[1])
    return positions


async def replay_pattern(
    broker: Broker,
    session: Session,
    pattern: str,
    frame_id: FrameId | None,
    resume: Resume,
    limit: int,
) -> int:
    """Answer a resumable subscribe (its live messages are held meanwhile); returns
    the number of stored messages sent. Raises :class:`FrameError` or the broker's error."""
    current = await broker.positions(pattern, limit)
    if len(current) > limit:
        raise FrameError(
            codes.BAD_FRAME,
            f"{pattern!r} matches more than {limit} durable subjects (--max-resume-subjects)",
            frame_id,
        )
    if resume is True:
        if frame_id is not None and not session.closed:
            session.send(frames.ack_frame(frame_id, positions=_wire(current)))
        return 0
    assert isinstance(resume, dict)
    recovered = True
    starts: dict[str, Position] = {}
    plan: list[tuple[str, list[tuple[int, bytes]]]] = []
    for subject in sorted(set(current) | {s for s in resume if broker.is_durable(s)}):
        since, epoch = resume.get(subject, (0, None))
        replay = await broker.history(subject, since, epoch)
        recovered = recovered and replay.recovered
        starts[subject] = (since if epoch == replay.epoch else 0, replay.epoch)
        plan.append((subject, replay.messages))
    if frame_id is not None and not session.closed:
        session.send(frames.ack_frame(frame_id, recovered, positions=_wire(starts)))
    sent = 0
    for subject, messages in plan:
        for offset, raw in messages:
            session.send(raw)
            session.replayed(subject, offset)
        sent += len(messages)
    return sent


def _wire(positions: dict[str, Position]) -> dict[str, list[Any]]:
    return {subject: [offset, epoch] for subject, (offset, epoch) in positions.items()}
