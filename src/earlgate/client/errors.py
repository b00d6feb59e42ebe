"""The client's exceptions.

::

    HubClientError
    ├── HubError          the hub refused a frame (the peer said no)
    ├── QueueFullError    the outgoing queue is full (the caller sends too fast)
    └── ClosedError       the client was closed (the caller misused it)

A subject or pattern that breaks PROTOCOL.md's rules raises
:class:`~earlgate.wire.subjects.SubjectError` (a ``ValueError``) before anything
is sent.
"""

from __future__ import annotations


class HubClientError(Exception):
    """Root of the client's errors."""


class HubError(HubClientError):
    """The hub refused a frame; ``code`` is PROTOCOL.md's error code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class QueueFullError(HubClientError):
    """The outgoing queue is full (the hub is unreachable or slower than the caller)."""


class ClosedError(HubClientError):
    """The client was closed."""
