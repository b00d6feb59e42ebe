"""Subjects, wildcard patterns, and the index that maps a subject to its subscribers.

PROTOCOL.md, Subjects: "A subject is 1-256 bytes of UTF-8, levels separated by
`/`. No empty level, no NUL, no leading `$`. Subscriptions may use MQTT-style
wildcards: `+` matches exactly one level, `#` (only as the last level) matches
any number of levels, zero included."

Everything here is pure: no sockets, no clock.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, NewType, TypeVar

Subject = NewType("Subject", str)
Pattern = NewType("Pattern", str)

MAX_SUBJECT_BYTES = 256
SINGLE = "+"
MULTI = "#"

T = TypeVar("T", bound=Hashable)


class SubjectError(ValueError):
    """A subject or pattern breaks the rules of PROTOCOL.md; the message says which."""


def _check_common(text: object, what: str) -> str:
    if not isinstance(text, str):
        raise SubjectError(f"{what} must be a string")
    if not text:
        raise SubjectError(f"{what} is empty")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SUBJECT_BYTES:
        raise SubjectError(f"{what} is longer than {MAX_SUBJECT_BYTES} bytes")
    if "\x00" in text:
        raise SubjectError(f"{what} contains NUL")
    if text[0] == "$":
        raise SubjectError(f"{what} starts with '$', which is reserved for the hub")
    if "" in text.split("/"):
        raise SubjectError(f"{what} has an empty level")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SubjectError(f"{what} is not valid UTF-8") from exc
    return text


def check_subject(text: object) -> Subject:
    """Return ``text`` as a publishable subject or raise :class:`SubjectError`."""
    subject = _check_common(text, "subject")
    if SINGLE in subject or MULTI in subject:
        raise SubjectError("wildcards are not allowed in a published subject")
    return Subject(subject)


def check_pattern(text: object) -> Pattern:
    """Return ``text`` as a subscription pattern or raise :class:`SubjectError`."""
    pattern = _check_common(text, "subject")
    levels = pattern.split("/")
    for index, level in enumerate(levels):
        if level == MULTI:
            if index != len(levels) - 1:
                raise SubjectError("'#' is allowed only as the last level")
        elif level != SINGLE and (SINGLE in level or MULTI in level):
            raise SubjectError("a wildcard must fill a whole level")
    return Pattern(pattern)


def is_wildcard(pattern: str) -> bool:
    return SINGLE in pattern or MULTI in pattern


def matches(pattern: str, subject: str) -> bool:
    """Whether ``subject`` matches ``pattern`` (both assumed valid)."""
    if not is_wildcard(pattern):
        return pattern == subject
    p_levels = pattern.split("/")
    s_levels = subject.split("/")
    for index, p in enumerate(p_levels):
        if p == MULTI:
            return True
        if index >= len(s_levels):
            return False
        if p != SINGLE and p != s_levels[index]:
            return False
    return len(p_levels) == len(s_levels)


def covers(grant: str, pattern: str) -> bool:
    """Whether every subject matching ``pattern`` also matches ``grant``.

    Used for access control: a token that may subscribe to ``earl/#`` may
    subscribe to ``earl/+/accel``, but one limited to ``earl/+/accel`` may not
    subscribe to ``earl/#``.
    """
    g_levels = grant.split("/")
    p_levels = pattern.split("/")
    for index, g in enumerate(g_levels):
        if g == MULTI:
            return True
        if index >= len(p_levels):
            return False
        p = p_levels[index]
        if p == MULTI:
            return False
        if g == SINGLE:
            continue
        if p == SINGLE or p != g:
            return False
    return len(g_levels) == len(p_levels)


class _Node(Generic[T]):
    __slots__ = ("children", "here", "rest")

    def __init__(self) -> None:
        self.children: dict[str, _Node[T]] = {}
        self.here: set[T] = set()  # owners of patterns ending at this node
        self.rest: set[T] = set()  # owners of patterns ending with '#' below this node


class SubjectIndex(Generic[T]):
    """Which owners (connections) are subscribed to patterns matching a subject.

    Exact patterns live in a dict, wildcard patterns in a trie of levels. The
    answer for a subject is cached until the next change, so the hot path of a
    publish is one dict lookup; the cache is bounded.
    """

    def __init__(self, cache_size: int = 65536) -> None:
        self._exact: dict[str, set[T]] = {}
        self._root: _Node[T] = _Node()
        self._wildcards = 0
        self._cache: dict[str, tuple[T, ...]] = {}
        self._cache_size = cache_size

    def __len__(self) -> int:
        return sum(len(owners) for owners in self._exact.values()) + self._wildcards

    def add(self, pattern: str, owner: T) -> None:
        self._cache.clear()
        if not is_wildcard(pattern):
            self._exact.setdefault(pattern, set()).add(owner)
            return
        node = self._root
        levels = pattern.split("/")
        for level in levels[:-1]:
            node = node.children.setdefault(level, _Node())
        last = levels[-1]
        if last == MULTI:
            owners = node.rest
        else:
            owners = node.children.setdefault(last, _Node()).here
        if owner not in owners:
            owners.add(owner)
            self._wildcards += 1

    def remove(self, pattern: str, owner: T) -> None:
        self._cache.clear()
        if not is_wildcard(pattern):
            owners = self._exact.get(pattern)
            if owners is not None:
                owners.discard(owner)
                if not owners:
                    del self._exact[pattern]
            return
        path: list[tuple[_Node[T], str]] = []
        node = self._root
        levels = pattern.split("/")
        for level in levels[:-1]:
            child = node.children.get(level)
            if child is None:
                return
            path.append((node, level))
            node = child
        last = levels[-1]
        if last == MULTI:
            if owner in node.rest:
                node.rest.discard(owner)
                self._wildcards -= 1
        else:
            child = node.children.get(last)
            if child is None:
                return
            path.append((node, last))
            node = child
            if owner in node.here:
                node.here.discard(owner)
                self._wildcards -= 1
        # Prune empty branches so the trie does not grow with churn.
        for parent, level in reversed(path):
            child = parent.children[level]
            if child.children or child.here or child.rest:
                break
            del parent.children[level]

    def match(self, subject: str) -> tuple[T, ...]:
        """The owners with at least one pattern matching ``subject``, each once."""
        cached = self._cache.get(subject)
        if cached is not None:
            return cached
        exact = self._exact.get(subject)
        if self._wildcards:
            found: set[T] = set(exact) if exact else set()
            self._collect(self._root, subject.split("/"), 0, found)
            result = tuple(found)
        else:
            result = tuple(exact) if exact else ()
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[subject] = result
        return result

    def _collect(self, node: _Node[T], levels: list[str], index: int, found: set[T]) -> None:
        found.update(node.rest)  # '#' matches zero or more remaining levels
        if index == len(levels):
            return
        last = index == len(levels) - 1
        for key in (levels[index], SINGLE):
            child = node.children.get(key)
            if child is None:
                continue
            if last:
                found.update(child.here)
                found.update(child.rest)
            else:
                self._collect(child, levels, index + 1, found)


def matching(patterns: Iterable[str], subject: str) -> list[str]:
    """The patterns of ``patterns`` that ``subject`` matches (for small sets)."""
    return [p for p in patterns if matches(p, subject)]
