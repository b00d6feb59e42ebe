"""Commands waiting for the chip, coalesced: for each LED the latest wins.

Under a flood (a thousand commands a second at an LED whose bus and answer
take longer than a millisecond each) a plain FIFO grows without bound, and so
does the time from a command to its registers. The user of an actuator wants
the LED to show the latest command, not to replay the backlog, so:

* a command that sets an LED outright (``set``, ``blink``, ``off``)
  supersedes every command still waiting for that LED; ``off`` of ``all``
  supersedes every waiting command;
* a brightness step (``up``, ``down``) is relative to what the LED shows:
  dropping one would change the result, so it supersedes nothing and waits
  its turn, until an outright command for its LED (or ``all``) supersedes it;
* the winner joins the end of the queue, so commands reach the chip in the
  order they arrived, less the superseded ones.

At most one outright command per LED is waiting at any time; with the steps,
at most ``max_waiting`` commands in all, and one that would pass that is
refused with :class:`QueueFull`. Pure: no clock, no event loop; the server
answers the superseded and refused commands.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

__all__ = ["ALL", "DEFAULT_MAX_WAITING", "CommandQueue", "QueueFull"]

# The LED name of a command for every LED (``{"led": "all", "off": true}``).
ALL: Final = "all"
# Commands waiting at most, steps included (docs/led.md, "Floods").
DEFAULT_MAX_WAITING: Final = 100

T = TypeVar("T")


class QueueFull(Exception):
    """``max_waiting`` commands are waiting and the new one supersedes none."""


@dataclass(frozen=True)
class _Entry(Generic[T]):
    item: T
    led: str


class CommandQueue(Generic[T]):
    """Waiting commands in arrival order, at most one outright command per LED.

    Args:
        max_waiting: how many commands may wait at once (at least 1).
    """

    def __init__(self, max_waiting: int = DEFAULT_MAX_WAITING) -> None:
        if max_waiting < 1:
            raise ValueError(f"max_waiting must be at least 1, got {max_waiting}")
        self.max_waiting = max_waiting
        self._order = itertools.count()
        self._waiting: dict[int, _Entry[T]] = {}  # by arrival number; dicts keep order
        self._by_led: dict[str, deque[int]] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def push(self, item: T, led: str, *, outright: bool) -> list[T]:
        """Queue ``item``, a command for ``led``.

        Args:
            item: what the caller keeps for the command.
            led: the LED it is for, or :data:`ALL`.
            outright: it sets the LED whatever the LED shows (not a step).

        Returns:
            The waiting items it supersedes, oldest first; they are no
            longer queued.

        Raises:
            QueueFull: ``max_waiting`` are waiting and it supersedes none;
                nothing changed.
        """
        superseded: list[int] = []
        if outright:
            leds = list(self._by_led) if led == ALL else [led]
            for name in leds:
                superseded.extend(self._by_led.pop(name, ()))
        if not superseded and len(self._waiting) >= self.max_waiting:
            raise QueueFull(f"{len(self._waiting)} commands are waiting")
        superseded.sort()
        items = [self._waiting.pop(number).item for number in superseded]
        number = next(self._order)
        self._waiting[number] = _Entry(item, led)
        self._by_led.setdefault(led, deque()).append(number)
        return items

    def pop(self) -> T | None:
        """The oldest waiting item, or ``None`` when none waits."""
        if not self._waiting:
            return None
        number = next(iter(self._waiting))
        entry = self._waiting.pop(number)
        numbers = self._by_led[entry.led]
        numbers.popleft()  # the LED's oldest is the queue's oldest
        if not numbers:
            del self._by_led[entry.led]
        return entry.item
