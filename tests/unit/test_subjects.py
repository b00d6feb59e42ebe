"""Subject rules and matching, checked against a simple reference matcher."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from earlgate.wire.subjects import (
    SubjectError,
    SubjectIndex,
    check_pattern,
    check_subject,
    covers,
    matches,
)


def reference_matches(pattern: str, subject: str) -> bool:
    """MQTT matching as a regular expression: the obviously-correct version."""
    parts = []
    levels = pattern.split("/")
    for level in levels:
        if level == "#":  # the rest, zero levels included
            regex = "/".join(parts) + "(/.*)?" if parts else ".*"
            return re.fullmatch(regex, subject) is not None
        parts.append("[^/]+" if level == "+" else re.escape(level))
    return re.fullmatch("/".join(parts), subject) is not None


LEVEL = st.sampled_from(["a", "b", "c", "arm-07", "é"])
SUBJECTS = st.lists(LEVEL, min_size=1, max_size=5).map("/".join)
PATTERN_LEVEL = st.sampled_from(["a", "b", "c", "+"])


@st.composite
def patterns(draw: st.DrawFn) -> str:
    levels = draw(st.lists(PATTERN_LEVEL, min_size=1, max_size=5))
    if draw(st.booleans()):
        levels.append("#")
    return "/".join(levels)


@given(patterns(), SUBJECTS)
@settings(max_examples=500)
def test_matches_agrees_with_reference(pattern: str, subject: str) -> None:
    assert matches(pattern, subject) == reference_matches(pattern, subject)


@given(st.lists(patterns(), min_size=0, max_size=12), st.lists(SUBJECTS, max_size=10))
@settings(max_examples=200)
def test_index_agrees_with_matching_each_pattern(pats: list[str], subjects: list[str]) -> None:
    index: SubjectIndex[int] = SubjectIndex()
    for owner, pattern in enumerate(pats):
        index.add(pattern, owner)
    # Remove every third subscription again, to exercise pruning.
    removed = set(range(0, len(pats), 3))
    for owner in removed:
        index.remove(pats[owner], owner)
    for subject in subjects:
        expected = {o for o, p in enumerate(pats) if o not in removed and matches(p, subject)}
        assert set(index.match(subject)) == expected
        assert len(index.match(subject)) == len(expected)  # each owner once


@given(patterns(), patterns(), SUBJECTS)
@settings(max_examples=500)
def test_covers_is_sound(grant: str, pattern: str, subject: str) -> None:
    if covers(grant, pattern) and matches(pattern, subject):
        assert matches(grant, subject)


@pytest.mark.parametrize(
    ("grant", "pattern", "expected"),
    [
        ("earl/#", "earl/+/accel", True),
        ("earl/+/accel", "earl/#", False),
        ("#", "anything/at/all", True),
        ("a/+", "a/b", True),
        ("a/b", "a/+", False),
        ("a/+/c", "a/+/c", True),
        ("a", "a/#", False),
    ],
)
def test_covers_examples(grant: str, pattern: str, expected: bool) -> None:
    assert covers(grant, pattern) is expected


def test_hash_matches_zero_levels_and_plus_exactly_one() -> None:
    assert matches("a/#", "a")
    assert matches("#", "a/b")
    assert not matches("a/+", "a")
    assert not matches("a/+", "a/b/c")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("a//b", "empty level"),
        ("/a", "empty level"),
        ("a/", "empty level"),
        ("$hub/x", "reserved"),
        ("a\x00", "NUL"),
        ("é" * 129, "256 bytes"),
        (42, "string"),
        ("a/+", "wildcards"),
    ],
)
def test_bad_subjects_say_why(text: object, message: str) -> None:
    with pytest.raises(SubjectError, match=message):
        check_subject(text)


def test_subject_of_exactly_256_bytes_is_fine() -> None:
    assert check_subject("x" * 256) == "x" * 256


@pytest.mark.parametrize("text", ["a/#/b", "a/b#", "a+/b", "#a"])
def test_bad_patterns(text: str) -> None:
    with pytest.raises(SubjectError):
        check_pattern(text)
