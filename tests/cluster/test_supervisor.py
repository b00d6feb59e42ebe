"""The supervisor's policy on an injected clock: no processes, no sleeping."""

from __future__ import annotations

import pytest

from earlgate.cluster.supervisor import (
    ChildSpec,
    Kill,
    Policy,
    Reason,
    Start,
    State,
    Supervisor,
    Terminate,
)

POLICY = Policy(heartbeat_timeout=2.0, start_timeout=5.0, backoff_min=0.1, backoff_max=3.2)


def started(names: list[str], heartbeat: bool = True) -> Supervisor:
    """A supervisor whose children all started at t=0 and beat once."""
    supervisor = Supervisor([ChildSpec(n, heartbeat=heartbeat) for n in names], POLICY, 0.0)
    assert supervisor.tick(0.0) == [Start(n) for n in names]
    for pid, name in enumerate(names, 100):
        supervisor.on_started(name, pid, 0.0)
        if heartbeat:
            supervisor.on_heartbeat(name, 0.0)
    return supervisor


def test_children_start_at_once_and_run_after_their_first_heartbeat() -> None:
    supervisor = Supervisor([ChildSpec("w1", heartbeat=True), ChildSpec("redis")], POLICY, 0.0)
    assert supervisor.tick(0.0) == [Start("w1"), Start("redis")]
    assert supervisor.tick(0.0) == []
    supervisor.on_started("w1", 11, 0.0)
    supervisor.on_started("redis", 12, 0.0)
    assert supervisor.state("w1") is State.STARTING
    assert supervisor.state("redis") is State.RUNNING  # no heartbeat: running once started
    supervisor.on_heartbeat("w1", 0.5)
    assert supervisor.state("w1") is State.RUNNING
    assert supervisor.statistics(1.0)["states"]["running"] == 2


def test_a_crashed_child_restarts_after_the_backoff() -> None:
    supervisor = started(["w1"])
    supervisor.on_exit("w1", -9, 1.0)
    assert supervisor.state("w1") is State.BACKOFF
    assert supervisor.next_deadline() == pytest.approx(1.1)
    assert supervisor.tick(1.05) == []
    assert supervisor.tick(1.1) == [Start("w1")]
    supervisor.on_started("w1", 200, 1.1)
    assert supervisor.restarts == {Reason.EXITED: 1, Reason.HEARTBEAT: 0}
    info = supervisor.statistics(1.2)["workers"][0]
    assert info["pid"] == 200 and info["restarts"] == 1 and info["last_exit"] == -9


def test_backoff_doubles_for_quick_crashes_up_to_the_cap() -> None:
    supervisor = started(["w1"])
    now, delays = 0.0, []
    for _ in range(9):
        supervisor.on_exit("w1", 1, now)  # dies the moment it starts
        due = supervisor.next_deadline()
        assert due is not None
        delays.append(round(due - now, 3))
        now = due
        assert supervisor.tick(now) == [Start("w1")]
        supervisor.on_started("w1", 1, now)
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 3.2, 3.2, 3.2]


def test_a_crash_loop_costs_a_start_per_backoff_cap_not_a_spinning_cpu() -> None:
    supervisor = started(["w1"])
    starts, now = 0, 0.0
    while now < 60.0:  # a minute of a child that exits at once, every time
        supervisor.on_exit("w1", 1, now)
        for action in supervisor.tick(now):
            raise AssertionError(f"restarted without a delay: {action}")
        due = supervisor.next_deadline()
        assert due is not None and due > now
        now = due
        assert supervisor.tick(now) == [Start("w1")]
        supervisor.on_started("w1", 1, now)
        starts += 1
    # 6 doubling delays (0.1 ... 3.2 s, 6.3 s), then one start per 3.2 s cap.
    assert starts == 6 + 17
    assert supervisor.restarts[Reason.EXITED] == starts


def test_a_child_that_ran_long_enough_restarts_quickly_again() -> None:
    supervisor = started(["w1"])
    for now in (0.0, 0.1, 0.3):  # three quick crashes: the next delay would be 0.4 s
        supervisor.on_exit("w1", 1, now)
        due = supervisor.next_deadline()
        assert due is not None
        supervisor.tick(due)
        supervisor.on_started("w1", 1, due)
    supervisor.on_heartbeat("w1", 0.8)
    for beat in range(1, 10):
        supervisor.on_heartbeat("w1", 0.8 + beat)
    supervisor.on_exit("w1", 1, 10.0)  # up for more than backoff_max
    assert supervisor.next_deadline() == pytest.approx(10.1)


def test_a_silent_child_is_killed_after_the_heartbeat_timeout_and_replaced() -> None:
    supervisor = started(["w1", "w2"])
    for t in (0.5, 1.0, 1.5, 2.5, 3.0):
        supervisor.on_heartbeat("w2", t)  # w2 keeps beating, w1 stops after t=0
    assert supervisor.tick(1.99) == []
    assert supervisor.next_deadline() == pytest.approx(2.0)
    assert supervisor.tick(2.0) == [Kill("w1", "no heartbeat for 2.0 s")]
    assert supervisor.state("w1") is State.KILLING
    assert supervisor.tick(3.0) == []  # killed once, not again
    supervisor.on_exit("w1", -9, 3.0)
    assert supervisor.tick(3.1) == [Start("w1")]
    supervisor.on_started("w1", 300, 3.1)
    assert supervisor.restarts == {Reason.EXITED: 0, Reason.HEARTBEAT: 1}
    assert supervisor.state("w2") is State.RUNNING


def test_a_child_that_never_beats_is_killed_after_the_start_timeout() -> None:
    supervisor = Supervisor([ChildSpec("w1", heartbeat=True)], POLICY, 0.0)
    supervisor.tick(0.0)
    supervisor.on_started("w1", 1, 0.0)
    assert supervisor.tick(4.9) == []
    assert supervisor.tick(5.0) == [Kill("w1", "no heartbeat for 5.0 s")]


def test_children_without_heartbeats_are_never_killed_for_silence() -> None:
    supervisor = started(["redis"], heartbeat=False)
    assert supervisor.next_deadline() is None
    assert supervisor.tick(1e6) == []


def test_stop_drains_every_child_kills_after_the_grace_and_restarts_none() -> None:
    policy = Policy(heartbeat_timeout=2.0, grace=5.0)
    supervisor = Supervisor([ChildSpec("w1", True), ChildSpec("w2", True)], policy, 0.0)
    supervisor.tick(0.0)
    supervisor.on_started("w1", 1, 0.0)
    supervisor.on_started("w2", 2, 0.0)
    supervisor.stop(1.0)
    assert supervisor.tick(1.0) == [Terminate("w1"), Terminate("w2")]
    supervisor.on_exit("w1", 0, 2.0)  # drained in time
    assert supervisor.state("w1") is State.STOPPED
    assert supervisor.tick(5.9) == []  # neither restarted nor killed for silence
    assert supervisor.tick(6.0) == [Kill("w2", "still running 5 s after it was told to stop")]
    assert not supervisor.done
    supervisor.on_exit("w2", -9, 6.1)
    assert supervisor.done
    assert supervisor.restarts == {Reason.EXITED: 0, Reason.HEARTBEAT: 0}


def test_stop_goes_group_by_group_and_a_second_stop_kills_at_once() -> None:
    specs = [ChildSpec("redis", stop_order=2), ChildSpec("hub", True, 1), ChildSpec("proxy")]
    supervisor = Supervisor(specs, Policy(grace=10.0), 0.0)
    supervisor.tick(0.0)
    for pid, spec in enumerate(specs):
        supervisor.on_started(spec.name, pid, 0.0)
    supervisor.stop(1.0)
    assert supervisor.tick(1.0) == [Terminate("proxy")]
    supervisor.on_exit("proxy", 0, 1.5)
    assert supervisor.tick(1.5) == [Terminate("hub")]
    supervisor.stop(2.0)  # impatient: a second Ctrl-C
    assert supervisor.tick(2.0) == [Kill("hub", "still running 10 s after it was told to stop")]
    supervisor.on_exit("hub", -9, 2.1)
    assert supervisor.tick(2.1) == [Terminate("redis")]
    supervisor.on_exit("redis", 0, 2.2)
    assert supervisor.done


def test_a_child_in_backoff_when_stopping_is_not_started_again() -> None:
    supervisor = started(["w1"])
    supervisor.on_exit("w1", 1, 1.0)
    supervisor.stop(1.05)
    assert supervisor.tick(5.0) == []
    assert supervisor.done


def test_bad_limits_and_names_are_refused() -> None:
    with pytest.raises(ValueError, match="heartbeat timeout must be at least 1 s"):
        Policy(heartbeat_timeout=0.5).validate()
    with pytest.raises(ValueError, match="0 < min <= max"):
        Policy(backoff_min=5.0, backoff_max=1.0).validate()
    with pytest.raises(ValueError, match="unique"):
        Supervisor([ChildSpec("a"), ChildSpec("a")], Policy(), 0.0)
