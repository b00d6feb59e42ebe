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
bounded by ``--max-resume-subjects``. Everything here is pure: the I/O layer
(:mod:`~earlgate.hub.effects`) reads what :func:`resume_reads` names and the
core answers with :func:`resume_answer`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from earlgate.broker.base import Position, Replay
from earlgate.hub import frames
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


# A history to read for a resume: subject, the offset to read after, the client's epoch.
ResumeRead = tuple[str, int, str | None]


def resume_reads(
    pattern: str,
    current: dict[str, Position],
    resume: Resume,
    limit: int,
    is_durable: Callable[[str], bool],
    frame_id: FrameId | None,
) -> list[ResumeRead]:
    """The histories a resumable subscribe needs, given where the durable subjects
    matching ``pattern`` stand (``current``); raises :class:`FrameError` when
    they are more than ``limit``."""
    if len(current) > limit:
        raise FrameError(
            codes.BAD_FRAME,
            f"{pattern!r} matches more than {limit} durable subjects (--max-resume-subjects)",
            frame_id,
        )
    if resume is True:
        return []
    assert isinstance(resume, dict)
    reads: list[ResumeRead] = []
    for subject in sorted(set(current) | {s for s in resume if is_durable(s)}):
        since, epoch = resume.get(subject, (0, None))
        reads.append((subject, since, epoch))
    return reads


def resume_answer(
    frame_id: FrameId | None,
    resume: Resume,
    current: dict[str, Position],
    histories: list[tuple[ResumeRead, Replay]],
) -> tuple[bytes | None, list[tuple[str, int, bytes]]]:
    """The ack (None without an id) and the stored messages, subject by subject,
    that answer a resumable subscribe, from the histories of :func:`resume_reads`."""
    if resume is True:
        ack = None if frame_id is None else frames.ack_frame(frame_id, positions=_wire(current))
        return ack, []
    recovered = True
    starts: dict[str, Position] = {}
    stored: list[tuple[str, int, bytes]] = []
    for (subject, since, epoch), replay in histories:
        recovered = recovered and replay.recovered
        starts[subject] = (since if epoch == replay.epoch else 0, replay.epoch)
        stored.extend((subject, offset, raw) for offset, raw in replay.messages)
    if frame_id is None:
        return None, stored
    return frames.ack_frame(frame_id, recovered, positions=_wire(starts)), stored


def _wire(positions: dict[str, Position]) -> dict[str, list[Any]]:
    return {subject: [offset, epoch] for subject, (offset, epoch) in positions.items()}
