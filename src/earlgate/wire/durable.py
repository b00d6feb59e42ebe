"""Which subjects are durable: the policy every broker applies the same way.

Pure: patterns in, a yes or no per subject out.
"""

from __future__ import annotations

from collections.abc import Iterable

from earlgate.wire.subjects import check_pattern, matches


class DurablePolicy:
    """Which subjects are durable: those matching one of the configured patterns."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self.patterns = tuple(check_pattern(p) for p in patterns)
        self._cache: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __call__(self, subject: str) -> bool:
        answer = self._cache.get(subject)
        if answer is None:
            if len(self._cache) > 65536:
                self._cache.clear()
            answer = self._cache[subject] = any(matches(p, subject) for p in self.patterns)
        return answer
