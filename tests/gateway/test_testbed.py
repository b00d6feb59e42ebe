"""The namespace test bed: its command plan (no root needed) and, as root, the real thing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from earlgate.bench.gateway import testbed
from earlgate.bench.gateway.testbed import NamespaceBed
from earlgate.cli import main


def test_names_and_addresses() -> None:
    bed = NamespaceBed(prefix="t1")
    assert bed.namespaces == ("t1-snd", "t1-gw", "t1-rcv")
    assert (bed.sender_address, bed.gateway_sender_side) == ("10.231.1.2", "10.231.1.1")
    assert (bed.gateway_receiver_side, bed.receiver_address) == ("10.231.2.1", "10.231.2.2")
    assert all(len(bed.veth(end)) <= 15 for end in ("sg", "gs", "gr", "rg"))
    assert len(NamespaceBed(prefix="x" * 12).veth("gs")) == 15


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"prefix": ""}, "prefix"),
        ({"prefix": "x" * 13}, "prefix"),
        ({"prefix": "a-b"}, "prefix"),
        ({"sender_net": "10.1"}, "10.1"),
        ({"receiver_net": "10.1.300"}, "10.1.300"),
        ({"sender_net": "10.9.9", "receiver_net": "10.9.9"}, "different"),
    ],
)
def test_bad_beds_are_refused_by_name(kwargs: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        NamespaceBed(**kwargs)


def test_setup_plan_builds_three_hosts_routed_through_the_gateway() -> None:
    bed = NamespaceBed(prefix="t2")
    commands = [" ".join(c) for c in testbed.setup_commands(bed)]
    # Namespaces first, then the links that go into them.
    assert commands[:3] == [f"ip netns add t2-{n}" for n in ("snd", "gw", "rcv")]
    assert commands[3].startswith("ip link add name t2-sg netns t2-snd type veth peer")
    assert "ip -n t2-gw addr add 10.231.1.1/24 dev t2-gs" in commands
    assert "ip -n t2-gw addr add 10.231.2.1/24 dev t2-gr" in commands
    assert "ip -n t2-snd route add default via 10.231.1.1" in commands
    assert "ip -n t2-rcv route add default via 10.231.2.1" in commands
    # Forwarding starts off: nothing crosses unless a layer under test carries it.
    assert commands[-1].endswith("net.ipv4.ip_forward=0")
    assert testbed.forwarding_command(bed, on=True)[:4] == ["ip", "netns", "exec", "t2-gw"]
    assert testbed.teardown_commands(bed) == [["ip", "netns", "delete", n] for n in bed.namespaces]


def test_refuses_to_build_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(testbed.NamespaceBedError, match="needs root"):
        testbed.check_can_build()


def test_bench_refuses_without_root_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SystemExit) as stopped:
        main(["bench", "rtc", "network", "--quick", "--out", str(tmp_path)])
    assert stopped.value.code == 2
    assert "needs root" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--cpus", "0"], "--cpus"),
        (["--cpus", "1,9999"], "9999 not usable"),
        (["--netns-prefix", "bad-name"], "--netns-prefix"),
    ],
)
def test_bench_network_bad_flags_are_named(
    flags: list[str],
    named: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # past the root check, whoever runs this
    with pytest.raises(SystemExit) as stopped:
        main(["bench", "rtc", "network", "--quick", "--out", str(tmp_path), *flags])
    assert stopped.value.code == 2
    assert named in capsys.readouterr().err


def _can_make_namespaces() -> bool:
    if os.geteuid() != 0:
        return False
    probe = f"egprobe{os.getpid()}"  # its own name: test processes probe at once
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode == 0
    if made:
        subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return made


needs_netns = pytest.mark.skipif(
    not _can_make_namespaces(), reason="needs root and network namespaces"
)


@needs_netns
def test_build_routes_only_when_forwarding_is_on_and_removes_everything() -> None:
    bed = NamespaceBed(prefix=f"t{os.getpid()}")

    def reach(host: str) -> bool:
        # A TCP connection attempt: refused (reachable) or timed out (not).
        code = (
            "import socket,sys\ns=socket.socket();s.settimeout(1)\n"
            f"try:\n s.connect(('{host}',9))\nexcept ConnectionRefusedError:\n sys.exit(0)\n"
            "except OSError:\n sys.exit(1)"
        )
        command = [*testbed.exec_prefix(bed.sender_ns), sys.executable, "-c", code]
        return subprocess.run(command, timeout=30).returncode == 0

    with testbed.build(bed):
        assert reach(bed.gateway_sender_side)
        assert not reach(bed.receiver_address)
        testbed.set_forwarding(bed, on=True)
        assert reach(bed.receiver_address)
        with pytest.raises(testbed.NamespaceBedError, match="exist already"):
            with testbed.build(bed):
                pass
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(ns in listed for ns in bed.namespaces)


@needs_netns
def test_bench_rtc_network_quick(tmp_path: Path) -> None:
    prefix = f"q{os.getpid()}"
    result = subprocess.run(
        [sys.executable, "-m", "earlgate", "bench", "rtc", "network", "--quick"]
        + ["--netns-prefix", prefix, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    steps = json.loads((tmp_path / "results.json").read_text())["steps"]
    assert [(s["layer"], s["result"]["peers"]) for s in steps] == [
        ("network", 2),
        ("application", 2),
        ("network", 4),
        ("application", 4),
    ]
    for step in steps:
        r = step["result"]
        assert r["sent"] == r["received"] == r["peers"] * 4 * 3
        # The gateway host's interfaces saw the traffic both ways.
        assert step["inbound"] and min(step["inbound"][1:] or step["inbound"]) > 0
    report = (tmp_path / "report.md").read_text()
    assert "Table 3.3" in report and "Application layer / network layer" in report
    assert (tmp_path / "network.png").stat().st_size > 1000
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in listed
