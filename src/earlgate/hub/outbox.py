"""The former name of :class:`~earlgate.hub.sendqueue.SendQueue`, kept for its last importers."""

from __future__ import annotations

from earlgate.hub.sendqueue import SendQueue as Outbox

__all__ = ["Outbox"]
