"""The Redis backplane's pure parts: globs, key names, envelopes, recovery verdicts."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earlgate.broker.rediskeys import (
    Keys,
    glob_escape,
    pattern_glob,
    replay_from,
    split_envelope,
)
from earlgate.wire.subjects import matches


@pytest.mark.parametrize(
    ("pattern", "glob"),
    [
        ("a/b", "a/b"),
        ("a/+/c", "a/*/c"),
        ("a/#", "a*"),
        ("#", "*"),
        ("+/x/#", "*/x*"),
        ("we*ird/[x]/?", "we\\*ird/\\[x\\]/\\?"),
    ],
)
def test_pattern_glob(pattern: str, glob: str) -> None:
    assert pattern_glob(pattern) == glob


levels = st.text(alphabet="ab*?[]\\+#", min_size=1, max_size=3)


@given(st.lists(levels, min_size=1, max_size=4), st.lists(levels, min_size=1, max_size=4))
def test_glob_matches_a_superset(pattern_levels: list[str], subject_levels: list[str]) -> None:
    pattern = "/".join(
        level if level in ("+", "#") else level.replace("+", "").replace("#", "") or "a"
        for level in pattern_levels
    )
    if "#" in pattern.split("/")[:-1]:
        return
    subject = "/".join(level.replace("+", "").replace("#", "") or "a" for level in subject_levels)
    if matches(pattern, subject):
        # fnmatch with the escapes turned into classes, as Redis reads them.
        glob = pattern_glob(pattern)
        translated = "".join(f"[{c}]" if e else c for c, e in _unescape(glob))
        assert fnmatch.fnmatchcase(subject, translated)


def _unescape(glob: str) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    chars = iter(glob)
    for c in chars:
        out.append((next(chars), True) if c == "\\" else (c, False))
    return out


def test_escape_and_keys() -> None:
    assert glob_escape("a*b") == "a\\*b"
    keys = Keys("eg")
    assert keys.channel("a/b") == b"eg:a/b"
    assert keys.subject_of(b"eg:a/b") == "a/b"
    assert keys.durable("x/{y}") == ("eg:{x/y}:meta:x/{y}", "eg:{x/y}:log:x/{y}")
    assert keys.durable("}") == ("eg:{_}:meta:}", "eg:{_}:log:}")


def test_envelope() -> None:
    assert split_envelope(b"ab12 7\n{}") == (b"ab12 7", b"{}", None)
    assert split_envelope(b"ab12 7 42\n{\n}") == (b"ab12 7 42", b"{\n}", 42)


def entries(*offsets: int) -> list[list[object]]:
    return [[f"{o}-0".encode(), [b"m", f'{{"o":{o}}}'.encode()]] for o in offsets]


def test_recovery_verdicts() -> None:
    full = replay_from(0, None, "E", 3, 1, entries(1, 2, 3))
    assert full.recovered and [o for o, _ in full.messages] == [1, 2, 3]
    trimmed = replay_from(0, None, "E", 9, 5, entries(5, 6, 7, 8, 9))
    assert not trimmed.recovered
    assert replay_from(4, "E", "E", 9, 5, entries(5, 6, 7, 8, 9)).recovered
    assert not replay_from(3, "other", "E", 9, 5, entries(5, 6)).recovered
    assert not replay_from(10, "E", "E", 9, 5, []).recovered
    assert replay_from(0, None, "E", 0, None, []).recovered
    assert not replay_from(2, "E", "E", 4, None, []).recovered  # the stream was deleted
