"""Hub core sessions for tests without sockets: what each one was sent, decoded."""

from __future__ import annotations

from typing import Any

import orjson

from earlgate.hub.config import SlowConsumerPolicy
from earlgate.hub.core import Hub
from earlgate.hub.session import Session


def make_session(hub: Hub) -> tuple[Session, list[dict[str, Any]]]:
    """A session opened on ``hub`` and the list its frames land in."""
    received: list[dict[str, Any]] = []
    session = Session(
        lambda raw: received.append(orjson.loads(raw)),
        lambda code, reason: None,
        send_buffer=1 << 20,
        policy=SlowConsumerPolicy.DROP_OLDEST,
    )
    hub.open_session(session)
    return session, received
