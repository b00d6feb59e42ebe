"""Hub core sessions for tests without sockets: what each one was sent, decoded.

:func:`feed` hands a frame to the core and carries out its actions at once,
without an event loop: replays run to their end (the in-memory broker's reads
never wait).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import orjson

from earlgate.hub.actions import Actions, Close, Publish, Replay, Send
from earlgate.hub.config import SlowConsumerPolicy
from earlgate.hub.core import Hub
from earlgate.hub.effects import Effects
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


def feed(hub: Hub, session: Session, payload: bytes) -> Actions:
    """Hand ``payload`` to the core, carry out its actions; return them."""
    actions = hub.handle_frame(session, payload)
    perform(hub, actions)
    return actions


def perform(hub: Hub, actions: Actions) -> None:
    """Carry out ``actions`` synchronously (token expiry timers are left out)."""
    for action in actions:
        if isinstance(action, Send):
            action.session.send(action.raw)
        elif isinstance(action, Close):
            action.session.close(action.code, action.reason)
        elif isinstance(action, Publish):

            def done(code: str | None, reason: str, publish: Publish = action) -> None:
                perform(hub, hub.publish_done(publish, code, reason))

            hub.broker.publish(action.subject, action.raw, retain=action.retain, on_done=done)
        elif isinstance(action, Replay):
            run_to_end(Effects(hub)._replay(action))


def run_to_end(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that never waits on anything outside it, without a loop."""
    try:
        while True:
            coroutine.send(None)
    except StopIteration:
        pass
