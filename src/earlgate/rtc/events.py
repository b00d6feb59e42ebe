"""A small event emitter whose handlers can never break the emitter.

PEERJS.md: "An exception escaping a ``datachannel``/``open``/``message``
handler tears down the whole RTCPeerConnection: guard every handler." The
same rule holds for the callbacks users register on our peers: one that raises
is logged and the others still run.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["EventEmitter", "guarded"]

logger = logging.getLogger("earlgate.rtc")

Handler = Callable[..., Any]


def _log_task_result(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("event handler failed", exc_info=task.exception())


class EventEmitter:
    """``on(event, handler)`` / ``emit(event, *args)``; coroutine handlers run as tasks."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def on(self, event: str, handler: Handler) -> Handler:
        """Call ``handler(*args)`` on each ``emit(event, *args)``; returns the handler."""
        self._handlers.setdefault(event, []).append(handler)
        return handler

    def off(self, event: str, handler: Handler) -> None:
        """Stop calling ``handler`` for ``event``."""
        handlers = self._handlers.get(event, [])
        if handler in handlers:
            handlers.remove(handler)

    def emit(self, event: str, *args: Any) -> None:
        for handler in list(self._handlers.get(event, ())):
            try:
                result = handler(*args)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                    task.add_done_callback(_log_task_result)
            except Exception:
                logger.exception("%r handler %r failed", event, handler)


def guarded(handler: Callable[..., None]) -> Callable[..., None]:
    """Wrap an aiortc event handler so that no exception escapes it."""

    def wrapper(*args: Any) -> None:
        try:
            handler(*args)
        except Exception:
            logger.exception("aiortc event handler %s failed", handler.__qualname__)

    wrapper.__qualname__ = handler.__qualname__
    return wrapper
