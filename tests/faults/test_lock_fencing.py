"""Issue 3, item 6, with real processes: a holder that outlived its lock cannot commit a second ticket.

Worker A is frozen (SIGSTOP, as a GC pause or a suspended VM would) while its create is in flight
and Oceane has stored the ticket. Its lock lapses; the sweep hands the request to worker B, which
looks the externalId up and adopts the ticket. When A wakes with Oceane's 201 in hand, the fence
(the lock token stored on the row) refuses its commit, and its release leaves B's state alone.
The unit-level lock and fencing cases are in tests/unit/test_lock.py and test_processing.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from oceane_ticket.locking import ProcessingLock
from tests.conftest import wait_until
from tests.faults.kit import alarm_params

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_a_holder_that_outlived_its_lock_cannot_commit(stack: Any, ledger: Any) -> None:
    book = ledger("lock holder frozen past its TTL; a second worker takes over")
    stack.beat()
    a = stack.worker()
    stack.sandbox.set_faults(after_create={"mode": "hang", "seconds": 0.6})
    instance = book.accept(stack.submit(alarm_params(600)))
    wait_until(lambda: stack.sandbox.state()["tickets_created"] == 1, timeout=10, interval=0.01)
    a.pause()
    try:
        lock = ProcessingLock(stack.redis, stack.settings.lock_timeout)
        held_by_a = lock.info()
        assert held_by_a is not None and held_by_a.instance == instance
        b = stack.worker()
        book.finish(timeout=40)  # A's lock lapses, the sweep re-enqueues, B adopts
        assert "sweep re-enqueued" in b.log_text()
    finally:
        a.resume()
    a.wait_for_log("lost ownership before recording ticket", timeout=20)
    done = stack.row(instance)
    assert (done["status"], done["adopted"], done["lock_token"]) == ("created", True, None)
    assert done["ticket_id"] == stack.sandbox.tickets[0]["id"]
    assert stack.sandbox.state()["create_calls"] == 1
    assert lock.info() is None or lock.info().token != held_by_a.token
