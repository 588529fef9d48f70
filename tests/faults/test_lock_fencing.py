"""The lock fence, with real processes: a holder that outlived its lock cannot commit a second ticket.

Worker A is frozen (SIGSTOP, as a GC pause or a suspended VM would) while its create is in flight
and Oceane has stored the ticket (the sandbox holds the answer at its ``after_create`` gate). Its
lock lapses (made to lapse now: a frozen holder cannot renew it, so its TTL running out is all
that would happen meanwhile); the sweep hands the request to worker B, which looks the externalId
up and adopts the ticket. Then Oceane's 201 is let go and A wakes with it in hand: the fence (the
lock token stored on the row) refuses its commit, and its release leaves B's state alone.
The unit-level lock and fencing cases are in tests/unit/test_lock.py and test_processing.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import wait_until
from tests.faults.kit import (
    PATIENCE,
    PATIENT,
    Gate,
    alarm_params,
    lapse_lock,
    oceane_calls,
    unacked_creates,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_holder_that_outlived_its_lock_cannot_commit(stack: Any, ledger: Any) -> None:
    book = ledger("lock holder frozen past its TTL; a second worker takes over")
    # A's HTTP timeout never runs out while it is frozen with the answer on its way.
    stack.configure(**PATIENT)
    stack.beat()
    # A counts its Oceane calls: how the test knows A received Oceane's answer.
    a_metrics = stack.workdir / "metrics-a"
    a_metrics.mkdir()
    a = stack.worker(env={"PROMETHEUS_MULTIPROC_DIR": str(a_metrics)})
    gate = Gate(stack.sandbox, "after_create").close()
    instance = book.accept(stack.submit(alarm_params(600)))
    gate.wait_held()  # Oceane stored the ticket; A waits for the answer
    lock = stack.lock(600)  # the alarm's, carrying the row's token (and under global the global one)
    held_by_a = lock.info()
    assert held_by_a is not None and held_by_a.instance == instance
    a.pause()
    try:
        for held in stack.in_call_locks(600):
            lapse_lock(held, instance)
        stack.worker()  # B
        book.finish(timeout=PATIENCE)  # the sweep re-enqueues, B adopts
        taken_over = stack.row(instance)
        assert (taken_over["status"], taken_over["adopted"]) == ("created", True)
        gate.release()  # Oceane's 201 to A, which is still frozen
    finally:
        a.resume()
    # A wakes, reads the 201, is refused its commit and finishes its job (acknowledged).
    wait_until(lambda: oceane_calls(a_metrics, "create") == 1, timeout=PATIENCE, message="A never read the 201")
    wait_until(
        lambda: instance not in unacked_creates(stack.redis),
        timeout=PATIENCE,
        message="worker A never finished its job",
    )
    assert a.proc is not None and a.proc.poll() is None
    done = stack.row(instance)
    # A's commit would have recorded its own create (adopted False) over B's adoption.
    assert (done["status"], done["adopted"], done["lock_token"]) == ("created", True, None)
    assert done["ticket_id"] == stack.sandbox.tickets[0]["id"]
    assert stack.sandbox.state()["create_calls"] == 1
    after = lock.info()
    assert after is None or after.token != held_by_a.token
