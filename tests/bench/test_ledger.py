"""The chaos bench's loss ledger: pure bookkeeping."""

from __future__ import annotations

from earlgate.bench.ledger import Ledger


def frame(subject: str, p: str, n: int, offset: int | None, epoch: str = "e1") -> dict:
    message: dict = {"type": "publish", "subject": subject, "data": {"p": p, "n": n}}
    if offset is not None:
        message["_offset"] = offset
        message["_epoch"] = epoch
    return message


def test_a_clean_run_has_no_failures() -> None:
    ledger = Ledger()
    sub = ledger.subscriber("all", lambda s: s.startswith("c/"))
    for n in range(5):
        ledger.ack("p0", n, "c/0")
        sub.record(frame("c/0", "p0", n, n + 1))
    assert ledger.failures() == []
    assert ledger.rows()[0] | {} == {
        "subscriber": "all",
        "acked": 5,
        "delivered": 5,
        "lost": 0,
        "duplicated": 0,
        "out_of_order": 0,
        "filtered_by_client": 0,
        "unrecoverable": 0,
    }


def test_loss_duplicates_and_order_are_each_counted() -> None:
    ledger = Ledger()
    sub = ledger.subscriber("one", lambda s: s == "c/0")
    other = ledger.subscriber("other", lambda s: s == "c/1")
    for n in range(4):
        ledger.ack("p0", n, "c/0")
    sub.record(frame("c/0", "p0", 0, 1))
    sub.record(frame("c/0", "p0", 2, 3))
    sub.record(frame("c/0", "p0", 2, 3))  # the same offset again
    sub.record(frame("c/0", "p0", 1, 2))  # below one already got
    row = ledger.rows()[0]
    assert (row["lost"], row["duplicated"], row["out_of_order"]) == (1, 1, 1)
    assert ledger.lost(sub) == [("p0", 3)]
    assert ledger.rows()[1]["acked"] == 0
    assert len(ledger.failures()) == 3 and other.got == set()


def test_a_resent_message_stored_twice_is_not_a_duplicate() -> None:
    ledger = Ledger()
    sub = ledger.subscriber("one", lambda s: True)
    ledger.ack("p0", 0, "c/0")
    sub.record(frame("c/0", "p0", 0, 1))
    sub.record(frame("c/0", "p0", 0, 2))  # sent again after a reconnect: a new offset
    assert ledger.failures() == []


def test_lost_history_must_be_told() -> None:
    ledger = Ledger()
    sub = ledger.subscriber("one", lambda s: True)
    ledger.ack("p0", 0, "c/0")
    assert ledger.failures(expect_unrecoverable=True) == [
        "one: 1 acked messages lost",
        "one: never told recovered=false though history was lost",
    ]
    sub.unrecoverable = 1
    assert ledger.failures(expect_unrecoverable=True) == []
    assert ledger.failures() == ["one: 1 acked messages lost", "one: told recovered=false 1 times"]


def test_offsets_of_a_new_epoch_start_again() -> None:
    ledger = Ledger()
    sub = ledger.subscriber("one", lambda s: True)
    for n in range(2):
        ledger.ack("p0", n, "c/0")
    sub.record(frame("c/0", "p0", 0, 1, "e1"))
    sub.record(frame("c/0", "p0", 1, 1, "e2"))  # the store lost its history: offset 1 again
    assert ledger.failures() == []
