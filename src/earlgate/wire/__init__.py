"""The wire vocabulary every part of earlgate shares, with no dependencies.

:mod:`~earlgate.wire.subjects` (subjects, wildcard patterns, the subscriber
index), :mod:`~earlgate.wire.codes` (error codes, frame types, close codes,
the hub's own ``_`` fields), :mod:`~earlgate.wire.durable` (which subjects
are durable) and :mod:`~earlgate.wire.peerjs` (the signaling message types and
peer ids our server and our peer share). Pure: no I/O, no clock, and nothing outside the standard
library, so the broker, the clients and the gateway import it without loading
the hub.
"""

from __future__ import annotations

from earlgate.wire.codes import FrameError, FrameId, with_hub_fields
from earlgate.wire.durable import DurablePolicy
from earlgate.wire.subjects import (
    MULTI,
    SINGLE,
    Pattern,
    Subject,
    SubjectError,
    SubjectIndex,
    check_pattern,
    check_subject,
    covers,
    is_wildcard,
    matches,
)

__all__ = [
    "MULTI",
    "SINGLE",
    "DurablePolicy",
    "FrameError",
    "FrameId",
    "Pattern",
    "Subject",
    "SubjectError",
    "SubjectIndex",
    "check_pattern",
    "check_subject",
    "covers",
    "is_wildcard",
    "matches",
    "with_hub_fields",
]
