"""What one load-side child of the rtc bench runs: its plan, a JSON file.

The protocol between the bench and its children is described in
:mod:`earlgate.bench.gateway.loadside`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import orjson

from earlgate.gateway.peering import PeerOptions

__all__ = ["ROLES", "LoadPlan", "split"]

ROLES = ("send", "receive", "send-aggregates", "mesh")


@dataclass
class LoadPlan:
    """What one child process runs."""

    role: str
    signal: str
    names: list[str]
    # Peer each local peer dials; a local peer without an entry waits to be dialed.
    dial: dict[str, str] = field(default_factory=dict)
    key: str = "peerjs"
    ice_servers: list[str] = field(default_factory=list)
    ice_username: str | None = None
    ice_credential: str | None = None
    relay_only: bool = False
    rate: float = 4.0
    size: int = 100
    duration: float = 60.0
    connect_timeout: float = 60.0
    # send-aggregates: the receivers the parts are for, this many parts to an aggregate
    parts_for: list[str] = field(default_factory=list)
    parts_per_aggregate: int = 10
    # mesh: this process runs ``names`` (PREFIX-i) of a full mesh of mesh_peers peers
    mesh_peers: int = 0
    delays_file: str | None = None
    # two-way: receivers answer every message they count, back through the gateway;
    # senders write each answer's (round trip, back one-way delay) in ms to answers_file
    two_way: bool = False
    answers_file: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role {self.role!r}: expected one of {', '.join(ROLES)}")
        if not self.names:
            raise ValueError("a plan needs at least one peer name")
        if not self.rate > 0 or not self.duration > 0 or self.size < 1:
            raise ValueError("rate and duration must be > 0 and size >= 1")
        if self.parts_per_aggregate < 1:
            raise ValueError("parts_per_aggregate must be >= 1")
        if self.role == "mesh":
            self.mesh_indices()

    def mesh_indices(self) -> tuple[str, tuple[int, ...]]:
        """The mesh's id prefix and this process's indices, from ``names``."""
        prefixes, indices = set(), []
        for name in self.names:
            prefix, _, index = name.rpartition("-")
            if not prefix or not index.isdigit() or int(index) >= self.mesh_peers:
                raise ValueError(f"mesh peer {name!r}: expected PREFIX-i, i < {self.mesh_peers}")
            prefixes.add(prefix)
            indices.append(int(index))
        if len(prefixes) != 1:
            raise ValueError(f"mesh peers of one mesh share a prefix, not {sorted(prefixes)}")
        return prefixes.pop(), tuple(indices)

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> LoadPlan:
        data = orjson.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a plan is a JSON object")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(f"bad plan: {exc}") from None

    def peering(self) -> PeerOptions:
        return PeerOptions(
            self.signal,
            key=self.key,
            ice_servers=tuple(self.ice_servers),
            ice_username=self.ice_username,
            ice_credential=self.ice_credential,
            relay_only=self.relay_only,
        )


def split(names: list[str], processes: int) -> list[list[str]]:
    """``names`` in ``processes`` contiguous, nearly equal, non-empty slices."""
    processes = max(1, min(processes, len(names)))
    size, extra = divmod(len(names), processes)
    slices, start = [], 0
    for index in range(processes):
        end = start + size + (1 if index < extra else 0)
        slices.append(names[start:end])
        start = end
    return slices
