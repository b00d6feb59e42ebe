"""Which peers have gone silent: HEARTBEAT-based liveness.

PEERJS.md: "``HEARTBEAT`` (client sends every 5 s): refreshes liveness, no
reply. Only HEARTBEAT counts as liveness (not WebSocket ping). Clients silent
for ``alive_timeout`` (default 60-90 s) are dropped." Peers are kept in a dict
ordered by their last heartbeat (a heartbeat moves its peer to the end), so a
sweep reads only the peers that are due, however many are connected.

Pure: the caller passes the time.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["LivenessTracker"]

K = TypeVar("K", bound=Hashable)


class LivenessTracker(Generic[K]):
    """Last-heard times of tracked keys, and which are past ``timeout``."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._last: dict[K, float] = {}

    def __len__(self) -> int:
        return len(self._last)

    def __contains__(self, key: object) -> bool:
        return key in self._last

    def track(self, key: K, now: float) -> None:
        """Start tracking ``key`` (or refresh it) as heard from at ``now``."""
        self._last.pop(key, None)
        self._last[key] = now

    def beat(self, key: K, now: float) -> bool:
        """Record a heartbeat; False (and nothing done) if ``key`` is not tracked."""
        if key not in self._last:
            return False
        self.track(key, now)
        return True

    def forget(self, key: K) -> None:
        self._last.pop(key, None)

    def last_heard(self, key: K) -> float | None:
        return self._last.get(key)

    def expired(self, now: float) -> list[K]:
        """Stop tracking and return the keys silent for ``timeout`` or longer."""
        due: list[K] = []
        for key, last in self._last.items():
            # checkBrokenConnections: "if (timeSinceLastPing < aliveTimeout) continue;"
            if now - last < self.timeout:
                break
            due.append(key)
        for key in due:
            del self._last[key]
        return due
