"""The Redis Cluster backplane's pure parts: URL, buckets, channels, keys, envelopes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from earlgate.broker.clusterkeys import (
    ClusterUrl,
    ClusterUrlError,
    ShardMap,
    envelope,
    parse_cluster_url,
    split_envelope,
    spread_tags,
)
from earlgate.wire.subjects import matches


def test_parse_cluster_url() -> None:
    assert parse_cluster_url("redis-cluster://127.0.0.1:7000") == ClusterUrl((("127.0.0.1", 7000),))
    assert parse_cluster_url(
        "redis-cluster://:pw@a:1,b:2,[::1]:3?levels=1&channels=64"
    ) == ClusterUrl((("a", 1), ("b", 2), ("::1", 3)), 1, 64, "pw")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis://a:1", "not a redis-cluster"),
        ("redis-cluster://a", "not HOST:PORT"),
        ("redis-cluster://a:1,b:99999", "not HOST:PORT"),
        ("redis-cluster://a:1?levels=0", "levels must be"),
        ("redis-cluster://a:1?channels=20000", "channels must be"),
        ("redis-cluster://a:1?channels=x", "integers"),
        ("redis-cluster://a:1?shards=3", "unknown option"),
    ],
)
def test_bad_cluster_urls(url: str, reason: str) -> None:
    with pytest.raises(ClusterUrlError, match=reason):
        parse_cluster_url(url)


@pytest.mark.parametrize("channels", [1, 3, 256, 1000])
def test_tags_spread_channels_over_the_slot_ranges(channels: int) -> None:
    tags = spread_tags(channels)
    assert len(tags) == channels
    for k, tag in enumerate(tags):
        assert key_slot(tag.encode()) * channels // 16384 == k
        assert "{" not in tag and "}" not in tag


@pytest.mark.parametrize(
    ("pattern", "one_channel"),
    [
        ("earl/arm-07/accel", True),
        ("earl/arm-07/#", True),
        ("earl/arm-07/+/x", True),
        ("earl", True),
        ("earl/+/accel", False),
        ("earl/#", False),
        ("#", False),
        ("+", False),
    ],
)
def test_patterns_touch_one_channel_when_their_bucket_is_literal(
    pattern: str, one_channel: bool
) -> None:
    shards = ShardMap(levels=2, channels=64)
    touched = shards.indexes(pattern)
    assert (len(touched) == 1) == one_channel
    if not one_channel:
        assert touched == tuple(range(64))


subject_levels = st.lists(st.sampled_from(["a", "b", "c{x}", "d e"]), min_size=1, max_size=5)
pattern_levels = st.lists(st.sampled_from(["a", "b", "c{x}", "+"]), min_size=1, max_size=5)


@given(pattern_levels, st.booleans(), subject_levels, st.integers(1, 4))
def test_every_matching_subject_is_on_a_channel_of_its_pattern(
    levels: list[str], multi: bool, subject: list[str], depth: int
) -> None:
    pattern = "/".join([*levels, "#"] if multi else levels)
    shards = ShardMap(levels=depth, channels=16)
    name = "/".join(subject)
    if matches(pattern, name):
        assert shards.index(name) in shards.indexes(pattern)


def test_keys_share_their_channel_slot() -> None:
    shards = ShardMap(levels=2, channels=256)
    subject = "earl/arm-07/{accel}"
    slot = key_slot(shards.subject_channel(subject))
    meta, log = shards.durable(subject)
    retained = shards.retained(subject)
    assert {key_slot(k.encode()) for k in (meta, log, retained)} == {slot}
    assert meta.endswith(":meta:" + subject) and log.endswith(":log:" + subject)
    assert shards.retained_subject(retained.encode()) == subject
    # Every subject of a bucket shares the channel.
    assert shards.subject_channel("earl/arm-07/x/y") == shards.subject_channel(subject)
    with pytest.raises(ValueError, match="braces"):
        ShardMap(prefix="e{x}")


@given(st.text(min_size=1).filter(lambda s: "\x00" not in s), st.binary())
def test_envelope_round_trip(subject: str, frame: bytes) -> None:
    assert split_envelope(envelope(subject, frame)) == (subject, frame, None)
    durable = b"%d 42\n%s%s" % (len(subject.encode()), subject.encode(), frame)
    assert split_envelope(durable) == (subject, frame, 42)
