"""Retained values of the in-memory broker: bounded in count and bytes, found by pattern.

PROTOCOL.md: "`last: true` first delivers the latest retained message of each
matching subject." A subscribe on a wildcard must not scan every retained
subject: the values sit in a tree of subject levels, and a pattern walks only
the branches it can match (a literal level is one dictionary lookup, ``+``
visits the children of one node, ``#`` the subtree below it). The cost of a
lookup is the number of tree nodes the pattern reaches, not the number of
retained subjects; :meth:`RetainedStore.find` yields to the event loop every
:data:`NODES_PER_TURN` nodes, so a ``#`` over a million subjects never holds
the loop for long.

Bounds: at most ``max_subjects`` subjects and ``max_bytes`` bytes of frames;
past either, the least recently set subjects are evicted first, each eviction
counted by the bound that caused it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from earlgate.wire.subjects import MULTI, SINGLE

NODES_PER_TURN = 2048  # tree nodes visited between yields to the event loop


class _Level:
    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.children: dict[str, _Level] = {}
        self.value: bytes | None = None


class RetainedStore:
    """The newest retained frame per subject."""

    def __init__(self, max_subjects: int = 100_000, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_subjects = max_subjects
        self.max_bytes = max_bytes
        self.bytes = 0
        self.evicted = {"subjects": 0, "bytes": 0}  # evictions, by the bound that caused them
        self._order: OrderedDict[str, int] = OrderedDict()  # subject -> frame size, LRU first
        self._root = _Level()
        self.last_visited = 0  # tree nodes the last find() visited: its cost

    def __len__(self) -> int:
        return len(self._order)

    def get(self, subject: str) -> bytes | None:
        node = self._root
        for level in subject.split("/"):
            child = node.children.get(level)
            if child is None:
                return None
            node = child
        return node.value

    def set(self, subject: str, raw: bytes) -> None:
        size = len(raw)
        if size > self.max_bytes:
            self.evicted["bytes"] += 1
            self.remove(subject)
            return
        old = self._order.pop(subject, None)
        if old is not None:
            self.bytes -= old
        else:
            while len(self._order) >= self.max_subjects:
                self._evict("subjects")
        while self._order and self.bytes + size > self.max_bytes:
            self._evict("bytes")
        node = self._root
        for level in subject.split("/"):
            child = node.children.get(level)
            if child is None:
                child = node.children[level] = _Level()
            node = child
        node.value = raw
        self._order[subject] = size
        self.bytes += size

    def _evict(self, bound: str) -> None:
        subject = next(iter(self._order))
        self.remove(subject)
        self.evicted[bound] += 1

    def remove(self, subject: str) -> None:
        size = self._order.pop(subject, None)
        if size is None:
            return
        self.bytes -= size
        path = [self._root]
        for level in subject.split("/"):
            path.append(path[-1].children[level])
        path[-1].value = None
        levels = subject.split("/")
        for depth in range(len(levels), 0, -1):  # prune empty branches
            node = path[depth]
            if node.value is not None or node.children:
                break
            del path[depth - 1].children[levels[depth - 1]]

    async def find(self, pattern: str) -> list[bytes]:
        """The retained frame of every subject matching ``pattern``."""
        found: list[bytes] = []
        levels = pattern.split("/")
        stack: list[tuple[_Level, int]] = [(self._root, 0)]
        visited = 0
        while stack:
            node, depth = stack.pop()
            visited += 1
            if visited % NODES_PER_TURN == 0:
                await asyncio.sleep(0)  # values are read as they are when reached
            if depth == len(levels):
                if node.value is not None:
                    found.append(node.value)
                continue
            level = levels[depth]
            if level == MULTI:
                # '#' matches the parent level too ("zero levels included").
                below = [node]
                while below:
                    current = below.pop()
                    visited += 1
                    if visited % NODES_PER_TURN == 0:
                        await asyncio.sleep(0)
                    if current.value is not None:
                        found.append(current.value)
                    below.extend(list(current.children.values()))
            elif level == SINGLE:
                stack.extend((child, depth + 1) for child in list(node.children.values()))
            else:
                child = node.children.get(level)
                if child is not None:
                    stack.append((child, depth + 1))
        self.last_visited = visited
        return found
