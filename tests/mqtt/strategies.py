"""Hypothesis strategies for MQTT packets of either protocol level."""

from __future__ import annotations

from hypothesis import strategies as st

from earlgate.mqtt import packets as p
from earlgate.mqtt.properties import PROPERTY_TYPES, Properties

text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
topic = text.filter(lambda t: t and "+" not in t and "#" not in t)
packet_id = st.integers(1, 0xFFFF)
blob = st.binary(max_size=40)

_VALUES = {
    "byte": st.integers(0, 1),
    "u16": st.integers(1, 0xFFFF),
    "u32": st.integers(1, 0xFFFFFFFF),
    "varint": st.integers(1, 268_435_455),
    "utf8": text,
    "binary": blob,
}


def properties(kind: int) -> st.SearchStrategy[Properties]:
    """Any properties allowed in packet ``kind`` (a properties module kind)."""
    parts = {}
    for _ident, (name, vtype, allowed) in PROPERTY_TYPES.items():
        if kind not in allowed:
            continue
        if vtype == "pair":
            parts[name] = st.lists(st.tuples(text, text), max_size=3)
        elif name == "subscription_ids":
            parts[name] = st.lists(_VALUES["varint"], max_size=1 if kind == 8 else 3)
        else:
            parts[name] = st.none() | _VALUES[vtype]
    return st.fixed_dictionaries({}, optional=parts).map(lambda kw: Properties(**kw))


def _props(version: int, kind: int) -> st.SearchStrategy[Properties]:
    return properties(kind) if version == p.V5 else st.just(Properties())


def packet(version: int) -> st.SearchStrategy[p.Packet]:
    v5 = version == p.V5
    reason = st.integers(0, 255) if v5 else st.just(0)

    def will() -> st.SearchStrategy[p.Will]:
        return st.builds(
            p.Will, topic, blob, st.integers(0, 2), st.booleans(), _props(version, 100)
        )

    def connect(username: str | None, password: bytes | None) -> st.SearchStrategy[p.Connect]:
        if not v5 and username is None:
            password = None
        return st.builds(
            p.Connect,
            st.just(version),
            text,
            st.booleans(),
            st.integers(0, 0xFFFF),
            st.just(username),
            st.just(password),
            st.none() | will(),
            _props(version, 1),
        )

    publish = st.integers(0, 2).flatmap(
        lambda qos: st.builds(
            p.Publish,
            topic,
            blob,
            st.just(qos),
            st.booleans(),
            st.booleans() if qos else st.just(False),
            packet_id if qos else st.none(),
            _props(version, 3),
        )
    )
    sub_request = st.builds(
        p.SubscriptionRequest,
        text.filter(bool),
        st.integers(0, 2),
        st.booleans() if v5 else st.just(False),
        st.booleans() if v5 else st.just(False),
        st.integers(0, 2) if v5 else st.just(0),
    )
    choices: list[st.SearchStrategy[p.Packet]] = [
        st.tuples(st.none() | text, st.none() | blob).flatmap(lambda up: connect(*up)),
        st.builds(p.ConnAck, st.booleans(), st.integers(0, 255), _props(version, 2)),
        publish,
        st.builds(p.PubAck, packet_id, reason, _props(version, 4)),
        st.builds(p.PubRec, packet_id, reason, _props(version, 5)),
        st.builds(p.PubRel, packet_id, reason, _props(version, 6)),
        st.builds(p.PubComp, packet_id, reason, _props(version, 7)),
        st.builds(p.Subscribe, packet_id, st.lists(sub_request, min_size=1, max_size=3),
                  _props(version, 8)),
        st.builds(p.SubAck, packet_id, st.lists(st.integers(0, 255), min_size=1, max_size=3),
                  _props(version, 9)),
        st.builds(p.Unsubscribe, packet_id, st.lists(text.filter(bool), min_size=1, max_size=3),
                  _props(version, 10)),
        st.builds(p.UnsubAck, packet_id,
                  st.lists(st.integers(0, 255), max_size=3) if v5 else st.just([]),
                  _props(version, 11)),
        st.just(p.PingReq()),
        st.just(p.PingResp()),
        st.builds(p.Disconnect, reason, _props(version, 14)),
    ]  # fmt: skip
    if v5:
        choices.append(st.builds(p.Auth, reason, _props(version, 15)))
    return st.one_of(choices)
