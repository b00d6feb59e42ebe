"""The network-layer test bed of thesis 3.7.1, built from network namespaces.

The thesis compared a phone forwarding IP packets (network layer) with a
phone forwarding DataChannel messages in a browser (application layer). Here
three namespaces on one machine play the three hosts, joined by veth pairs::

    sender host            gateway host                 receiver host
    PREFIX-snd             PREFIX-gw                    PREFIX-rcv
    NET1.2 ---veth--- NET1.1       NET2.1 ---veth--- NET2.2

The sender and the receiver route through the gateway host. With
``net.ipv4.ip_forward=1`` there the kernel routes a DataChannel opened
straight from sender to receiver; with it off the only way across is an
application on the gateway host that terminates both DataChannels, which
is what ``earlgate gateway`` does. The command lists are pure values (tested
without root); :func:`build` runs them and always removes what it made.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "NamespaceBed",
    "NamespaceBedError",
    "build",
    "check_can_build",
    "exec_prefix",
    "forwarding_command",
    "set_forwarding",
    "setup_commands",
    "teardown_commands",
]


class NamespaceBedError(Exception):
    """The namespaces cannot be built or changed here; the message says why."""


@dataclass(frozen=True)
class NamespaceBed:
    """Names and addresses of one test bed; ``prefix`` keeps two runs apart."""

    prefix: str = "eg"
    sender_net: str = "10.231.1"  # a /24 between sender and gateway
    receiver_net: str = "10.231.2"  # a /24 between gateway and receiver

    def __post_init__(self) -> None:
        # veth names are at most 15 bytes: PREFIX-xy.
        if not self.prefix or len(self.prefix) > 12 or not self.prefix.isalnum():
            raise ValueError(f"prefix {self.prefix!r}: 1 to 12 letters or digits")
        for net in (self.sender_net, self.receiver_net):
            octets = net.split(".")
            if len(octets) != 3 or not all(o.isdigit() and int(o) < 256 for o in octets):
                raise ValueError(f"{net!r}: expected the first three octets of a /24")
        if self.sender_net == self.receiver_net:
            raise ValueError("the sender and receiver links need different /24s")

    @property
    def sender_ns(self) -> str:
        return f"{self.prefix}-snd"

    @property
    def gateway_ns(self) -> str:
        return f"{self.prefix}-gw"

    @property
    def receiver_ns(self) -> str:
        return f"{self.prefix}-rcv"

    @property
    def namespaces(self) -> tuple[str, str, str]:
        return (self.sender_ns, self.gateway_ns, self.receiver_ns)

    @property
    def sender_address(self) -> str:
        return f"{self.sender_net}.2"

    @property
    def gateway_sender_side(self) -> str:
        return f"{self.sender_net}.1"

    @property
    def gateway_receiver_side(self) -> str:
        return f"{self.receiver_net}.1"

    @property
    def receiver_address(self) -> str:
        return f"{self.receiver_net}.2"

    def veth(self, end: str) -> str:
        """``sg``: sender's end toward the gateway, ``gs``, ``gr``, ``rg`` likewise."""
        return f"{self.prefix}-{end}"


def exec_prefix(namespace: str) -> tuple[str, ...]:
    """The command prefix that runs a program inside ``namespace``."""
    return ("ip", "netns", "exec", namespace)


def setup_commands(bed: NamespaceBed) -> list[list[str]]:
    """The ``ip``/``sysctl`` commands that build ``bed``, in order."""
    s, g, r = bed.namespaces
    commands = [["ip", "netns", "add", ns] for ns in bed.namespaces]
    commands += [
        ["ip", "link", "add", "name", bed.veth("sg"), "netns", s, "type", "veth"]
        + ["peer", "name", bed.veth("gs"), "netns", g],
        ["ip", "link", "add", "name", bed.veth("gr"), "netns", g, "type", "veth"]
        + ["peer", "name", bed.veth("rg"), "netns", r],
    ]
    for ns, device, address in (
        (s, bed.veth("sg"), bed.sender_address),
        (g, bed.veth("gs"), bed.gateway_sender_side),
        (g, bed.veth("gr"), bed.gateway_receiver_side),
        (r, bed.veth("rg"), bed.receiver_address),
    ):
        commands += [
            ["ip", "-n", ns, "addr", "add", f"{address}/24", "dev", device],
            ["ip", "-n", ns, "link", "set", device, "up"],
        ]
    for ns in bed.namespaces:
        commands.append(["ip", "-n", ns, "link", "set", "lo", "up"])
        # IPv4 only: no link-local IPv6 candidates for ICE to try in vain.
        commands.append(
            [*exec_prefix(ns), "sysctl", "-q", "-e", "-w", "net.ipv6.conf.all.disable_ipv6=1"]
        )
    commands += [
        ["ip", "-n", s, "route", "add", "default", "via", bed.gateway_sender_side],
        ["ip", "-n", r, "route", "add", "default", "via", bed.gateway_receiver_side],
        forwarding_command(bed, on=False),
    ]
    return commands


def forwarding_command(bed: NamespaceBed, *, on: bool) -> list[str]:
    """Turn the gateway host's kernel IPv4 forwarding on or off."""
    value = 1 if on else 0
    return [*exec_prefix(bed.gateway_ns), "sysctl", "-q", "-w", f"net.ipv4.ip_forward={value}"]


def teardown_commands(bed: NamespaceBed) -> list[list[str]]:
    """Deleting a namespace deletes the veth ends in it, and with them their peers."""
    return [["ip", "netns", "delete", ns] for ns in bed.namespaces]


def check_can_build() -> None:
    """Raise NamespaceBedError unless this process can create network namespaces."""
    if os.geteuid() != 0:
        raise NamespaceBedError(
            "the network-layer test bed creates network namespaces and veth pairs, "
            "which needs root (run it as root, e.g. with sudo)"
        )
    for program in ("ip", "sysctl"):
        if shutil.which(program) is None:
            raise NamespaceBedError(
                f"the test bed needs {program!r}: apt-get install iproute2 procps"
            )


def run_command(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise NamespaceBedError(
            f"{' '.join(command)}: {result.stderr.strip() or result.returncode}"
        )


def set_forwarding(bed: NamespaceBed, *, on: bool) -> None:
    run_command(forwarding_command(bed, on=on))


def _existing_namespaces() -> set[str]:
    result = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    return {line.split()[0] for line in result.stdout.splitlines() if line.strip()}


@contextlib.contextmanager
def build(bed: NamespaceBed) -> Iterator[NamespaceBed]:
    """Build ``bed``, yield it, and remove its namespaces whatever happens."""
    check_can_build()
    clash = set(bed.namespaces) & _existing_namespaces()
    if clash:
        raise NamespaceBedError(
            f"namespaces {', '.join(sorted(clash))} exist already (another run, or one "
            f"that was killed): remove them with `ip netns delete NAME` or use another prefix"
        )
    try:
        for command in setup_commands(bed):
            run_command(command)
        yield bed
    finally:
        existing = _existing_namespaces()
        for command in teardown_commands(bed):
            if command[-1] in existing:
                subprocess.run(command, capture_output=True, timeout=30)
